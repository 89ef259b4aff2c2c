"""Ingest task: one ticker's bars from Yahoo, S3 or a local file, as a canonical OHLCV frame."""

from __future__ import annotations

from prefect import task

from tradeforge.config import PipelineConfig
from tradeforge.pipeline import run_ingest


@task(
    name="ingest",
    task_run_name="ingest-{ticker}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],  # Yahoo and S3 fail transiently; files do not (no harm).
)
def ingest_task(ticker: str, cfg: PipelineConfig):
    """Fetch or read ``ticker``'s bars; Yahoo fetches are kept as raw snapshots in the store."""
    return run_ingest(ticker, cfg)
