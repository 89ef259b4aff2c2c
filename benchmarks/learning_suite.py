"""Does the product earn its promotions? The learning benchmark of issue 12.

Runs the real ``tradeforge train`` command, with default settings, on seeded synthetic markets
whose structure is known (``benchmarks/synthetic.py``) and on pure random walks, then compares
what got promoted with each market's simple causal reference rule on the same test window and
costs:

- structured markets (regimes, momentum, mean reversion): target - the promoted model earns at
  least 80% of its reference rule's test return, and more than buy-and-hold and cash;
- random walks: target - the gate promotes in at most 5% of them (nothing can be learned).

With ``--real`` it also runs the real vendor files of ../shared/data/market (SPY, AAPL, MSFT,
BTC-USD daily) walk-forward and reports agents against the baselines (not asserted).

Usage::

    .venv/bin/python benchmarks/learning_suite.py                 # 3 structured + 20 random walks
    .venv/bin/python benchmarks/learning_suite.py --random-walks 5 --json
    .venv/bin/python benchmarks/learning_suite.py --paths 3 --random-walks 0   # 9 structured paths
    .venv/bin/python benchmarks/learning_suite.py --paths 0                    # random walks only
    .venv/bin/python benchmarks/learning_suite.py --real --skip-synthetic
    .venv/bin/python benchmarks/learning_suite.py -- --steps 40000   # extra `train` options

A market that is not promoted deploys nothing: its "promoted test return" is cash's, 0.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "market"
REAL_FILES = {
    "SPY": "SPY_2010-2017_yahoo.csv",
    "AAPL": "AAPL_2013-2023_yahoo-adjusted.csv",
    "MSFT": "MSFT_2013-2023_yahoo-adjusted.csv",
    "BTC-USD": "BTCUSD_2014-2019_coinbase-daily_cdd.csv",
}
STRUCTURED_TICKERS = {"regimes": "REGIMES", "momentum": "MOMENTUM", "mean_reversion": "MEANREV"}
SHARE_TARGET = 0.8
FALSE_PROMOTION_TARGET = 0.05


def structured_target_met(
    promoted: bool, promoted_return: float, rule: float, buy_and_hold: float, cash: float
) -> bool:
    """The issue's target on a structured market: something was promoted, and it earned at least
    80% of the reference rule's test return and more than buy-and-hold and cash.

    A rule that lost money on the test window sets no bar above cash's: beating cash (> 0) then
    already exceeds 80% of the rule's loss.
    """
    return (
        promoted
        and promoted_return >= SHARE_TARGET * rule
        and promoted_return > max(buy_and_hold, cash)
    )


def write_csv(frame: Any, path: Path) -> None:
    """A synthetic frame as a Yahoo-style CSV (``Date`` column), the way a user's file looks."""
    out = frame.drop(columns=["ticker"]).rename(columns={"timestamp": "Date"})
    out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)


