"""Fixtures shared by the end-to-end tests: a throw-away Prefect API and the tiny run config."""

from __future__ import annotations

import pytest

# Small enough for seconds of training on 2 cores, large enough for every stage to be real:
# three years of daily GOOGL bars (the demo data), validation and test windows of six months.
TINY = dict(
    start="2014-01-01",
    end="2017-01-01",
    val_start="2016-01-01",
    test_start="2016-07-01",
    steps=300,
    num_envs=4,
    window=5,
)


@pytest.fixture(scope="module")
def prefect_harness(tmp_path_factory):
    """Prefect's test harness with PREFECT_HOME in a temp dir: never touches a user's Prefect."""
    home = tmp_path_factory.mktemp("prefect-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_HOME", str(home))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    mp.undo()
