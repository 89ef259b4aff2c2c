"""Env throughput: TensorTrade's env vs the vectorised numpy env, on the same data and actions.

Both envs step random long/flat actions (drawn before timing) through episodes of the same
length with the same reward scheme; TensorTrade's env is reset between episodes, the numpy env
resets finished episodes itself (same-step autoreset). Steps/s counts env transitions
(``num_envs`` per vector call). The measurements are interleaved (TensorTrade, 64, 256, then
again) and each figure is the best of ``--repeats`` rounds, since the machine may be shared: the
best round is the least disturbed one. ``--clock cpu`` times the process's CPU time instead of
the wall clock, which other processes on a busy machine disturb less.

    .venv/bin/python benchmarks/env_throughput.py            # a table
    .venv/bin/python benchmarks/env_throughput.py --json     # ... and one JSON line last
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradeforge.config import DataConfig, EnvConfig, FeatureConfig, SplitConfig
from tradeforge.data import infer_ticker, ingest
from tradeforge.envs import MarketData, VectorTradingEnv
from tradeforge.features import prepare

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/market/SPY_2010-2017_yahoo.csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--source",
        default=str(DEFAULT_SOURCE) if DEFAULT_SOURCE.exists() else "demo",
        help="bars to step over: a local file, or 'demo' (default: ../shared SPY 2010-2017 "
        "if present, else the demo GOOGL data)",
    )
    p.add_argument("--ticker", default=None, help="ticker (default: inferred from the file name)")
    p.add_argument("--window", type=int, default=10, help="observation window (bars)")
    p.add_argument("--episode-length", type=int, default=256, help="steps per episode")
    p.add_argument("--reward", default="simple", help="reward scheme of both envs")
    p.add_argument("--tt-steps", type=int, default=2_000, help="TensorTrade steps per run")
    p.add_argument("--vec-calls", type=int, default=2_000, help="vector step() calls per run")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure (best is kept)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    p.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall time or process CPU time"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    args.timer = time.process_time if args.clock == "cpu" else time.perf_counter
    return args


def rate(count: int, start: float, timer) -> float:
    """Items per second since ``start`` (guarded against a zero interval)."""
    return count / max(timer() - start, 1e-9)


def load_market(args: argparse.Namespace) -> MarketData:
    """The train window of the source's bars, with the default features."""
    ticker = args.ticker or ("GOOGL" if args.source == "demo" else infer_ticker(args.source))
    frame = ingest(ticker, DataConfig(tickers=(ticker,), source=args.source)).frame
    return prepare(frame, FeatureConfig(), SplitConfig(), args.window).train


def tensortrade_steps_per_s(market: MarketData, config: EnvConfig, args) -> float:
    """TensorTrade env steps/s over back-to-back episodes of ``episode_length`` steps."""
    from tradeforge.envs.tensortrade_env import build_tensortrade_env

    length = min(config.episode_length, market.num_steps)
    episode = market.slice(market.start, market.start + length + 1)
    built = build_tensortrade_env(episode, config)
    actions = np.random.default_rng(args.seed).integers(0, 2, args.tt_steps).tolist()
    env = built.env
    env.reset()
    done_in = length
    start = args.timer()
    for a in actions:
        env.step(a)
        done_in -= 1
        if done_in == 0:
            env.reset()
            done_in = length
    return rate(len(actions), start, args.timer)


def tensortrade_long_episode_steps_per_s(market: MarketData, config: EnvConfig, args) -> float:
    """TensorTrade env steps/s in one episode of ``--tt-steps`` steps (it slows as it grows)."""
    from tradeforge.envs.tensortrade_env import build_tensortrade_env

    steps = min(args.tt_steps, market.num_steps)
    built = build_tensortrade_env(market.slice(market.start, market.start + steps + 1), config)
    actions = np.random.default_rng(args.seed).integers(0, 2, steps).tolist()
    built.env.reset()
    start = args.timer()
    for a in actions:
        built.env.step(a)
    return rate(steps, start, args.timer)


def vector_steps_per_s(market: MarketData, config: EnvConfig, num_envs: int, args) -> float:
    """Numpy env transitions/s with ``num_envs`` envs (random starts, autoreset)."""
    env = VectorTradingEnv(market, config, num_envs, seed=args.seed)
    actions = np.random.default_rng(args.seed).integers(0, 2, (args.vec_calls, num_envs))
    env.reset()
    start = args.timer()
    for a in actions:
        env.step(a)
    return rate(args.vec_calls * num_envs, start, args.timer)


def best_rounds(repeats: int, runs: dict) -> dict[str, float]:
    """Run every measurement once per round, ``repeats`` rounds; keep each one's best."""
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = max(best[name], run())
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    market = load_market(args)
    config = EnvConfig(
        window=args.window,
        execution="same_close",  # TensorTrade's timing, so both do the same work
        reward=args.reward,
        episode_length=args.episode_length,
    )
    best = best_rounds(
        args.repeats,
        {
            "tt": lambda: tensortrade_steps_per_s(market, config, args),
            "tt_long": lambda: tensortrade_long_episode_steps_per_s(market, config, args),
            "vec64": lambda: vector_steps_per_s(market, config, 64, args),
            "vec256": lambda: vector_steps_per_s(market, config, 256, args),
        },
    )
    tt, tt_long, vec64, vec256 = best["tt"], best["tt_long"], best["vec64"], best["vec256"]
    result = {
        "tensortrade_steps_per_s": round(tt, 1),
        "tensortrade_long_episode_steps_per_s": round(tt_long, 1),
        "vector_64_steps_per_s": round(vec64, 1),
        "vector_256_steps_per_s": round(vec256, 1),
        "ratio_64": round(vec64 / tt, 1),
        "ratio_256": round(vec256 / tt, 1),
        "ratio": round(vec256 / tt, 1),
        "bars": market.num_bars,
        "features": len(market.feature_names),
        "window": args.window,
        "episode_length": args.episode_length,
        "reward": args.reward,
        "repeats": args.repeats,
        "clock": args.clock,
    }
    print(f"data: {args.source} ({market.ticker}, {market.num_bars} train bars)")
    print(f"TensorTrade env          {tt:>14,.0f} steps/s")
    long_steps = min(args.tt_steps, market.num_steps)
    print(f"TensorTrade, 1 episode   {tt_long:>14,.0f} steps/s   ({long_steps} steps)")
    print(f"VectorTradingEnv x 64    {vec64:>14,.0f} steps/s   ratio {vec64 / tt:>8.1f}")
    print(f"VectorTradingEnv x 256   {vec256:>14,.0f} steps/s   ratio {vec256 / tt:>8.1f}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
