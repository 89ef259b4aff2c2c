"""How long does one paper run take for N tickers from local files? (issue 25: 10 tickers, <= 10 s)

Publishes N rule champions (``tests/paper/helpers.publish_rule``: hand-set TensorFlow-free
policies) on copies of the SPY file named ``T0.csv`` .. ``T{N-1}.csv``, runs the ``paper`` flow
once to start the ledgers, adds one bar to every file and times the second run: ingest, the
great-expectations contract, decision, ledger and monitor for each ticker. The Prefect API is
whatever ``PREFECT_API_URL`` points at (a running server), else a temporary one.

Usage::

    .venv/bin/python benchmarks/paper_flow.py --tickers 10 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Time the second paper run over ``--tickers`` tickers; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from flows.paper import paper_pipeline
    from tests.paper.helpers import publish_rule, spy_frame, write_source

    frame = spy_frame()
    work = Path(tempfile.mkdtemp(prefix="paper-flow-"))
    store = str(work / "store")
    names = [f"T{i}" for i in range(args.tickers)]
    for name in names:
        mine = frame.assign(ticker=name)
        publish_rule(store, mine, write_source(mine, work / f"{name}.csv", 1500), "momentum")
    first = time.perf_counter()
    paper_pipeline(tickers=names, store=store)
    first = time.perf_counter() - first
    for name in names:
        write_source(frame.assign(ticker=name), work / f"{name}.csv", 1501)
    began = time.perf_counter()
    out = paper_pipeline(tickers=names, store=store)
    seconds = time.perf_counter() - began
    assert all(v["recorded"] == 1 for v in out.values())
    result = {
        "tickers": args.tickers,
        "first_run_s": round(first, 2),
        "second_run_s": round(seconds, 2),
        "per_ticker_s": round(seconds / args.tickers, 3),
        "target_s": 10.0,
    }
    print(
        f"{args.tickers} tickers: first run {first:.1f} s, next bar {seconds:.1f} s (target <= 10 s)"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
