"""Paper tasks: which tickers trade, and one ticker's new bars recorded in the ledger."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task

from tasks.predict import _store_was_away
from tradeforge.paper.run import record_bars, tickers_with_champion


@task(name="paper-tickers")
def paper_tickers_task(
    tickers: list[str] | None, store: str, endpoint_url: str | None = None
) -> list[str]:
    """The tickers given, or every ticker of the store with a champion."""
    return list(tickers) if tickers else tickers_with_champion(store, endpoint_url)


@task(
    name="paper-record",
    task_run_name="paper-{champion[ticker]}",
    # A retry is safe: a bar already recorded with the same decision is not written again.
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=_store_was_away,
)
def record_task(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    run_id: str,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Decide and record every validated bar since the ledger's last record."""
    return record_bars(frame, champion, store, run_id=run_id, endpoint_url=endpoint_url)