def run_train(
    source: Path, tickers: list[str], store: Path, extra: list[str], keep: Path | None = None
) -> dict[str, Any]:
    """``tradeforge train`` as a user runs it; returns its JSON summary (fails loudly).

    With ``keep`` (``--keep DIR``) the whole summary (every candidate, fold and baseline) is also written
    to ``DIR/<store name>.json``, for checking a row's numbers beyond the printed table."""
    exe = Path(sys.executable).with_name("tradeforge")
    args = [str(exe), "train", "--source", str(source), "--tickers", ",".join(tickers)]
    args += ["--store", str(store), "--json", *extra]
    env = {**os.environ, "PREFECT_HOME": str(store.parent / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    started = time.monotonic()
    print(
        f"$ tradeforge train --source {source.name} --tickers {','.join(tickers)} ...", flush=True
    )
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    print(f"  {time.monotonic() - started:.0f} s, exit {done.returncode}", flush=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"tradeforge train failed (exit {done.returncode})")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{store.name}.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def rule_figures(
    frame: Any, market_name: str, boundaries: dict[str, str], positions: Any = None
) -> dict[str, Any]:
    """The reference rule on the run's bars, after the same costs and fills: its test return,
    and the rule judged like a challenger - its pooled validation Sharpe over the run's
    walk-forward folds and whether the same gate (one trial: the rule is not searched) would
    promote it. A rule the gate would refuse leaves an agent little room on that market.

    ``positions`` are the rule's positions on ``frame`` (default: ``market_name``'s study
    rule); buy-and-hold's pooled validation returns come back too."""
    import numpy as np

    from benchmarks.synthetic import MARKETS, rule_actions
    from tradeforge.config import EnvConfig, FeatureConfig, PromotionConfig, SplitConfig
    from tradeforge.evaluation import evaluate
    from tradeforge.evaluation.baselines import buy_and_hold_actions
    from tradeforge.evaluation.significance import moments
    from tradeforge.features import prepare
    from tradeforge.promotion.gate import decide

    env = EnvConfig()
    split = SplitConfig(test_start=boundaries["test_start"])
    prep = prepare(frame, FeatureConfig(), split, env.window)
    if positions is None:
        positions = MARKETS[market_name].rule(frame)
    test = evaluate(rule_actions(positions, frame, prep.test), prep.test, env, periods_per_year=252)
    rule, hold = [], []
    for fold in prep.folds:
        for out, actions in (
            (rule, rule_actions(positions, frame, fold.val)),
            (hold, buy_and_hold_actions(fold.val)),
        ):
            out.extend(evaluate(actions, fold.val, env, periods_per_year=252).episode.returns)
    r = np.asarray(rule)
    sharpe = moments(r).sharpe * np.sqrt(252)
    benchmarks = {"cash": np.zeros_like(r), "buy_and_hold": np.asarray(hold)}
    decision = decide(r, benchmarks, [sharpe], 0.0, PromotionConfig(), 252)
    return {
        "rule_test_return": float(test.metrics["total_return"]),
        "rule_val_sharpe": float(sharpe),
        "rule_passes_gate": decision.promote,
        "buy_and_hold_val_returns": [float(x) for x in hold],
    }


def synthetic_rows(
    work: Path,
    random_walks: int,
    seed: int,
    extra: list[str],
    paths: int = 1,
    keep: Path | None = None,
) -> list[dict]:
    """Train once on every market; one row per market.

    Each structured generator runs with seeds ``seed .. seed + paths - 1`` (one path each: the
    first keeps the plain ticker, e.g. ``REGIMES``, the others carry their seed, ``REGIMES-1``);
    random walk ``i`` uses seed ``seed + i``.
    """
    from benchmarks.synthetic import STRUCTURED, make
    from tradeforge.report import candidate_label

    folder = work / "markets"
    folder.mkdir()
    frames, kinds = {}, {}
    for path in range(seed, seed + paths):
        for name in STRUCTURED:
            ticker = STRUCTURED_TICKERS[name] + ("" if path == seed else f"-{path}")
            frames[ticker], kinds[ticker] = make(name, path).assign(ticker=ticker), name
    for i in range(random_walks):
        ticker = f"RW{i:02d}"
        frames[ticker], kinds[ticker] = (
            make("random_walk", seed + i).assign(ticker=ticker),
            "random_walk",
        )
    for ticker, frame in frames.items():
        write_csv(frame, folder / f"{ticker}.csv")
    summary = run_train(folder, list(frames), work / "store", extra, keep)
    rows = []
    for t in summary["tickers"]:
        ticker, kind = t["ticker"], kinds[t["ticker"]]
        challenger = t["challenger"]["test"]["total_return"]
        row = {
            "market": ticker,
            "kind": kind,
            "promoted": bool(t["promoted"]),
            "challenger": candidate_label(t["challenger"]),
            "challenger_test_return": challenger,
            "promoted_test_return": challenger if t["promoted"] else 0.0,
            "buy_and_hold": t["baselines"]["buy_and_hold"]["test"]["total_return"],
            "cash": t["baselines"]["cash"]["test"]["total_return"],
            "val_sharpe": t["challenger"]["validation"]["sharpe"],
            "reason": t["reason"],
        }
        if kind != "random_walk":
            row |= rule_figures(frames[ticker], kind, t["boundaries"])
            rule = row["rule_test_return"]
            row["share_of_rule"] = row["promoted_test_return"] / rule if rule > 0 else None
            row["target_met"] = structured_target_met(
                row["promoted"], row["promoted_test_return"], rule, row["buy_and_hold"], row["cash"]
            )
        rows.append(row)
    return rows


def real_rows(work: Path, extra: list[str], keep: Path | None = None) -> list[dict]:
    from tradeforge.report import candidate_label

    rows = []
    for ticker, name in REAL_FILES.items():
        path = SHARED / name
        if not path.is_file():
            print(f"skipped {ticker}: {path} is missing")
            continue
        summary = run_train(path, [ticker], work / f"store-{ticker}", extra, keep)
        (t,) = summary["tickers"]
        row = {"market": ticker, "promoted": bool(t["promoted"]), "reason": t["reason"]}
        for c in t["candidates"]:
            label = candidate_label(c)
            row[f"{label} val Sharpe"] = c["validation"]["sharpe"]
            row[f"{label} test return"] = c["test"]["total_return"]
        for name_ in ("buy_and_hold", "sma_crossover", "cash"):
            b = t["baselines"][name_]
            row[f"{name_} val Sharpe"] = b["validation"]["sharpe"]
            row[f"{name_} test return"] = b["test"]["total_return"]
        rows.append(row)
    return rows


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def print_synthetic(rows: list[dict]) -> dict[str, Any]:
    structured = [r for r in rows if r["kind"] != "random_walk"]
    if structured:
        print(
            "\n| market | promoted? (validation Sharpe) | promoted test return | rule test return | "
            "share of rule | buy-and-hold | cash | rule's validation Sharpe (gate) | target |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
    for r in structured:
        share = "rule lost" if r["share_of_rule"] is None else f"{r['share_of_rule']:.0%}"
        print(
            f"| {r['market']} ({r['kind']}) | {'yes' if r['promoted'] else 'no'} "
            f"({r['val_sharpe']:.2f}) | {_pct(r['promoted_test_return'])} | "
            f"{_pct(r['rule_test_return'])} | {share} | {_pct(r['buy_and_hold'])} | "
            f"{_pct(r['cash'])} | {r['rule_val_sharpe']:.2f} "
            f"({'passes' if r['rule_passes_gate'] else 'refused'}) | "
            f"{'met' if r['target_met'] else 'MISSED'} |"
        )
    walks = [r for r in rows if r["kind"] == "random_walk"]
    promoted = sum(r["promoted"] for r in walks)
    rate = promoted / len(walks) if walks else 0.0
    if walks:
        print(
            f"\nrandom walks: {promoted} of {len(walks)} promoted ({rate:.0%}; target <= "
            f"{FALSE_PROMOTION_TARGET:.0%}); challengers' test returns "
            f"{', '.join(_pct(r['challenger_test_return']) for r in walks)}"
        )
    met = sum(bool(r["target_met"]) for r in structured)
    if structured:
        print(f"structured markets: target met on {met} of {len(structured)}")
    return {
        "structured_targets_met": met,
        "structured_markets": len(structured),
        "random_walks": len(walks),
        "random_walks_promoted": promoted,
        "false_promotion_rate": rate,
        # both targets, or None when the run had only one kind of market (--paths 0, ...)
        "targets_met": (
            all(r["target_met"] for r in structured) and rate <= FALSE_PROMOTION_TARGET
            if structured and walks
            else None
        ),
    }


def print_real(rows: list[dict]) -> None:
    for r in rows:
        print(
            f"\n{r['market']}: {'PROMOTED' if r['promoted'] else 'nothing promoted'} - {r['reason']}"
        )
        for key, value in r.items():
            if key.endswith("test return") or key.endswith("val Sharpe"):
                shown = _pct(value) if key.endswith("return") else f"{value:.2f}"
                print(f"  {key:32s} {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--random-walks", type=int, default=20, help="pure random walks (default 20)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed of the generators")
    parser.add_argument(
        "--paths",
        type=int,
        default=1,
        help="paths (generator seeds) per structured market; one path is one noisy draw "
        "(0: random walks only)",
    )
    parser.add_argument("--real", action="store_true", help="also run SPY, AAPL, MSFT, BTC-USD")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the real files")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="write each run's full `train --json` summary (all candidates and folds) into DIR",
    )
    parser.add_argument("extra", nargs="*", help="extra `tradeforge train` options, after --")
    args = parser.parse_args()
    if args.paths < 0:
        parser.error(f"--paths: {args.paths} is negative")
    if args.paths == 0 and args.random_walks == 0 and not args.skip_synthetic:
        parser.error("--paths 0 --random-walks 0: no synthetic market to run")
    load = os.getloadavg()
    print(f"machine load (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    result: dict[str, Any] = {"train_options": args.extra}
    with tempfile.TemporaryDirectory(prefix="tradeforge-learning-") as tmp:
        work = Path(tmp)
        if not args.skip_synthetic:
            rows = synthetic_rows(
                work, args.random_walks, args.seed, args.extra, args.paths, args.keep
            )
            result["synthetic"] = rows
            result |= print_synthetic(rows)
        if args.real:
            real = real_rows(work, args.extra, args.keep)
            result["real"] = real
            print_real(real)
    if args.json:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
