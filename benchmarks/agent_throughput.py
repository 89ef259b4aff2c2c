"""Agent training throughput: TensorTrade 1.0.4's DQNAgent vs our DQN and ParallelDQN.

All figures are env steps/s *while training*, on the train window of real daily bars:

- TensorTrade's ``DQNAgent`` on TensorTrade's own env (``build_tensortrade_env``), with its own
  network, one gradient step of ``--batch-size`` per env step (its fixed replay ratio). Timed
  from its first gradient step to its last (the replay warm-up is excluded).
- our DQN at the same replay ratio and batch size (``train_freq=1, gradient_steps=1``) on
  ``VectorTradingEnv`` with ``--num-envs`` envs; timed from its first gradient update.
- ParallelDQN with 1 and 2 actor processes at that same replay ratio.
- the same three at the project's default ratio (``DQNConfig``: batch 64, one update per 4 env
  steps), where acting is a larger share of the work (skipped by ``--quick``).

At equal replay ratio the learner's updates are the same work in every agent, so on 2 cores
ParallelDQN can only win the acting time it takes off the learner's critical path (plus fewer,
larger TensorFlow calls); once the learner is the bottleneck a second actor adds exploration
diversity, not speed.

Every agent uses window ``--window`` (TensorTrade's network needs at least 15 bars) and TensorTrade's
timing (``execution="same_close"``). The machine may be shared: figures are the best of
``--repeats`` runs, and the load average before and after is printed with them.

    .venv/bin/python benchmarks/agent_throughput.py --quick --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

# Light imports only at module level: ParallelDQN's spawned actors re-import this file.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/market/SPY_2010-2017_yahoo.csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--source",
        default=str(DEFAULT_SOURCE) if DEFAULT_SOURCE.exists() else "demo",
        help="bars to train on: a local file or 'demo' (default: ../shared SPY 2010-2017)",
    )
    p.add_argument(
        "--quick", action="store_true", help="small runs, TensorTrade's ratio only (~1 minute)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--window", type=int, default=20, help="observation window (>= 15)")
    p.add_argument("--batch-size", type=int, default=None, help="batch (default 256; quick 32)")
    p.add_argument("--tt-updates", type=int, default=None, help="TensorTrade gradient steps timed")
    p.add_argument("--steps", type=int, default=None, help="env steps per run of our agents")
    p.add_argument("--num-envs", type=int, default=8, help="envs per actor")
    p.add_argument("--repeats", type=int, default=1, help="runs per figure of ours (best kept)")
    return p.parse_args(argv)


def load_market(source: str, window: int):
    """The train window of ``source`` with the default features."""
    from tradeforge.config import DataConfig, FeatureConfig, SplitConfig
    from tradeforge.data import infer_ticker, ingest
    from tradeforge.features import prepare

    ticker = "GOOGL" if source == "demo" else infer_ticker(source)
    frame = ingest(ticker, DataConfig(tickers=(ticker,), source=source)).frame
    return prepare(frame, FeatureConfig(), SplitConfig(), window).train


def tensortrade_dqn_steps_per_s(market, env_cfg, batch_size: int, updates: int) -> float:
    """Env steps/s of TensorTrade's DQNAgent between its first and last gradient step."""
    warnings.filterwarnings("ignore")  # its @deprecated decorator warns on every call
    from tensortrade.agents import DQNAgent

    from tradeforge.envs.tensortrade_env import build_tensortrade_env

    agent = DQNAgent(build_tensortrade_env(market, env_cfg).env)
    stamps: list[float] = []
    apply = agent._apply_gradient_descent

    def timed(*args, **kwargs):  # one call per env step once the memory holds a batch
        stamps.append(time.perf_counter())
        return apply(*args, **kwargs)

    agent._apply_gradient_descent = timed
    agent.train(
        n_steps=batch_size + updates,
        n_episodes=1,
        batch_size=batch_size,
        save_path=None,
        render_interval=None,
    )
    if len(stamps) < 2:
        raise RuntimeError(f"TensorTrade's DQNAgent made {len(stamps)} gradient steps; need 2+")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def ours(
    kind: str, actors: int, market, env_cfg, dqn, repeats: int, deterministic: bool = True
) -> dict[str, float]:
    """Best-of-``repeats`` training figures of one of our agents."""
    from tradeforge.agents import train_agent
    from tradeforge.config import ParallelConfig

    best: dict[str, float] = {}
    for r in range(repeats):
        parallel = ParallelConfig(num_actors=actors, deterministic=deterministic)
        result = train_agent(kind, market, env_cfg, dqn, parallel, seed=r, progress=False)
        s = result.stats
        if s["training_steps_per_s"] > best.get("training_steps_per_s", -1):
            best = {k: s[k] for k in ("training_steps_per_s", "steps_per_s", "seconds", "updates")}
    return best


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    from tradeforge.config import DQNConfig, EnvConfig

    batch = args.batch_size or (32 if args.quick else 256)
    tt_updates = args.tt_updates or (4 if args.quick else 40)
    steps = args.steps or (6_000 if args.quick else 30_000)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    market = load_market(args.source, args.window)
    env_cfg = EnvConfig(window=args.window, execution="same_close")
    # TensorTrade's ratio: one gradient step of `batch` per env step, from `batch` transitions on
    tt_ratio = DQNConfig(
        total_steps=steps,
        num_envs=args.num_envs,
        batch_size=batch,
        train_freq=1,
        gradient_steps=1,
        learning_starts=batch,
        buffer_size=max(100_000, batch),
    )
    default_ratio = DQNConfig(total_steps=steps * 4, num_envs=args.num_envs, learning_starts=batch)
    tt = tensortrade_dqn_steps_per_s(market, env_cfg, batch, tt_updates)
    runs = {}
    configs = [("tt_ratio", tt_ratio)] + ([] if args.quick else [("default_ratio", default_ratio)])
    for label, cfg in configs:
        runs[label] = {
            "dqn": ours("dqn", 1, market, env_cfg, cfg, args.repeats),
            "parallel1": ours("parallel_dqn", 1, market, env_cfg, cfg, args.repeats),
            "parallel2": ours("parallel_dqn", 2, market, env_cfg, cfg, args.repeats),
            # Ape-X's free-running actors (not reproducible): what the default's schedule costs
            "parallel2_free": ours(
                "parallel_dqn", 2, market, env_cfg, cfg, args.repeats, deterministic=False
            ),
        }
    load_after = os.getloadavg()[0]
    rate = {
        label: {k: v["training_steps_per_s"] for k, v in r.items()} for label, r in runs.items()
    }
    t = rate["tt_ratio"]
    d = rate.get("default_ratio")
    result: dict[str, object] = {
        "tensortrade_dqn_steps_per_s": round(tt, 2),
        "dqn_steps_per_s": t["dqn"],
        "parallel1_steps_per_s": t["parallel1"],
        "parallel2_steps_per_s": t["parallel2"],
        "dqn_vs_tensortrade": round(t["dqn"] / tt, 1),
        "parallel_vs_dqn": round(t["parallel2"] / t["dqn"], 2),
        "parallel1_vs_dqn": round(t["parallel1"] / t["dqn"], 2),
        "parallel2_free_steps_per_s": t["parallel2_free"],
        "parallel2_deterministic_vs_free": round(t["parallel2"] / t["parallel2_free"], 2),
        "default_ratio_dqn_steps_per_s": d["dqn"] if d else None,
        "default_ratio_parallel1_steps_per_s": d["parallel1"] if d else None,
        "default_ratio_parallel2_steps_per_s": d["parallel2"] if d else None,
        "default_ratio_parallel_vs_dqn": round(d["parallel2"] / d["dqn"], 2) if d else None,
        "default_ratio_parallel2_free_steps_per_s": d["parallel2_free"] if d else None,
        "default_ratio_deterministic_vs_free": (
            round(d["parallel2"] / d["parallel2_free"], 2) if d else None
        ),
        "batch_size": batch,
        "replay_ratio": batch,  # samples per env step at TensorTrade's ratio
        "default_replay_ratio": default_ratio.batch_size / default_ratio.train_freq,
        "steps": steps,
        "window": args.window,
        "num_envs": args.num_envs,
        "tensortrade_updates_timed": tt_updates,
        "wall_seconds": {
            label: {k: v["seconds"] for k, v in r.items()} for label, r in runs.items()
        },
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(load_after, 2),
        "cpus": os.cpu_count(),
        "benchmark_seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"data: {args.source} ({market.ticker}, {market.num_bars} train bars), window {args.window}"
    )
    print(
        f"load average before/after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"replay ratio {batch} samples/env step (batch {batch}, 1 update per env step):")
    print(f"  TensorTrade DQNAgent     {tt:>10,.2f} env steps/s")
    for name in ("dqn", "parallel1", "parallel2", "parallel2_free"):
        print(f"  {name:<24} {t[name]:>10,.1f} env steps/s   x{t[name] / tt:,.0f} TensorTrade")
    print(f"  ParallelDQN(2) / DQN     {t['parallel2'] / t['dqn']:>10.2f}")
    print(f"  deterministic / free     {t['parallel2'] / t['parallel2_free']:>10.2f}")
    if d:
        print(
            f"default ratio {result['default_replay_ratio']:g} samples/env step (batch "
            f"{default_ratio.batch_size}, 1 update per {default_ratio.train_freq} env steps):"
        )
        for name in ("dqn", "parallel1", "parallel2", "parallel2_free"):
            print(f"  {name:<24} {d[name]:>10,.1f} env steps/s")
        print(f"  ParallelDQN(2) / DQN     {d['parallel2'] / d['dqn']:>10.2f}")
        print(f"  deterministic / free     {d['parallel2'] / d['parallel2_free']:>10.2f}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
