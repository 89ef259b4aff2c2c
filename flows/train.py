"""The training pipeline as a story: ingest -> validate -> features -> train -> evaluate -> promote.

This module only chains tasks and branches on their results; every computation lives in
``tradeforge`` behind a thin task in ``tasks/``. Run it with ``tradeforge train`` (ephemeral Prefect
when no server is configured) or through a deployment from ``prefect.yaml``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from tasks.evaluate import baselines_task, evaluate_task
from tasks.features import features_task
from tasks.ingest import ingest_task
from tasks.promote import promote_task, summary_task
from tasks.train import train_task
from tasks.validate import validate_task
from tradeforge.config import DEFAULT_STORE, DEMO_SOURCE
from tradeforge.config.build import pipeline_config


@flow(name="train_pipeline", log_prints=True)
def train_pipeline(
    tickers: list[str] | None = None,
    source: str = DEMO_SOURCE,
    start: str | None = None,
    end: str | None = None,
    val_start: str | None = None,
    test_start: str | None = None,
    interval: str = "1d",
    agents: list[str] | None = None,
    seeds: list[int] | None = None,
    steps: int = 20_000,
    store: str = DEFAULT_STORE,
    window: int = 10,
    commission: float = 0.001,
    slippage: float = 0.0,
    execution: str = "next_open",
    reward: str = "simple",
    action_scheme: str = "bsh",
    num_envs: int = 8,
    num_actors: int = 2,
    train_timeout: float = 6 * 3600.0,
    sharpe_margin: float = 0.0,
    max_drawdown_limit: float = 0.5,
    offline: bool = False,
    s3_endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Train DQN / ParallelDQN agents per (ticker, agent, seed), evaluate them, promote the best.

    Args:
        tickers: instruments, e.g. ["SPY", "BTC-USD"]; default ["GOOGL"] (the demo data).
        source: "demo" | "yahoo" | "s3://bucket/prefix" | a local file or folder.
        start: first bar (YYYY-MM-DD), inclusive; None = all history.
        end: last bar (YYYY-MM-DD), exclusive; None = up to the latest bar.
        val_start: first bar of the validation window; None = the last 30%..15% of bars.
        test_start: first bar of the test window; None = the last 15% of bars.
        interval: bar interval, "1d" or "1h".
        agents: agent kinds, any of "dqn", "parallel_dqn"; default both.
        seeds: one agent is trained per seed; default [0].
        steps: environment steps per training.
        store: model store, a local directory or s3://bucket/prefix.
        window: bars of features per observation.
        commission: fraction of traded notional paid per trade (0.001 = 10 bp).
        slippage: fraction of the fill price lost per trade.
        execution: "next_open" (fill at the next bar's open) or "same_close".
        reward: "simple" | "pbr" | "risk_adjusted" | "differential_sharpe".
        action_scheme: "bsh" (long/flat); "managed_risk" exists only in the TensorTrade env.
        num_envs: vectorised environments per actor.
        num_actors: actor processes of ParallelDQN.
        train_timeout: seconds one training may run before it is stopped (0 = no limit).
        sharpe_margin: validation Sharpe a challenger must add over the champion.
        max_drawdown_limit: largest validation drawdown a champion may have (0.5 = 50%).
        offline: serve Yahoo data from stored snapshots only.
        s3_endpoint_url: endpoint of an S3-compatible server (SeaweedFS, MinIO, ...).
    """
    cfg = pipeline_config(
        tickers=tickers,
        source=source,
        start=start,
        end=end,
        val_start=val_start,
        test_start=test_start,
        interval=interval,
        agents=agents,
        seeds=seeds,
        steps=steps,
        store=store,
        window=window,
        commission=commission,
        slippage=slippage,
        execution=execution,
        reward=reward,
        action_scheme=action_scheme,
        num_envs=num_envs,
        num_actors=num_actors,
        train_timeout=train_timeout,
        sharpe_margin=sharpe_margin,
        max_drawdown_limit=max_drawdown_limit,
        offline=offline,
        s3_endpoint_url=s3_endpoint_url,
    )
    run_id = flow_run.get_id() or "local"
    decisions = []
    for ticker in cfg.data.tickers:
        ingested = ingest_task(ticker, cfg)
        frame = validate_task(ticker, ingested, cfg, run_id)
        prepared = features_task(ticker, frame, cfg)
        baselines = baselines_task.submit(ticker, prepared, cfg)
        trained = [
            train_task.submit(ticker, kind, seed, prepared, cfg, run_id)
            for kind in cfg.agents
            for seed in cfg.seeds
        ]
        evaluations = [evaluate_task.submit(ref, prepared, cfg, run_id) for ref in trained]
        decisions.append(
            promote_task(ticker, evaluations, baselines, prepared, ingested, cfg, run_id)
        )
    return summary_task(decisions, cfg)
