"""Promote task: publish the best challenger as a version; move the champion only if it wins."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.policies import NETWORK_RETRY_DELAYS, RETRY_JITTER, retry_if_transient
from tradeforge.config import PipelineConfig
from tradeforge.pipeline import read_version_plots, run_promotion
from tradeforge.report import (
    artifact_key,
    decision_markdown,
    images_markdown,
    metric_rows,
    summarize,
)


@task(
    name="promote",
    task_run_name="promote-{ticker}",
    retries=2,
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    # a store that is briefly away is retried; a lost conditional write (PreconditionFailed) not
    retry_condition_fn=retry_if_transient,
)
def promote_task(
    ticker: str,
    evaluations: list[dict[str, Any]],
    baselines: dict[str, Any],
    prepared,
    ingested,
    cfg: PipelineConfig,
    run_id: str,
) -> dict[str, Any]:
    """Select on validation Sharpe, compare with the champion on the same window, record it."""
    decision = run_promotion(ticker, evaluations, baselines, prepared, ingested, cfg, run_id)
    create_table_artifact(
        key=artifact_key("metrics", ticker),
        table=metric_rows(evaluations, baselines),
        description=f"{ticker}: agents vs baselines after costs (selection on validation only)",
    )
    create_markdown_artifact(
        key=artifact_key("promotion", ticker), markdown=decision_markdown(decision)
    )
    create_markdown_artifact(
        key=artifact_key("equity", ticker),
        markdown=images_markdown(read_version_plots(decision, cfg)),
        description=f"{ticker}: equity curves of the selected model and its cost sweep",
    )
    return decision


@task(name="summary")
def summary_task(decisions: list[dict[str, Any]], cfg: PipelineConfig) -> dict[str, Any]:
    """One JSON-ready summary of the run: metrics, baselines, decisions, version URIs."""
    return summarize(decisions, cfg)
