"""Thirty runs of the ``paper/daily`` deployment on the real stack, each over one more bar.

Runs the e2e test ``tests/e2e/test_stack.py::test_paper_deployment_over_a_growing_feed_demotes_only_the_broken_market``
(its stack fixture: a Prefect server, a process worker, SeaweedFS, ``prefect deploy --all``)
with ``TRADEFORGE_PAPER_E2E_RUNS=30``: two S3 feeds grow by one bar before each run; the
stable market's champion must be recorded on every bar and never demoted, the broken market's
demoted (with the event on the server) and recorded no more. The CI test runs the same scenario
in three runs (0, 24, then 1 new bar). Writes ``benchmarks/results/paper_stack.json`` and
copies the UI screenshot of the last run's cone artifact to ``docs/images/paper_cone.png``.

Usage::

    .venv/bin/python benchmarks/paper_stack.py --runs 30 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TEST = (
    "tests/e2e/test_stack.py::"
    "test_paper_deployment_over_a_growing_feed_demotes_only_the_broken_market"
)


def main(argv: list[str] | None = None) -> int:
    """Run the scenario, print the per-run table and (``--json``) the summary last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error(f"--runs {args.runs}: at least 2 (the first run only starts the ledgers)")
    result = Path(tempfile.mkdtemp(prefix="paper-stack-")) / "result.json"
    env = os.environ | {
        "TRADEFORGE_PAPER_E2E_RUNS": str(args.runs),
        "TRADEFORGE_PAPER_E2E_RESULT": str(result),
    }
    began = time.perf_counter()
    pytest = [str(ROOT / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-q", TEST]
    done = subprocess.run(pytest, cwd=ROOT, env=env, check=False)
    if done.returncode != 0 or not result.exists():
        print(f"the scenario failed (pytest exit {done.returncode})", file=sys.stderr)
        return 1
    out = json.loads(result.read_text()) | {"wall_s": round(time.perf_counter() - began, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        out.pop("screenshot"), RESULTS.parents[1] / "docs" / "images" / "paper_cone.png"
    )
    (RESULTS / "paper_stack.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'run':>3} {'bars':>5} {'s':>6} {'flow s':>7}  records  BRKN champion")
    for i, r in enumerate(out["runs"], 1):
        print(
            f"{i:>3} {r['bars']:>5} {r['seconds']:>6} {r['flow_seconds']:>7.1f}  "
            f"{r['records']}  {r['brkn_champion'] or 'demoted'}"
        )
    seconds = sorted(r["seconds"] for r in out["runs"])
    summary = {
        "runs": len(out["runs"]),
        "stbl_demoted": out["stbl_demoted"],
        "brkn_demoted_on_run": out["brkn_demoted_on_run"],
        "brkn_live_returns_at_demotion": out["brkn_live_returns_at_demotion"],
        "median_run_s": seconds[len(seconds) // 2],
        "wall_s": out["wall_s"],
    }
    print(
        f"{summary['runs']} runs: STBL never demoted; BRKN demoted on run "
        f"{summary['brkn_demoted_on_run']} ({summary['brkn_live_returns_at_demotion']} live "
        f"returns, the break after {out['brkn_break_after_live_bars']}); median run "
        f"{summary['median_run_s']} s"
    )
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
