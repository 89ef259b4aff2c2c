"""Ingest task: one ticker's bars from Yahoo, S3 or a local file, as a canonical OHLCV frame."""

from __future__ import annotations

from prefect import task

from storage import StoreRef
from tasks.policies import NETWORK_RETRY_DELAYS, RETRY_JITTER, SOURCE_CACHE, retry_if_transient
from tradeforge.config import DataConfig


@task(
    name="ingest",
    task_run_name="ingest-{ticker}",
    retries=3,
    retry_delay_seconds=NETWORK_RETRY_DELAYS,  # Yahoo and S3 fail transiently; a bad file does not
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_if_transient,
    cache_policy=SOURCE_CACHE,  # same source bytes + same inputs + same code -> from cache
)
def ingest_task(ticker: str, data: DataConfig, snapshots: StoreRef | None = None):
    """Fetch or read ``ticker``'s bars; Yahoo fetches are kept as raw snapshots in ``snapshots``."""
    from tradeforge.data import ingest

    return ingest(ticker, data, snapshot_store=snapshots.open() if snapshots else None)


@task(name="preflight")
def preflight_task(
    tickers: tuple[str, ...], source: str, store: str, endpoint_url: str | None = None
) -> list[str]:
    """Fail in seconds, before any data is read: ticker symbols, the source, the store.

    No retries: an unreachable store or a missing file is reported, not waited for (the
    ingest and promote tasks retry transient failures later).
    """
    from tradeforge.preflight import preflight

    return preflight(tickers, source, store, endpoint_url=endpoint_url)
