"""How long does one paper run take for N tickers from local files? (issue 25: 10 tickers, <= 10 s)

Publishes N rule champions (``tests/paper/helpers.publish_rule``: hand-set TensorFlow-free
policies) on copies of the SPY file named ``T0.csv`` .. ``T{N-1}.csv``, runs the ``paper`` flow
once to start the ledgers, adds one bar to every file and times the second run: ingest, the
great-expectations contract, decision, ledger and monitor for each ticker. The Prefect API is
whatever ``PREFECT_API_URL`` points at (a running server), else a temporary one.

``--monitored`` gives every champion's card a validation record (500 returns like SPY's), so
the monitor's bootstrap runs for each ticker (without it the cards carry none: "unmonitored");
``--catch-up N`` times a run that catches up N bars per ticker (a worker down for N days), the
monitor judging after each of them.

Reference: one more bar recorded for the same tickers in this process by ``tradeforge paper``'s
own loop (``tradeforge.paper.run.paper_ticker``: read, decide, record, monitor; no Prefect, no
great-expectations run). The ratio flow / reference is what orchestration and the data contract
cost on top of the paper loop itself; on a loaded machine both times grow, the ratio much less.

Usage::

    .venv/bin/python benchmarks/paper_flow.py --tickers 10 --json
    .venv/bin/python benchmarks/paper_flow.py --monitored --catch-up 20 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Time the second paper run over ``--tickers`` tickers; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=10)
    parser.add_argument("--monitored", action="store_true", help="Cards with a validation record.")
    parser.add_argument("--catch-up", type=int, default=1, help="Bars per ticker in the timed run.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.catch_up < 1:
        parser.error(f"--catch-up {args.catch_up}: at least 1 bar")
    import numpy as np

    from flows.paper import paper_pipeline
    from tests.paper.helpers import publish_rule, spy_frame, write_source

    frame = spy_frame()
    work = Path(tempfile.mkdtemp(prefix="paper-flow-"))
    store = str(work / "store")
    names = [f"T{i}" for i in range(args.tickers)]
    for i, name in enumerate(names):
        mine = frame.assign(ticker=name)
        source = write_source(mine, work / f"{name}.csv", 1500)
        # A record like SPY's own (mean 0.03%, sd 1% a bar: the momentum rule is not demoted),
        # each champion its own, as in a real store (the monitor's bootstrap is per record).
        validation = np.random.default_rng(i).normal(0.0003, 0.01, 500).tolist()
        publish_rule(
            store, mine, source, "momentum", validation=validation if args.monitored else None
        )
    first = time.perf_counter()
    paper_pipeline(tickers=names, store=store)
    first = time.perf_counter() - first
    for name in names:
        write_source(frame.assign(ticker=name), work / f"{name}.csv", 1500 + args.catch_up)
    _new_process()
    began = time.perf_counter()
    out = paper_pipeline(tickers=names, store=store)
    seconds = time.perf_counter() - began
    assert all(v["recorded"] == args.catch_up for v in out.values()), out
    statuses = sorted({v["monitor"]["status"] for v in out.values()})
    reference = _reference_run(frame, work, store, names, 1500 + args.catch_up + 1)
    result = {
        "tickers": args.tickers,
        "monitored": args.monitored,
        "catch_up_bars": args.catch_up,
        "monitor_statuses": statuses,
        "first_run_s": round(first, 2),
        "second_run_s": round(seconds, 2),
        "per_ticker_s": round(seconds / args.tickers, 3),
        "target_s": 10.0,
        "reference_s": round(reference, 2),
        "ratio_to_reference": round(seconds / reference, 2),
    }
    print(
        f"{args.tickers} tickers ({'monitored' if args.monitored else 'unmonitored'}: "
        f"{', '.join(statuses)}): first run {first:.1f} s, next {args.catch_up} bar(s) "
        f"{seconds:.1f} s (target <= 10 s for one)"
        f" = {seconds / reference:.1f} x the in-process paper loop ({reference:.2f} s)"
    )
    if args.json:
        print(json.dumps(result))
    return 0


def _new_process() -> None:
    """Forget the bootstrap references the first run built: a worker runs each flow run in a
    process of its own, so the timed run must build its own (one per champion)."""
    from tradeforge.paper import monitor

    getattr(monitor, "_REFERENCES", {}).clear()  # absent before the references were kept


def _reference_run(frame: Any, work: Path, store: str, names: list[str], bars: int) -> float:
    """Seconds to record one more bar of every ticker with ``tradeforge paper``'s loop."""
    from tests.paper.helpers import write_source
    from tradeforge.paper.run import paper_ticker

    for name in names:
        write_source(frame.assign(ticker=name), work / f"{name}.csv", bars)
    _new_process()
    began = time.perf_counter()
    for name in names:
        assert paper_ticker(name, store)["recorded"] == 1
    return time.perf_counter() - began


if __name__ == "__main__":
    raise SystemExit(main())
