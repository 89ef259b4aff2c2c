"""Paper tasks: which tickers trade, and one ticker's new bars recorded in the ledger."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from tasks.predict import STORE_AWAY_RETRIES
from tradeforge.inference import open_registry
from tradeforge.paper.plots import paper_report
from tradeforge.paper.run import (
    last_recorded,
    paper_champion,
    record_bars,
    tickers_with_champion,
    validation_window,
)
from tradeforge.report import artifact_key, images_markdown

#: Event names: a warning (outside the 95% cone), a demotion that moved the pointer, and a
#: demotion verdict whose pointer had already been moved by another writer.
WARNING_EVENT = "tradeforge.paper.warning"
DEMOTED_EVENT = "tradeforge.champion.demoted"
ALARM_EVENT = "tradeforge.paper.alarm"


@task(name="paper-tickers")
def paper_tickers_task(
    tickers: list[str] | None, store: str, endpoint_url: str | None = None
) -> list[str]:
    """The tickers given, or every ticker of the store with a champion."""
    return list(tickers) if tickers else tickers_with_champion(store, endpoint_url)


@task(name="paper-champion", task_run_name="paper-champion-{ticker}", **STORE_AWAY_RETRIES)
def paper_champion_task(ticker: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """The verified policy that trades on paper: the champion, or the previous intact one in
    place of a tampered champion (``refused`` then says which and why; the pointer stays)."""
    return paper_champion(ticker, store, endpoint_url)


@task(
    name="paper-window",
    task_run_name="paper-window-{ticker}",
    **STORE_AWAY_RETRIES,
)
def window_task(
    ticker: str, ingested: Any, store: str, endpoint_url: str | None = None
) -> tuple[pd.DataFrame, Any]:
    """The bars earlier runs validated, and the new bars (with the contract's look-back) that
    the contract checks now: everything when the ledger is empty."""
    return validation_window(ingested, last_recorded(ticker, store, endpoint_url))


@task(
    name="paper-record",
    task_run_name="paper-{champion[ticker]}",
    # A retry is safe: a bar already recorded with the same decision is not written again.
    **STORE_AWAY_RETRIES,
)
def record_task(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    run_id: str,
    endpoint_url: str | None = None,
    history: pd.DataFrame | None = None,
    monitor: bool = True,
) -> dict[str, Any]:
    """Decide and record every validated bar since the ledger's last record, the monitor
    judging after each one (a demotion moves the pointer on its bar; ``history``: the bars
    before ``frame`` that earlier runs validated)."""
    return record_bars(
        frame,
        champion,
        store,
        run_id=run_id,
        endpoint_url=endpoint_url,
        history=history,
        monitor=monitor,
    )


@task(name="paper-monitor", task_run_name="monitor-{ticker}")
def monitor_task(ticker: str, recorded: dict[str, Any]) -> dict[str, Any]:
    """Events for operators from the monitor's verdicts while recording: each demotion (moved:
    demoted; pointer moved by someone else first: alarm) and a warning on the last verdict.
    Returns the verdict to report (``Watch.verdict``)."""
    return emit_verdicts(
        {"prefect.resource.id": f"tradeforge.ticker.{ticker}", "ticker": ticker}, recorded
    )


def emit_verdicts(resource: dict[str, str], recorded: dict[str, Any]) -> dict[str, Any]:
    """One event per demotion made while recording (each names its bar) and a warning event on
    the last verdict, about ``resource`` (a ticker's or a universe's); returns the last verdict."""
    demotions = recorded.get("demotions", [])
    verdict = recorded["monitor"]
    for judged in [*demotions, *([verdict] if verdict["status"] == "warning" else [])]:
        event = WARNING_EVENT if judged["status"] == "warning" else ALARM_EVENT
        if judged.get("demotion", {}).get("moved"):
            event = DEMOTED_EVENT
        emit_event(event=event, resource=resource, payload=judged)
    return verdict


@task(name="paper-alarm", task_run_name="paper-alarm-{ticker}")
def alarm_task(ticker: str, reason: str) -> None:
    """A ticker's champion failed its checksum: it is refused (the previous intact champion
    trades in its place, else nothing is recorded) and the alarm event goes out, which
    ``make up``'s automation sends to the notification block. The pointer is not moved: a
    mismatch may be a damaged copy, not a bad model; an operator decides."""
    emit_event(
        event=ALARM_EVENT,
        resource={"prefect.resource.id": f"tradeforge.ticker.{ticker}", "ticker": ticker},
        payload={"status": "refused", "reasons": [reason]},
    )


@task(name="paper-report", task_run_name="paper-report-{ticker}")
def report_task(
    ticker: str, champion: dict[str, Any], store: str, endpoint_url: str | None = None
) -> None:
    """Artifacts: the last decisions, and the live equity inside the validation cone."""
    report = paper_report(
        open_registry(store, endpoint_url), ticker, champion["agent"], champion["version_id"]
    )
    create_table_artifact(
        key=artifact_key("paper", ticker),
        table=report["rows"],
        description=f"{ticker}: the last paper decisions (ledger in {store})",
    )
    if report["png"] is not None:
        create_markdown_artifact(
            key=artifact_key("paper-cone", ticker),
            markdown=images_markdown({"live equity in the validation cone": report["png"]}),
            description=f"{ticker}: champion {champion['version_id']} on paper",
        )
