"""Soak test of the training fan-out: the same multi-candidate run, repeated, counting crashes.

Issue 14 saw one run of 3 tickers x 2 agents x 3 seeds (thread runner) die with SIGSEGV and
leave its temporary Prefect server behind. The cause addressed: TensorFlow / Keras model
building and tracing from several worker threads at once (Keras' global state is not
thread-safe); trainings in one process now take a process-wide lock
(``tradeforge.agents.api``), and the CLI's temporary Prefect server dies with the CLI.

Each repetition runs the real ``tradeforge train`` on three real files with tiny trainings and
records the exit code (a negative code is the signal that killed it) and any Prefect server
process left behind afterwards. Zero crashes and zero orphans wanted.

    .venv/bin/python benchmarks/soak_fanout.py --runs 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "market"
FILES = {
    "SPY": "SPY_2010-2017_yahoo.csv",
    "AAPL": "AAPL_2013-2023_yahoo-adjusted.csv",
    "MSFT": "MSFT_2013-2023_yahoo-adjusted.csv",
}


def _servers() -> set[int]:
    """PIDs of Prefect API servers (ours or Prefect's own temporary ones) now running."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    pids = set()
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if ("uvicorn" in args and "prefect" in args) or "cli.ephemeral" in args:
            pids.add(int(pid))
    return pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("tradeforge")
    before = _servers()
    results = []
    with tempfile.TemporaryDirectory(prefix="tradeforge-soak-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for ticker, name in FILES.items():
            shutil.copy(SHARED / name, data / f"{ticker}.csv")
        for i in range(args.runs):
            env = {**os.environ, "PREFECT_HOME": str(Path(tmp) / f"home-{i}")}
            env.pop("PREFECT_API_URL", None)
            cmd = [
                str(exe), "train", "--source", str(data), "--tickers", ",".join(FILES),
                "--agents", "dqn,parallel_dqn", "--seeds", args.seeds, "--steps", str(args.steps),
                "--folds", "1", "--start", "2013-01-01", "--end", "2017-01-01",
                "--store", str(Path(tmp) / f"store-{i}"), "--json",
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            seconds = time.monotonic() - started
            time.sleep(2)
            orphans = sorted(_servers() - before)
            code = done.returncode
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
            results.append({"run": i + 1, "code": code, "seconds": seconds, "orphans": orphans})
            print(f"run {i + 1}/{args.runs}: {how} in {seconds:.0f} s; servers left: {orphans}")
            if code != 0:
                print(done.stderr[-1500:])
            for pid in orphans:  # do not let one orphan count again in the next run
                os.kill(pid, signal.SIGKILL)
    crashes = sum(r["code"] < 0 for r in results)
    failures = sum(r["code"] > 0 for r in results)
    orphaned = sum(bool(r["orphans"]) for r in results)
    print(f"\n{args.runs} runs: {crashes} crashed, {failures} failed, {orphaned} left a server")
    if args.json:
        print(json.dumps({"runs": results, "crashes": crashes, "failures": failures,
                          "orphaned": orphaned}))  # fmt: skip


if __name__ == "__main__":
    main()
