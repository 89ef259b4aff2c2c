"""A temporary Prefect server that dies with the CLI process, even on SIGKILL.

Without ``PREFECT_API_URL`` Prefect starts its own temporary server
(``prefect.server.api.server.SubprocessASGIServer``): ``python -m uvicorn ...`` in a plain
``subprocess.Popen``, stopped by an ``atexit`` handler. SIGKILL (or a SIGSEGV, or the OOM killer)
skips ``atexit``, so the server outlived ``tradeforge train`` for minutes (issue 14).

:func:`ephemeral_server` starts the same server (same app factory, same environment flags)
*before* Prefect would, as a child of ours that cannot outlive us:

- Linux: the child asks the kernel for ``PR_SET_PDEATHSIG`` (SIGTERM when its parent dies), via
  ``prctl`` through ctypes, then checks its parent did not die before that took effect;
- everywhere: a watchdog thread in the child polls ``getppid()`` and ends the server when the
  parent is gone (covers systems without prctl).

It then points ``PREFECT_API_URL`` at it, so Prefect uses it instead of starting its own. On a
normal exit (including Ctrl-C) the context manager stops it. It runs in a session of its own,
so a terminal's Ctrl-C reaches the CLI (which stops the run cleanly), not the server. With
``PREFECT_API_URL`` already set (the local stack, a Prefect Cloud workspace) it does nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
#: Seconds between the watchdog's looks at the parent.
WATCH_INTERVAL_S = 0.5
PR_SET_PDEATHSIG = 1


class EphemeralServerError(RuntimeError):
    """The temporary server did not answer; the message carries its exit code and output."""


@dataclass
class EphemeralServer:
    """One running temporary server (a child process of this one)."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api``."""
        return f"http://{HOST}:{self.port}/api"

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.process.pid

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the server answers ``/health``; :class:`EphemeralServerError` (and the
        server stopped) if it exits or stays silent for ``timeout`` seconds (default
        ``$PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``, else 120)."""
        wait = timeout or float(
            os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 120)
        )
        process, port = self.process, self.port
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise EphemeralServerError(
                    f"temporary Prefect server on port {port} exited with code "
                    f"{process.returncode}: {output[-2000:]}"
                )
            if _healthy(self.api_url):
                _drain(process)
                return
            time.sleep(0.2)
        self.stop()
        raise EphemeralServerError(
            f"temporary Prefect server on port {port} not answering after {wait:g} s "
            "(raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a busy machine)"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; waits for the process."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(timeout: float | None = None) -> EphemeralServer:
    """Start the server as a child that dies with this process; wait until it answers.

    ``timeout`` defaults to ``$PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (else 120 s).
    Must be called from the main thread: Linux sends the death signal when the *thread* that
    started the child ends.
    """
    server = launch_server()
    server.wait_ready(timeout)
    return server


def launch_server() -> EphemeralServer:
    """Start the server as a child that dies with this process, without waiting for it: it
    boots (about as long as importing the flow takes) while the caller does other work, then
    :meth:`EphemeralServer.wait_ready` (issue 26). Main thread only, as :func:`start_server`."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start_server() must run in the main thread (PR_SET_PDEATHSIG)")
    port = _free_port()
    # Prefect creates its home (and the SQLite database in it) only when it starts its own
    # server; ours must too, or a fresh PREFECT_HOME fails with "unable to open database file".
    Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser().mkdir(
        parents=True, exist_ok=True
    )
    env = {
        **os.environ,
        # The flags Prefect's own temporary server runs with (no UI, ephemeral mode).
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        # A temporary server of one run: no usage telemetry (it also fails without internet).
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    args = [
        sys.executable,
        "-m",
        "cli.ephemeral",
        "--port",
        str(port),
        "--parent",
        str(os.getpid()),
    ]
    # Its own session: a terminal's Ctrl-C (SIGINT to the whole foreground process group)
    # must not kill the API under a run that is stopping cleanly (issue 24); it still dies
    # with us (PR_SET_PDEATHSIG, the watchdog) and is stopped by the context manager.
    process = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return EphemeralServer(process, port)


def _drain(process: subprocess.Popen[bytes]) -> None:
    """Keep reading the server's output so a full pipe never blocks it (errors only)."""

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(line.decode(errors="replace"))

    threading.Thread(target=pump, name="ephemeral-server-output", daemon=True).start()


@contextlib.contextmanager
def ephemeral_server(
    timeout: float | None = None, *, server: EphemeralServer | None = None
) -> Iterator[EphemeralServer | None]:
    """Run the body against a temporary server that cannot outlive this process: ``server``,
    launched earlier by :func:`launched_server`, or one started now.

    Yields None (and starts nothing) when ``PREFECT_API_URL`` is already set.
    """
    if server is None and os.environ.get("PREFECT_API_URL"):
        yield None
        return
    if server is None:
        server = launch_server()
    try:
        server.wait_ready(timeout)
        os.environ["PREFECT_API_URL"] = server.api_url
        with _prefect_settings(server.api_url):
            try:
                yield server
            finally:
                _flush_prefect_logs()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def prefect_api_configured() -> bool:
    """True when runs already go to a Prefect API: ``PREFECT_API_URL`` in the environment, or
    in the settings of an imported Prefect (``prefect_test_harness``, ``temporary_settings``)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect" not in sys.modules:
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


@contextlib.contextmanager
def launched_server() -> Iterator[EphemeralServer | None]:
    """A temporary server booting in the background for the body, stopped when it ends (also
    on an error or Ctrl-C before it was used); pass it to :func:`ephemeral_server`. None when
    ``PREFECT_API_URL`` is already set (a running server is reused)."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server = launch_server()
    try:
        yield server
    finally:
        server.stop()


def _flush_prefect_logs() -> None:
    """Send the run's last log lines before the server goes (else Prefect prints "Error
    logging to API" at exit). Best effort: a flush that fails must not hide the run's result."""
    if "prefect" not in sys.modules:
        return
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=5)
    except Exception as exc:  # the run's own outcome matters more than its last log lines
        print(
            f"warning: could not flush the run's logs to the temporary server: {exc}",
            file=sys.stderr,
        )


@contextlib.contextmanager
def _prefect_settings(api_url: str) -> Iterator[None]:
    """Prefect reads its settings when imported: if it already is, update them in place."""
    if "prefect" not in sys.modules:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield


# -- in the server process ----------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this process when its parent dies; watch the parent as well."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down on SIGTERM
        time.sleep(10)
        os._exit(1)  # it did not: leave anyway

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _serve(port: int, parent: int) -> None:
    """The server process: Prefect's API app under uvicorn, tied to ``parent``."""
    _die_with_parent(parent)
    import uvicorn

    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host=HOST,
        port=port,
        log_level="error",
        lifespan="on",
    )


def main() -> None:
    """``python -m cli.ephemeral --port N --parent PID`` (started by :func:`start_server`)."""
    parser = argparse.ArgumentParser(description="temporary Prefect server tied to a parent")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    _serve(args.port, args.parent)


if __name__ == "__main__":
    main()
