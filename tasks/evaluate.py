"""Evaluate tasks: greedy agents and baselines on the validation and test windows, after costs."""

from __future__ import annotations

from typing import Any

from prefect import task

from tasks.policies import NETWORK_RETRY_DELAYS, RETRY_JITTER, retry_if_transient
from tradeforge.config import PipelineConfig
from tradeforge.pipeline import TrainedRef, run_baselines, run_evaluation


@task(
    name="evaluate",
    task_run_name="evaluate-{ref.ticker}-{ref.agent}-seed{ref.seed}",
    retries=2,  # it reads the staged model from the store (S3)
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_if_transient,
)
def evaluate_task(ref: TrainedRef, prepared, cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Metrics of one staged agent on validation (for selection) and test (reported only)."""
    return run_evaluation(ref, prepared, cfg, run_id)


@task(name="baselines", task_run_name="baselines-{ticker}")
def baselines_task(ticker: str, prepared, cfg: PipelineConfig) -> dict[str, Any]:
    """Buy-and-hold, cash, random and SMA-crossover on the same windows."""
    return run_baselines(prepared, cfg)
