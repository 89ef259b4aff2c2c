"""The promotion gate's power and size by simulation, before and after issue 28 (in one run).

BEFORE is the test up to issue 28 (``PromotionConfig(benchmark_test="psr")``): the challenger's
deflated PSR against buy-and-hold's point Sharpe, as if it were a known constant. AFTER is the
default (``benchmark_test="difference"``): the deflated Ledoit-Wolf HAC Sharpe-difference test
on the paired returns. Cash is judged by the plain deflated PSR in both.

- Power curve: each draw makes a buy-and-hold series (annualised Sharpe 0.5, daily vol 1%) and 8
  candidates, as the defaults train (near-copies: pairwise correlation 0.97, the 0.96-0.99 the
  learning suite measures), each with a known true annualised Sharpe of 0.5 + edge and
  correlation ``rho`` with buy-and-hold; the best by Sharpe goes to the gate with every
  candidate's returns (the deflation counts them as the pipeline does). Validation length is
  what the defaults give on a 2,500-bar market (3 folds' pooled validation returns). The
  promotion rate against the edge is the power; at edge 0 it is a false promotion rate (size).
  A size point needs many draws: at 400 a true 4.2% is measured anywhere in 2.2-6.3% (95%), so
  the zero-edge points get ``--size-draws`` (default 2,000), and every rate its Monte-Carlo
  95% interval (Wilson). At zero edge the row also gives the difference check alone
  (``after_difference_check``: the best of 8, deflated, against buy-and-hold, whatever cash's
  check says) and the same test on one fixed candidate, no selection and no deflation
  (``single_candidate``): the two agree when the deflation removes the selection's effect.
- Random walks: drifting Gaussian walks (the study's ``random_walk`` settings) and 8 skill-less
  long/flat timing candidates (a persistent random signal shared by all with a little of each
  one's own, 10 bp a trade): every promotion is a false one.

Usage::

    nice -n 10 .venv/bin/python benchmarks/gate_power.py --json
    .venv/bin/python benchmarks/gate_power.py --draws 100 --size-draws 400 --walks 50  # quicker, noisier
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PPY = 252
CANDIDATES = 8
CANDIDATE_CORRELATION = 0.97
BENCH_SHARPE = 0.5  # annualised, buy-and-hold's true Sharpe in the power curve
VOL = 0.01
EDGES = (0.0, 0.5, 1.0, 1.5)
RHOS = (0.0, 0.5, 0.8, 0.95)
TESTS = {"before": "psr", "after": "difference"}
SIZE_TARGET = 0.05
Z95 = 1.959963984540054


def validation_bars() -> int:
    """Pooled validation returns the default settings give on a 2,500-bar market."""
    from benchmarks.synthetic import make
    from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
    from tradeforge.features import prepare

    prep = prepare(make("random_walk", 0), FeatureConfig(), SplitConfig(), EnvConfig().window)
    return sum(f.val.end - f.val.start - 1 for f in prep.folds)


def correlated_draw(
    rng: np.random.Generator, n: int, edge: float, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Buy-and-hold's returns and ``CANDIDATES`` challengers' (rows), Gaussian, with true
    annualised Sharpes ``BENCH_SHARPE`` and ``BENCH_SHARPE + edge``, correlation ``rho`` with
    buy-and-hold and ``CANDIDATE_CORRELATION`` with each other."""
    if rho**2 > CANDIDATE_CORRELATION:
        raise ValueError(f"rho={rho}: candidates cannot correlate {CANDIDATE_CORRELATION}")
    shared = (CANDIDATE_CORRELATION - rho**2) / (1.0 - rho**2) if rho < 1 else 0.0
    z0 = rng.standard_normal(n)
    common = rng.standard_normal(n)
    own = rng.standard_normal((CANDIDATES, n))
    noise = math.sqrt(shared) * common + math.sqrt(1.0 - shared) * own
    shocks = rho * z0 + math.sqrt(1.0 - rho**2) * noise
    per_period = VOL / math.sqrt(PPY)
    bench = BENCH_SHARPE * per_period + VOL * z0
    cands = (BENCH_SHARPE + edge) * per_period + VOL * shocks
    return bench, cands


def walk_draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A drifting random walk's returns (buy-and-hold) and ``CANDIDATES`` skill-less long/flat
    timing strategies on it, 10 bp a trade (rows)."""
    market = rng.normal(0.0003, 0.012, n + 1)
    signal = np.empty((CANDIDATES, n))
    shared = np.zeros(n)
    shock = rng.standard_normal(n)
    for t in range(1, n):  # a persistent common signal: positions held for days
        shared[t] = 0.9 * shared[t - 1] + shock[t]
    signal[:] = shared + 0.3 * rng.standard_normal((CANDIDATES, n))
    positions = (signal > rng.normal(0.0, 1.0, (CANDIDATES, 1))).astype(float)
    trades = np.abs(np.diff(np.c_[np.zeros(CANDIDATES), positions], axis=1))
    cands = positions * market[1:] - 0.001 * trades
    return market[1:], cands


def wilson(hits: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a rate of ``hits`` in ``n`` draws."""
    p = hits / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def gate_both(bench: np.ndarray, cands: np.ndarray) -> dict[str, bool]:
    """Promote? under each test, the best candidate by Sharpe against cash and buy-and-hold;
    also whether the difference check alone passed (``after_difference_check``) and the
    undeflated difference test on the first candidate alone (``single_candidate``)."""
    from tradeforge.config import PromotionConfig
    from tradeforge.evaluation.significance import moments, sharpe_difference
    from tradeforge.promotion.gate import decide

    sharpes = [moments(c).sharpe * math.sqrt(PPY) for c in cands]
    best = cands[int(np.argmax(sharpes))]
    benchmarks = {"cash": np.zeros(len(bench)), "buy_and_hold": bench}
    out = {}
    for label, test in TESTS.items():
        cfg = PromotionConfig(benchmark_test=test)
        d = decide(best, benchmarks, sharpes, 0.0, cfg, PPY, trial_returns=list(cands))
        out[label] = d.promote
    out["after_difference_check"] = next(c.passed for c in d.checks if c.benchmark != "cash")
    out["single_candidate"] = sharpe_difference(cands[0], bench).probability(0.0) > cfg.confidence
    return out


