"""A real Dask cluster of separate processes on loopback: one scheduler, N single-threaded workers.

What a multi-machine deployment runs (``dask scheduler`` on one host, ``dask worker`` on each of
the others), here on 127.0.0.1 for the end-to-end test and ``benchmarks/scale.py``. Only Dask's
own command line is used; nothing here schedules work. Workers inherit ``env`` (the Prefect API
URL and auth string, the store's credentials), as a remote worker's environment would hold them.

    with process_cluster(2, env={"PREFECT_API_URL": url}) as address:
        train_pipeline.with_options(task_runner=DaskTaskRunner(address=address))(...)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


class ClusterError(RuntimeError):
    """The scheduler or a worker did not start (its log's tail is in the message)."""


@contextmanager
def process_cluster(
    n_workers: int,
    *,
    env: dict[str, str] | None = None,
    memory_limit: str = "4GiB",
    timeout: float = 120.0,
) -> Iterator[str]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (one thread each) on
    127.0.0.1; yield the scheduler's address once every worker has registered; stop them all."""
    if n_workers < 1:
        raise ValueError(f"n_workers={n_workers}: a cluster needs at least one worker")
    environ = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="tradeforge-dask-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        scheduler_file = folder / "scheduler.json"
        common = ["--no-dashboard", "--host", "127.0.0.1"]
        stack.enter_context(
            _process(
                [
                    DASK,
                    "scheduler",
                    "--port",
                    "0",
                    "--scheduler-file",
                    str(scheduler_file),
                    *common,
                ],
                folder / "scheduler.log",
                environ,
            )
        )
        address = _wait_for_address(scheduler_file, folder / "scheduler.log", timeout)
        for i in range(n_workers):
            stack.enter_context(
                _process(
                    [
                        DASK,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--name",
                        f"worker-{i}",
                        "--memory-limit",
                        memory_limit,
                        "--no-nanny",
                        *common,
                    ],
                    folder / f"worker-{i}.log",
                    environ,
                )
            )
        _wait_for_workers(address, n_workers, timeout, folder)
        yield address


@contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_address(scheduler_file: Path, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scheduler_file.is_file():
            try:
                return json.loads(scheduler_file.read_text())["address"]
            except (ValueError, KeyError):
                pass  # written but not complete yet
        time.sleep(0.2)
    raise ClusterError(f"dask scheduler did not start in {timeout:.0f} s: {_tail(log)}")


def _wait_for_workers(address: str, n: int, timeout: float, folder: Path) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        try:
            client.wait_for_workers(n, timeout=timeout)
        except TimeoutError as exc:
            logs = " | ".join(_tail(p) for p in sorted(folder.glob("worker-*.log")))
            raise ClusterError(f"{n} dask worker(s) did not register: {logs}") from exc


def _tail(path: Path, chars: int = 600) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no log)"
