"""cli/ephemeral.py: the temporary Prefect server dies with its parent, even on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.ephemeral import _healthy, ephemeral_server

ROOT = Path(__file__).resolve().parents[1]

# A CLI stand-in: runs a real flow through the temporary server, reports, then waits to be killed.
PARENT = """
import sys, time
from cli.ephemeral import ephemeral_server
with ephemeral_server() as server:
    from prefect import flow
    from prefect.server.api.server import SubprocessASGIServer

    @flow
    def add(a: int, b: int) -> int:
        return a + b

    result = add(40, 2)
    print(server.pid, server.api_url, result, len(SubprocessASGIServer._instances), flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.2)
    return _gone(pid)


def test_sigkill_of_the_cli_process_ends_its_temporary_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    server_pid = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()  # after the server started and the flow ran
        assert len(line) == 4, f"parent exited with {parent.poll()} before reporting"
        server_pid, api_url, result, prefect_servers = int(line[0]), line[1], line[2], line[3]
        assert result == "42"  # a real flow run went through the server ...
        assert prefect_servers == "0"  # ... ours: Prefect did not start its own
        assert _healthy(api_url) and not _gone(server_pid)

        os.kill(parent.pid, signal.SIGKILL)  # no atexit, no finally: only the kernel is left
        parent.wait(timeout=10)
        assert _wait_gone(server_pid, 30), f"server {server_pid} outlived its SIGKILLed parent"
        assert not _healthy(api_url)
    finally:
        if parent.poll() is None:
            parent.kill()
        if server_pid is not None and not _gone(server_pid):
            os.kill(server_pid, signal.SIGKILL)


# Without prctl (not Linux), the watchdog alone must end the child when the parent dies.
WATCHED = """
import ctypes, os, subprocess, sys, time
if sys.argv[1] == "parent":
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], "child", str(os.getpid())])
    print(child.pid, flush=True)
    time.sleep(600)
else:
    def no_prctl(*args, **kwargs):
        raise OSError("no prctl here")
    ctypes.CDLL = no_prctl
    from cli.ephemeral import _die_with_parent
    _die_with_parent(int(sys.argv[2]))
    time.sleep(600)
"""


def test_watchdog_alone_ends_the_child_when_the_parent_dies() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", WATCHED, "parent", WATCHED], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.0)
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert _wait_gone(child, 15), "watchdog did not end the orphaned child"
    finally:
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_no_server_when_an_api_is_configured(monkeypatch) -> None:
    """The local stack or a Prefect Cloud workspace: ``tradeforge train`` starts nothing."""
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    with ephemeral_server() as server:
        assert server is None
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"  # left as it was


def test_start_server_refuses_other_threads() -> None:
    import threading

    from cli.ephemeral import start_server

    errors: list[Exception] = []

    def run() -> None:
        try:
            start_server(timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])
