"""Promote task: publish the best challenger as a version; move the champion only if it earned it."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from storage import StoreRef
from tasks.policies import STORE_RETRIES
from tradeforge.config import PipelineConfig
from tradeforge.promotion import Decision
from tradeforge.records import FoldResult, PolicyResult, TickerFailure
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
    **STORE_RETRIES,  # it reads and writes staged models and versions in the store (S3)
)
def promote_task(
    ticker: str,
    results: list[FoldResult],
    baselines: dict[str, PolicyResult],
    prepared,
    ingested,
    cfg: PipelineConfig,
    store: StoreRef,
    run_id: str,
    periods_per_year: int,
) -> Decision:
    """Select on pooled validation Sharpe, gate against cash, buy-and-hold and the champion."""
    from tradeforge.promotion import promote_ticker, read_version_plots

    opened = store.open()
    decision = promote_ticker(
        ticker, results, baselines, prepared, ingested, cfg, opened, run_id, periods_per_year
    )
    create_table_artifact(
        key=artifact_key("metrics", ticker),
        table=metric_rows(decision),
        description=f"{ticker}: agents vs baselines after costs (selection on pooled validation only)",
    )
    create_markdown_artifact(
        key=artifact_key("promotion", ticker), markdown=decision_markdown(decision)
    )
    create_markdown_artifact(
        key=artifact_key("equity", ticker),
        markdown=images_markdown(read_version_plots(decision, opened)),
        description=f"{ticker}: equity curves of the selected model and its cost sweep",
    )
    return decision


@task(name="summary")
def summary_task(
    decisions: list[Decision], cfg: PipelineConfig, failures: list[TickerFailure] | None = None
) -> dict[str, Any]:
    """One JSON-ready summary of the run: metrics, baselines, decisions, version URIs, and the
    tickers that failed."""
    return summarize(decisions, cfg, failures)
