"""Figures for evaluation and the registry: episode speed, baselines, publish/promote/load latency.

    .venv/bin/python benchmarks/evaluation_registry.py            # local store only
    .venv/bin/python benchmarks/evaluation_registry.py --s3       # also a SeaweedFS it starts

Prints one line per figure. Uses the demo data (GOOGL 2009-2018) and a seeded, untrained
Q-network of the default size: the point is the cost of evaluating, not the policy's quality.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_evaluation(window: int = 10) -> None:
    from tradeforge.agents import QAgent
    from tradeforge.agents.network import NetworkSpec, build_q_network
    from tradeforge.config import DataConfig, EnvConfig, EvalConfig, FeatureConfig, SplitConfig
    from tradeforge.data import ingest
    from tradeforge.evaluation import baselines, cost_sweep, evaluate, plot_equity
    from tradeforge.features import prepare

    frame = ingest("GOOGL", DataConfig(source="demo")).frame
    prepared = prepare(frame, FeatureConfig(), SplitConfig(), window)
    env = EnvConfig(window=window)
    spec = NetworkSpec(
        obs_dim=window * len(prepared.feature_names) + 1, num_actions=2, hidden=(64, 64)
    )
    agent = QAgent(build_q_network(spec, seed=0))
    market = prepared.train  # the longest window: ~1500 bars
    steps = market.num_steps
    t = timed(lambda: evaluate(agent, market, env, periods_per_year=252), repeat=3)
    print(f"evaluate (greedy QAgent, {steps} steps): {t * 1e3:.0f} ms = {steps / t:,.0f} steps/s")
    val = prepared.val
    t = timed(lambda: baselines(val, env, EvalConfig(), periods_per_year=252), repeat=3)
    print(
        f"baselines (4, random x20 seeds) on validation ({val.num_steps} steps): {t * 1e3:.0f} ms"
    )
    t = timed(lambda: cost_sweep(agent, val, env, periods_per_year=252), repeat=3)
    print(f"cost sweep (7 costs, agent + buy-and-hold) on validation: {t * 1e3:.0f} ms")
    ev = evaluate(agent, val, env, periods_per_year=252)
    t = timed(lambda: plot_equity(ev, val, env, title="bench"), repeat=3)
    print(f"equity plot PNG: {t * 1e3:.0f} ms, {len(plot_equity(ev, val, env)) / 1024:.0f} KiB")


def bench_registry(uri: str, label: str, model_bytes: bytes) -> None:
    from storage import open_store
    from storage.registry import ModelRegistry

    registry = ModelRegistry(open_store(uri))
    card = {"metrics": {"validation": {"sharpe": 1.0}}, "features": ["a"], "window": 10}
    files = {"model.keras": model_bytes, "equity-validation.png": b"p" * 60_000}
    refs = []
    t = timed(lambda: refs.append(registry.publish("BENCH", "dqn", files, card)), repeat=10)
    print(f"[{label}] publish ({len(model_bytes) / 1024:.0f} KiB model + plot): {t * 1e3:.1f} ms")
    registry.promote("BENCH", refs[0], {"promote": True}, None)
    it = iter(refs[1:])

    def promote_next() -> None:
        champ = registry.champion("BENCH")
        assert registry.promote("BENCH", next(it), {"promote": True}, champ.etag)

    t = timed(promote_next, repeat=8)
    print(f"[{label}] read champion + verify + conditional move + history: {t * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        t = timed(lambda: registry.load_champion("BENCH", tmp), repeat=10)
    print(f"[{label}] load_champion (every sha256 verified): {t * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3", action="store_true", help="also measure against SeaweedFS")
    args = parser.parse_args()
    bench_evaluation()
    model = os.urandom(110 * 1024)  # about the size of a default-size .keras file
    with tempfile.TemporaryDirectory() as tmp:
        bench_registry(tmp, "local", model)
    if args.s3:
        from tests.s3server import SeaweedS3

        with tempfile.TemporaryDirectory() as tmp, SeaweedS3(Path(tmp)) as server:
            os.environ.update(server.env())
            bench_registry(f"s3://{server.bucket}/bench", "seaweedfs", model)


if __name__ == "__main__":
    main()
