"""Portfolio env throughput (issue 27): asset-steps/s of the vectorised portfolio env over a
30-asset universe on one core, against a reference in the same run.

The reference is the project's single-asset ``VectorTradingEnv`` stepping the same 30 assets,
one env per asset with the same number of episodes: what trading the universe cost before the
portfolio env (30 separate long/flat books). One asset-step = one asset of one episode moved
one bar. Random 0/1 actions are drawn before timing; each figure is the best of ``--repeats``
rounds (the machine is shared). The target is >= 1,000,000 asset-steps/s.

    nice -n 10 .venv/bin/python benchmarks/portfolio_env_throughput.py [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's BLAS pools stay single
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import random_walk
from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
from tradeforge.envs import VectorTradingEnv
from tradeforge.portfolio.env import PortfolioVectorEnv
from tradeforge.portfolio.market import PortfolioMarket, prepare_portfolio

TARGET = 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--assets", type=int, default=30, help="assets in the universe")
    p.add_argument("--bars", type=int, default=2_500, help="bars per asset")
    p.add_argument("--num-envs", type=int, default=64, help="episodes stepped together")
    p.add_argument("--calls", type=int, default=2_000, help="step() calls per timed run")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure (best kept)")
    p.add_argument("--json", action="store_true", help="one JSON object as the last line")
    return p.parse_args(argv)


def universe(assets: int, bars: int) -> PortfolioMarket:
    """The train window of ``assets`` seeded random walks on one calendar, default features."""
    frames = {f"RW{i}": random_walk(i, bars).assign(ticker=f"RW{i}") for i in range(assets)}
    return prepare_portfolio(frames, FeatureConfig(), SplitConfig(), window=3).last.train


def best_rate(run, repeats: int) -> float:
    """The best of ``repeats`` runs of ``run() -> (count, seconds)``, as count per second."""
    return max(count / seconds for count, seconds in (run() for _ in range(repeats)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    market = universe(args.assets, args.bars)
    config = EnvConfig(window=3)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, (args.calls, args.num_envs, args.assets))
    env = PortfolioVectorEnv(market, config, args.num_envs, seed=0)
    singles = [
        VectorTradingEnv(market.asset(i), config, args.num_envs, seed=i) for i in range(args.assets)
    ]

    def portfolio() -> tuple[int, float]:
        env.reset(seed=0)
        start = time.process_time()
        for a in actions:
            env.step(a)
        return args.calls * args.num_envs * args.assets, time.process_time() - start

    def reference() -> tuple[int, float]:
        for i, single in enumerate(singles):
            single.reset(seed=i)
        calls = max(args.calls // args.assets, 1)  # the same asset-steps budget, roughly
        start = time.process_time()
        for a in actions[:calls]:
            for i, single in enumerate(singles):
                single.step(a[:, i])
        return calls * args.num_envs * args.assets, time.process_time() - start

    rates = {}
    for _ in range(args.repeats):  # interleaved, so both see the same machine
        rates["portfolio"] = max(rates.get("portfolio", 0.0), best_rate(portfolio, 1))
        rates["reference"] = max(rates.get("reference", 0.0), best_rate(reference, 1))
    result = {
        "assets": args.assets,
        "num_envs": args.num_envs,
        "clock": "process cpu time, one core",
        "portfolio_asset_steps_per_s": round(rates["portfolio"]),
        "reference_asset_steps_per_s": round(rates["reference"]),
        "ratio": round(rates["portfolio"] / rates["reference"], 2),
        "target_asset_steps_per_s": TARGET,
        "meets_target": rates["portfolio"] >= TARGET,
    }
    print(f"{'env':<40} {'asset-steps/s':>15}")
    print(f"{'portfolio env (' + str(args.assets) + ' assets x ' + str(args.num_envs) + ')':<40} "
          f"{result['portfolio_asset_steps_per_s']:>15,}")  # fmt: skip
    print(f"{'reference: ' + str(args.assets) + ' single-asset vector envs':<40} "
          f"{result['reference_asset_steps_per_s']:>15,}")  # fmt: skip
    print(
        f"ratio {result['ratio']}x; target {TARGET:,}: {'met' if result['meets_target'] else 'NOT met'}"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
