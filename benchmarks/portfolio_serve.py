"""``POST /predict`` with a portfolio: latency of ``tradeforge serve``'s app (issue 27).

Publishes a portfolio champion into a temporary store (a DQN allocator trained for a few hundred
steps on a 7-asset factor-momentum universe of 2,500 daily bars, its CSV files the source its
card records; promoted by the registry directly if the gate refuses it: what is measured here is
serving, not the gate), opens the store as ``serve`` does (``open_book``) and sends
``--requests`` sequential portfolio requests with current weights through the FastAPI app
in-process (``TestClient``): p50, p99 and requests per second. The first request reads every
asset's bars; whether the later ones do is what the latest-bar cache changes.

    .venv/bin/python benchmarks/portfolio_serve.py --requests 200 --json

Run it with ``PYTHONPATH=<another checkout>`` to time that checkout's serving code on the same
champion (this file puts its own checkout last on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def publish(store: str, bars: Path, assets: int, steps: int) -> str:
    """Train and publish the universe's champion; returns its name."""
    from benchmarks.learning_suite import write_csv
    from benchmarks.portfolio_suite import factor_momentum
    from storage import open_store
    from tradeforge.config import (
        DataConfig,
        DQNConfig,
        EnvConfig,
        FeatureConfig,
        ParallelConfig,
        PipelineConfig,
        PortfolioConfig,
        SplitConfig,
    )
    from tradeforge.portfolio.champion import gate_and_promote, portfolio_registry
    from tradeforge.portfolio.evaluate import score_baselines, train_and_score
    from tradeforge.portfolio.market import prepare_portfolio

    frames = factor_momentum(0, assets=assets)
    for ticker, frame in frames.items():
        write_csv(frame, bars / f"{ticker}.csv")
    tickers = tuple(frames)
    env, split = EnvConfig(window=5), SplitConfig(folds=1)
    cfg = PipelineConfig(
        data=DataConfig(tickers=tickers, source=str(bars)), split=split, env=env,
        dqn=DQNConfig(total_steps=steps, num_envs=4),
        portfolio=PortfolioConfig(tickers=tickers, name="fm7"),
    )  # fmt: skip
    prepared = prepare_portfolio(frames, FeatureConfig(), split, window=env.window)
    fold = prepared.last
    candidate = train_and_score(
        "dqn", 0, fold, env, cfg.dqn, ParallelConfig(), cfg.portfolio, test=True
    )
    baselines = score_baselines(prepared, env, cfg.portfolio)
    decision, _ = gate_and_promote(
        "fm7", [candidate], baselines, prepared, frames, cfg, open_store(store), "bench", 252
    )
    if not decision["published"]:
        registry = portfolio_registry(open_store(store))
        ref = next(v for v in registry.versions("fm7") if v.version_id == decision["version"])
        registry.promote(
            "fm7",
            ref,
            decision={"promote": True, "reason": "benchmark: serving, not the gate"},
            expected_etag=None,
        )
    return "fm7"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--assets", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200, help="training steps of the champion")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    import tradeforge
    from tradeforge.serving import create_app, open_book

    with tempfile.TemporaryDirectory(prefix="tradeforge-portfolio-serve-") as tmp:
        store, bars = f"{tmp}/store", Path(tmp) / "bars"
        bars.mkdir()
        name = publish(store, bars, args.assets, args.steps)
        book = open_book(store)
        tickers = book.portfolios.policy(name).card["tickers"]
        body = {"portfolio": name, "current_weights": {tickers[0]: 0.5, "cash": 0.5}}
        times = []
        with TestClient(create_app(book, poll_s=3600)) as client:
            for _ in range(args.requests):
                began = time.perf_counter()
                response = client.post("/predict", json=body)
                times.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    later = sorted(times[1:])
    result = {
        "code": str(Path(tradeforge.__file__).parents[1]),
        "assets": args.assets,
        "requests": args.requests,
        "first_ms": round(times[0], 2),
        "p50_ms": round(statistics.median(later), 2),
        "p99_ms": round(later[int(0.99 * (len(later) - 1))], 2),
        "requests_per_s": round(len(later) / (sum(later) / 1000), 1),
        "load_average": os.getloadavg()[0],
    }
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