RATES = (*TESTS, "after_difference_check", "single_candidate")


def rates(hits: dict[str, int], draws: int) -> dict[str, Any]:
    """Each rate and its 95% interval."""
    return {label: hits[label] / draws for label in hits} | {
        "ci95": {label: [round(b, 4) for b in wilson(hits[label], draws)] for label in hits}
    }


def power_curve(n: int, draws: int, size_draws: int, seed: int) -> list[dict[str, Any]]:
    """Promotion rates before and after at every (rho, edge) point, ``size_draws`` draws at
    edge 0 (a size needs the precision) and ``draws`` elsewhere."""
    rows = []
    for i, rho in enumerate(RHOS):
        for j, edge in enumerate(EDGES):
            rng = np.random.default_rng([seed, i, j])
            k = size_draws if edge == 0.0 else draws
            hits = {label: 0 for label in RATES}
            for _ in range(k):
                for label, passed in gate_both(*correlated_draw(rng, n, edge, rho)).items():
                    hits[label] += passed
            if edge != 0.0:  # the decomposition is a size diagnostic
                hits = {label: hits[label] for label in TESTS}
            rows.append({"rho": rho, "edge": edge, "draws": k} | rates(hits, k))
            lo, hi = rows[-1]["ci95"]["after"]
            print(
                f"rho {rho:.2f} edge {edge:.1f} ({k} draws): before {rows[-1]['before']:.1%}, "
                f"after {rows[-1]['after']:.1%} (95% {lo:.1%}-{hi:.1%})",
                flush=True,
            )
    return rows


def random_walks(n: int, walks: int, seed: int) -> dict[str, Any]:
    """False promotions on ``walks`` random walks, before and after."""
    rng = np.random.default_rng([seed, 99])
    hits = {label: 0 for label in TESTS}
    for _ in range(walks):
        for label, promoted in gate_both(*walk_draw(rng, n)).items():
            if label in hits:
                hits[label] += promoted
    return {"walks": walks} | rates(hits, walks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--draws", type=int, default=400, help="draws per point (default 400)")
    parser.add_argument(
        "--size-draws", type=int, default=2000, help="draws per zero-edge point (default 2000)"
    )
    parser.add_argument("--walks", type=int, default=200, help="random walks (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    if args.draws < 1:
        parser.error(f"--draws: {args.draws} is not positive")
    if args.size_draws < 400:
        parser.error(f"--size-draws: {args.size_draws} is below 400, too few to measure a 5% rate")
    if args.walks < 50:
        parser.error(f"--walks: {args.walks} is below 50, too few to measure a 5% rate")
    started = time.monotonic()
    n = validation_bars()
    print(f"validation bars (defaults, 3 folds pooled): {n}", flush=True)
    curve = power_curve(n, args.draws, args.size_draws, args.seed)
    walks = random_walks(n, args.walks, args.seed)
    print(
        "\n| correlation with buy-and-hold | true edge (annualised Sharpe) | draws | before "
        "| after (95% interval) |"
    )
    print("|---|---|---|---|---|")
    for r in curve:
        lo, hi = r["ci95"]["after"]
        print(
            f"| {r['rho']:.2f} | {r['edge']:.1f} | {r['draws']} | {r['before']:.1%} "
            f"| {r['after']:.1%} ({lo:.1%}-{hi:.1%}) |"
        )
    print("\nzero edge, after: the gate / its difference check alone / one candidate, no selection")
    for r in zero_edge(curve):
        print(
            f"  rho {r['rho']:.2f}: {r['after']:.1%} / {r['after_difference_check']:.1%} / "
            f"{r['single_candidate']:.1%}"
        )
    print(
        f"\nrandom walks: {walks['walks']}, false promotions before {walks['before']:.1%}, "
        f"after {walks['after']:.1%}"
    )
    zero = zero_edge(curve)
    at_one = [r for r in curve if r["edge"] == 1.0]
    result = {
        "validation_bars": n,
        "bench_sharpe": BENCH_SHARPE,
        "candidates": CANDIDATES,
        "candidate_correlation": CANDIDATE_CORRELATION,
        "power_curve": curve,
        "random_walks": walks,
        "size_after_max_at_zero_edge": max(r["after"] for r in zero),
        "size_before_max_at_zero_edge": max(r["before"] for r in zero),
        "size_after_max_upper95_at_zero_edge": max(r["ci95"]["after"][1] for r in zero),
        "power_ratio_at_edge_1": {
            f"{r['rho']:.2f}": (r["after"] / r["before"] if r["before"] else None) for r in at_one
        },
        "size_targets_met": walks["after"] <= SIZE_TARGET
        and all(r["after"] <= SIZE_TARGET for r in zero),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"size targets (after) met: {result['size_targets_met']}; {result['seconds']} s")
    if args.json:
        print(json.dumps(result))


def zero_edge(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The power curve's size points."""
    return [r for r in curve if r["edge"] == 0.0]


if __name__ == "__main__":
    main()
