"""Does the portfolio agent earn its promotions? The benchmark of issue 27.

Runs the real ``tradeforge train --portfolio ... --json`` on universes whose structure is known
and on universes of pure random walks, then compares what the gate decided with each universe's
causal reference rule and with 1/N on the same test window and costs:

- ``factor_momentum``: 10 assets on a common factor (``r_i = beta_i f + u_i``) whose
  idiosyncratic parts are AR(1) (phi 0.3). Rule: hold (in its 1/N slot) each asset whose last
  return beat the universe's mean return - the cross-sectional structure the agent's context
  features expose. Target: the promoted portfolio makes >= 80% of the rule's net test return
  and beats 1/N.
- ``random_walk``: 5 independent random walks per universe. Target: at most 5% promoted.
- ``--real``: the seven large US stocks of ../shared/data/market (2013-2023, split-adjusted),
  a table against 1/N, inverse volatility, minimum variance and HRP after 10 bp costs (the
  folder holds two TSLA files: the universe reads a temporary folder of links to the seven
  adjusted files; nothing is copied into the repository).

A universe that is not promoted deploys nothing: its "promoted test return" is cash's, 0.

Each universe's row is appended to ``--out`` (JSON lines) as soon as it finishes, so a run cut
short keeps what it measured. A row holds what the gate's ``decide()`` received (``gate_inputs``,
read from the published version's model card), so ``--table FILE --rejudge`` judges the same
trained candidates again with the current code's gate (default ``PromotionConfig``) instead of
re-training: training never reads the gate (each universe's store starts empty, no champion).

    nice -n 10 .venv/bin/python benchmarks/portfolio_suite.py --real --json \\
        --out benchmarks/results/portfolio_suite.jsonl                         # defaults
    nice -n 10 .venv/bin/python benchmarks/portfolio_suite.py --structured 1 --random 3 \\
        -- --steps 2000 --seeds 0                                                # a quick look
    .venv/bin/python benchmarks/portfolio_suite.py --table benchmarks/results/portfolio_suite.jsonl
    .venv/bin/python benchmarks/portfolio_suite.py --table FILE --rejudge      # today's gate
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.learning_suite import write_csv  # noqa: E402
from benchmarks.synthetic import N_BARS, _frame, ar1_returns, random_walk  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "market"
REAL = ("AAPL", "AMZN", "GOOGL", "META", "MSFT", "NVDA", "TSLA")
SHARE_TARGET = 0.8
FALSE_PROMOTION_TARGET = 0.05


def factor_momentum(seed: int, assets: int = 10, n: int = N_BARS) -> dict[str, Any]:
    """Ticker -> frame: a common factor plus per-asset AR(1) idiosyncratic returns."""
    rng = np.random.default_rng([seed, 27])
    factor = rng.normal(0.0003, 0.008, n)
    frames = {}
    for i in range(assets):
        beta = rng.uniform(0.8, 1.2)
        own = ar1_returns(rng, n, phi=0.3, vol=0.01)
        ticker = f"FM{seed}X{i}"
        frames[ticker] = _frame(beta * factor + own, rng, ticker)
    return frames


def walks(seed: int, assets: int = 5) -> dict[str, Any]:
    """Ticker -> frame: independent random walks (nothing to learn)."""
    return {
        f"RW{seed}X{i}": random_walk(1000 * seed + i).assign(ticker=f"RW{seed}X{i}")
        for i in range(assets)
    }


def run_portfolio(source: Path, tickers: list[str], store: Path, extra: list[str]) -> dict:
    """``tradeforge train --portfolio`` as a user runs it; its JSON ``portfolio`` object, with
    ``gate_inputs`` (what the gate received) from the published version's model card."""
    exe = Path(sys.executable).with_name("tradeforge")
    args = [str(exe), "train", "--portfolio", ",".join(tickers), "--source", str(source)]
    args += ["--store", str(store), "--json", *extra]
    env = {**os.environ, "PREFECT_HOME": str(store.parent / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    print(
        f"  {source.name}: {time.monotonic() - started:.0f} s, exit {done.returncode}", flush=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"tradeforge train --portfolio failed (exit {done.returncode})")
    p = json.loads(done.stdout.strip().splitlines()[-1])["portfolio"]
    from storage.objectstore import open_store
    from tradeforge.portfolio.champion import portfolio_registry

    registry = portfolio_registry(open_store(str(store)))
    card = registry.card(p["name"], p["challenger"]["agent"], p["version"])
    return p | {"gate_inputs": card["gate_inputs"], "seconds": time.monotonic() - started}


def rule_test_return(
    frames: dict[str, Any], boundaries: dict[str, str], commission: float
) -> float:
    """The relative-momentum rule's net test return on the run's own test window and costs."""
    from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
    from tradeforge.portfolio.market import prepare_portfolio
    from tradeforge.portfolio.simulator import run_weights

    split = SplitConfig(test_start=boundaries["test_start"], val_start=boundaries["val_start"])
    test = prepare_portfolio(frames, FeatureConfig(), split, window=3).last.test
    t = np.arange(test.start, test.end - 1)
    last = np.log(test.close[t] / test.close[t - 1])
    held = last > last.mean(axis=1, keepdims=True)
    episode = run_weights(held / test.num_assets, test, EnvConfig(commission=commission))
    return float(episode.net_worth[-1] / episode.net_worth[0] - 1.0)


def universe_row(kind: str, seed: int, work: Path, extra: list[str]) -> dict[str, Any]:
    """Write one universe's files, train on them, and compare with the rule and 1/N."""
    frames = factor_momentum(seed) if kind == "factor_momentum" else walks(seed)
    folder = work / f"{kind}-{seed}"
    folder.mkdir()
    for ticker, frame in frames.items():
        write_csv(frame, folder / f"{ticker}.csv")
    p = run_portfolio(folder, list(frames), work / f"store-{kind}-{seed}", extra)
    deployed = p["challenger"]["test"]["total_return"] if p["promoted"] else 0.0
    row = {
        "kind": kind,
        "universe": f"{kind} {seed}",
        "promoted": p["promoted"],
        "promoted_test_return": deployed,
        "challenger": p["challenger"],
        "challenger_test_return": p["challenger"]["test"]["total_return"],
        "equal_weight_test_return": p["baselines"]["equal_weight"]["test"]["total_return"],
        "baselines": {k: v["test"] for k, v in p["baselines"].items()},
        "reason": p["reason"],
        "seconds": round(p["seconds"], 1),
        "gate_inputs": p["gate_inputs"],
    }
    if kind == "factor_momentum":
        row["rule_test_return"] = rule_test_return(frames, p["boundaries"], _commission(extra))
        row["target_met"] = structured_target_met(row)
    return row


def structured_target_met(row: dict[str, Any]) -> bool:
    """The issue's target on a structured universe: promoted, >= 80% of the rule's net test
    return, and above 1/N's."""
    deployed = row["promoted_test_return"]
    return bool(
        row["promoted"]
        and deployed >= SHARE_TARGET * row["rule_test_return"]
        and deployed > row["equal_weight_test_return"]
    )


def _commission(extra: list[str]) -> float:
    for i, arg in enumerate(extra):
        if arg in ("--commission", "--env.commission") and i + 1 < len(extra):
            return float(extra[i + 1])
    return 0.001


def real_row(work: Path, extra: list[str]) -> dict[str, Any]:
    """The seven stocks, through links to their adjusted files (the folder's quirk: two TSLA)."""
    folder = work / "real"
    folder.mkdir()
    for ticker in REAL:
        name = f"{ticker}_2013-2023_yahoo-adjusted.csv"
        (folder / name).symlink_to(SHARED / name)
    p = run_portfolio(folder, list(REAL), work / "store-real", extra)
    return {
        "kind": "real",
        "universe": "real 7 stocks",
        "promoted": p["promoted"],
        "reason": p["reason"],
        "boundaries": p["boundaries"],
        "challenger": p["challenger"],
        "baselines": {k: v["test"] for k, v in p["baselines"].items()},
        "sharpe_difference_vs_equal_weight": p["sharpe_difference_vs_equal_weight"],
        "seconds": round(p["seconds"], 1),
        "gate_inputs": p["gate_inputs"],
    }


def rejudge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the current code's gate (default ``PromotionConfig``) decides on the same
    trained candidates; ``reproduced`` says whether it matches the recorded decision."""
    from tradeforge.config import PromotionConfig
    from tradeforge.portfolio.evaluate import judge

    out = []
    for r in rows:
        d = judge(r["gate_inputs"], PromotionConfig())
        new = r | {
            "promoted": d.promote,
            "reason": d.reason,
            "reproduced": d.promote == r["promoted"],
        }
        if "promoted_test_return" in r:
            new["promoted_test_return"] = r["challenger_test_return"] if d.promote else 0.0
        if "rule_test_return" in r:
            new["target_met"] = structured_target_met(new)
        out.append(new)
    return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file written by ``--out`` (one JSON object per line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(rows: list[dict[str, Any]], train_options: list[str]) -> dict[str, Any]:
    """Print the tables of ``rows`` (universes and the real row) and return the summary."""
    real = next((r for r in rows if r.get("kind") == "real"), None)
    rows = [r for r in rows if r.get("kind") != "real"]
    structured = [r for r in rows if "rule_test_return" in r]
    randoms = [r for r in rows if "rule_test_return" not in r]
    print(f"{'universe':<20} {'promoted':>8} {'deployed':>9} {'agent':>8} {'1/N':>8} {'rule':>8}")
    for r in rows:
        rule = f"{r['rule_test_return']:8.1%}" if "rule_test_return" in r else f"{'-':>8}"
        print(
            f"{r['universe']:<20} {r['promoted']!s:>8} {r['promoted_test_return']:9.1%} "
            f"{r['challenger_test_return']:8.1%} {r['equal_weight_test_return']:8.1%} {rule}"
        )
    false_rate = sum(r["promoted"] for r in randoms) / len(randoms) if randoms else None
    result = {
        "structured_target_met": [r["target_met"] for r in structured],
        "random_promoted_share": false_rate,
        "random_target_met": None if false_rate is None else false_rate <= FALSE_PROMOTION_TARGET,
        "rows": [{k: v for k, v in r.items() if k != "gate_inputs"} for r in rows],
        "real": None if real is None else {k: v for k, v in real.items() if k != "gate_inputs"},
        "train_options": train_options,
    }
    print(f"structured targets met: {sum(result['structured_target_met'])}/{len(structured)}; "
          f"random walks promoted: {false_rate}")  # fmt: skip
    if real:
        print("real 7 stocks (test window, after costs):")
        print(
            f"  challenger {real['challenger']['agent']}: {real['challenger']['test']['total_return']:.1%}"
        )
        for name, metrics in real["baselines"].items():
            print(
                f"  {name:<20} {metrics['total_return']:8.1%}  turnover {metrics['turnover']:.1f}"
            )
        print(f"  promoted: {real['promoted']} ({real['reason']})")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--structured", type=int, default=3, help="factor-momentum universes")
    ap.add_argument("--random", type=int, default=20, help="random-walk universes")
    ap.add_argument("--real", action="store_true", help="also the real seven-stock universe")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    ap.add_argument("--out", type=Path, help="append each universe's row to this JSON-lines file")
    ap.add_argument("--table", type=Path, help="print the tables of a results file and exit")
    ap.add_argument(
        "--rejudge",
        action="store_true",
        help="with --table: the recorded candidates judged by the current code's gate",
    )
    ap.add_argument("extra", nargs="*", help="after --: extra `tradeforge train` options")
    args = ap.parse_args(argv)
    if args.rejudge and args.table is None:
        ap.error("--rejudge: needs --table FILE (the recorded runs to re-judge)")
    if args.table is not None:
        if not args.table.is_file():
            ap.error(f"--table: {args.table} is not a file")
        rows = read_rows(args.table)
        if args.rejudge:
            rows = rejudge(rows)
            same = sum(r["reproduced"] for r in rows)
            print(f"re-judged by the current gate: {same} of {len(rows)} decisions as recorded")
        result = report(rows, [])
    else:
        rows: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="tradeforge-portfolio-suite-") as tmp:
            work = Path(tmp)
            # The real universe before the random walks: a run cut short keeps its table.
            for seed in range(args.structured):
                rows.append(universe_row("factor_momentum", seed, work, args.extra))
                _append(args.out, rows[-1])
            if args.real:
                rows.append(real_row(work, args.extra))
                _append(args.out, rows[-1])
            for seed in range(args.random):
                rows.append(universe_row("random_walk", seed, work, args.extra))
                _append(args.out, rows[-1])
        result = report(rows, args.extra)
    if args.json:
        print(json.dumps(result, default=str))
    return 0


def _append(out: Path | None, row: dict[str, Any]) -> None:
    """Append one row to the JSON-lines results file (if any) as soon as it is measured."""
    if out is not None:
        with out.open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
