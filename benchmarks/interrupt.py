"""Seconds from Ctrl-C to exit of a running ``tradeforge train`` (issue 24, drills 1 and 2).

    .venv/bin/python benchmarks/interrupt.py [--how group|pid|both] [--at-step 3000]
                                             [--repeat 1] [--json]

Starts the drill's training (``--source SPY_2010-2017_yahoo.csv --steps 60000 --seeds 0
--agents dqn --folds 1``) in a session of its own, waits until its progress bar passes
``--at-step`` env steps (a training genuinely running), then sends SIGINT to the whole process
group (what a terminal's Ctrl-C does: drill 1) or to the command's PID alone (drill 2), and
prints the exit code and the seconds from the signal to the exit. ``tests/test_drills.py`` runs
the same function and checks what the run left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"
SPY = ROOT.parent / "shared" / "data" / "market" / "SPY_2010-2017_yahoo.csv"
DRILL = [
    "--source",
    str(SPY),
    "--steps",
    "60000",
    "--seeds",
    "0",
    "--agents",
    "dqn",
    "--folds",
    "1",
]
#: The progress bar's "done/total" of the drill's one training.
PROGRESS = re.compile(r"dqn seed 0: +\d+%\|[^|]*\| (\d+)/60000")


@dataclass
class Interruption:
    """What one interrupted training did."""

    how: str
    exit_code: int
    seconds_to_exit: float
    """From the signal to the command's exit."""
    step_at_signal: int
    """The progress bar's env step when the signal was sent."""
    last_line: str
    """The command's last stderr line."""
    stderr: str


def interrupt_training(
    how: str,
    store: Path,
    work_dir: Path,
    *,
    at_step: int = 3000,
    start_timeout: float = 300.0,
    env: dict[str, str] | None = None,
) -> Interruption:
    """Run the drill's training, SIGINT it (``how``: ``group`` or ``pid``) once its progress
    passes ``at_step``, and wait for it to exit."""
    argv = [str(TRADEFORGE), "train", *DRILL, "--store", str(store)]
    argv += ["--run.work_dir", str(work_dir)]
    err_path = Path(tempfile.mkstemp(prefix="tradeforge-interrupt-", suffix=".err")[1])
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True
        )
        started = time.monotonic()
        step = 0
        while step < at_step:
            if proc.poll() is not None or time.monotonic() - started > start_timeout:
                proc.kill()
                raise RuntimeError(
                    f"the training did not reach step {at_step} (exit {proc.poll()}): "
                    + err_path.read_text()[-3000:]
                )
            time.sleep(0.2)
            found = PROGRESS.findall(err_path.read_text())
            step = int(found[-1]) if found else 0
        signalled = time.monotonic()
        if how == "group":
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        else:
            os.kill(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        seconds = time.monotonic() - signalled
    stderr = err_path.read_text()
    err_path.unlink()
    last = stderr.replace("\r", "\n").strip().splitlines()[-1] if stderr.strip() else ""
    return Interruption(how, code, round(seconds, 2), step, last, stderr)


def main() -> None:
    """Print the seconds from SIGINT to exit for the group and the PID drill."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--how", choices=("group", "pid", "both"), default="both")
    parser.add_argument("--at-step", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each drill.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    hows = ("group", "pid") if args.how == "both" else (args.how,)
    for how in [h for h in hows for _ in range(args.repeat)]:
        with tempfile.TemporaryDirectory(prefix="tradeforge-interrupt-") as tmp:
            env = {**os.environ, "PREFECT_HOME": str(Path(tmp) / "prefect")}
            got = interrupt_training(
                how, Path(tmp) / "store", Path(tmp) / "runs", at_step=args.at_step, env=env
            )
        row = {k: v for k, v in asdict(got).items() if k != "stderr"}
        rows.append(row)
        print(
            f"SIGINT to the {how} at step {got.step_at_signal}: exit {got.exit_code} after "
            f"{got.seconds_to_exit:.2f} s; {got.last_line}",
            flush=True,
        )
    for how in hows:
        seconds = sorted(r["seconds_to_exit"] for r in rows if r["how"] == how)
        print(f"{how}: {len(seconds)} run(s), seconds from SIGINT to exit {seconds}")
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
