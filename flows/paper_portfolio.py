"""The paper flow's portfolio branch as a story (issue 27): the universe's champion -> each
asset's new bars -> validated by the same contract -> aligned, decided, recorded, the monitor
judging after each record (a demotion moves the pointer on its bar) -> events.

Only chains tasks; the work is in ``tradeforge.paper.portfolio``. A bad bar in any asset (the
great-expectations suite names the asset and the rule) stops the universe before its record
step: nothing is recorded for it, and ``flows/paper.py`` names it when the run ends Failed.
"""

from __future__ import annotations

from typing import Any

from storage import StoreRef
from tasks.ingest import ingest_task
from tasks.paper_portfolio import (
    portfolio_alarm_task,
    portfolio_champion_task,
    portfolio_monitor_task,
    portfolio_record_task,
    portfolio_report_task,
    portfolio_window_task,
)
from tasks.validate import validate_task
from tradeforge.inference import champion_data


def paper_portfolio(
    name: str,
    store: str,
    source: str | None,
    offline: bool,
    endpoint_url: str | None,
    run_id: str,
) -> dict[str, Any]:
    """One universe: the verified champion, each asset's bars since its training start from its
    card's source, the contract on each asset's bars not yet recorded (with the look-back its
    rules need), then the ledger judged after each record, and the monitor's events."""
    champion = portfolio_champion_task(name, store, endpoint_url)
    refused = champion.get("refused")
    if refused is not None:  # tampered champion: the previous one trades, operators must know
        portfolio_alarm_task(name, refused["reason"])
    ref = StoreRef(store, endpoint_url)
    frames, histories = {}, {}
    for ticker in champion["tickers"]:
        data = champion_data(ticker, champion, source, offline=offline, endpoint_url=endpoint_url)
        ingested = ingest_task(ticker, data, ref if data.source == "yahoo" else None)
        histories[ticker], window = portfolio_window_task(
            name, ticker, ingested, store, endpoint_url
        )
        frames[ticker] = validate_task(ticker, window, data.interval, ref, run_id, docs=False)
    # The monitor judges after each recorded bar (a catch-up's champion is demoted on its bar),
    # unless the version trading is not the pointer's champion (below).
    recorded = portfolio_record_task(
        frames, histories, champion, store, run_id, endpoint_url, refused is None
    )
    if refused is None:
        verdict = portfolio_monitor_task(name, recorded)
    else:  # the pointer's champion is not the one trading: nothing of its own to judge
        verdict = {"status": "refused", "reasons": [refused["reason"]]}
    portfolio_report_task(name, champion, recorded, store, endpoint_url)
    return recorded | {"monitor": verdict}
