"""Paper tasks for portfolio champions (issue 27): the universe's champion, each asset's window
of bars to validate, the universe's bars recorded (judged after each record), and the monitor's
verdicts as events."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from tasks.paper import ALARM_EVENT, emit_verdicts
from tasks.predict import STORE_AWAY_RETRIES
from tradeforge.paper.portfolio import (
    last_recorded,
    portfolio_champion,
    portfolio_cone,
    record_portfolio_bars,
)
from tradeforge.paper.run import validation_window
from tradeforge.report import artifact_key, images_markdown


def _resource(name: str) -> dict[str, str]:
    return {"prefect.resource.id": f"tradeforge.portfolio.{name}", "portfolio": name}


@task(name="paper-portfolio-champion", task_run_name="paper-champion-portfolio-{name}", **STORE_AWAY_RETRIES)  # fmt: skip
def portfolio_champion_task(name: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The verified policy that trades the universe (``refused`` names a tampered champion
    passed over for the previous intact one), with its tickers."""
    return portfolio_champion(name, store, endpoint_url)


@task(name="paper-portfolio-window", task_run_name="paper-window-{name}-{ticker}", **STORE_AWAY_RETRIES)  # fmt: skip
def portfolio_window_task(
    name: str, ticker: str, ingested: Any, store: str, endpoint_url: str | None = None
) -> tuple[pd.DataFrame, Any]:
    """One asset's bars that earlier runs validated, and its new bars (with the contract's
    look-back) that the contract checks now; everything when the universe's ledger is empty."""
    return validation_window(ingested, last_recorded(name, store, endpoint_url))


@task(
    name="paper-portfolio-record",
    task_run_name="paper-portfolio-{champion[portfolio]}",
    # A retry is safe: a bar already recorded with the same decision is not written again.
    **STORE_AWAY_RETRIES,
)
def portfolio_record_task(
    frames: dict[str, pd.DataFrame],
    histories: dict[str, pd.DataFrame],
    champion: dict[str, Any],
    store: str,
    run_id: str,
    endpoint_url: str | None = None,
    monitor: bool = True,
) -> dict[str, Any]:
    """Align the validated assets and record every bar since the universe's last record, the
    monitor judging after each one (a demotion moves the pointer on its bar)."""
    return record_portfolio_bars(
        frames, champion, store, run_id=run_id, endpoint_url=endpoint_url, histories=histories,
        monitor=monitor,
    )  # fmt: skip


@task(name="paper-portfolio-monitor", task_run_name="monitor-portfolio-{name}")
def portfolio_monitor_task(name: str, recorded: dict[str, Any]) -> dict[str, Any]:
    """The tickers' events (``tasks.paper.emit_verdicts``) on the universe's resource: one per
    demotion made while recording, naming its bar, and a warning on the last verdict."""
    return emit_verdicts(_resource(name), recorded)


@task(name="paper-portfolio-alarm", task_run_name="paper-alarm-portfolio-{name}")
def portfolio_alarm_task(name: str, reason: str) -> None:
    """The universe's champion failed its checksum: the alarm event goes out (the pointer is
    not moved; ``tasks.paper.alarm_task`` says why)."""
    emit_event(
        event=ALARM_EVENT,
        resource=_resource(name),
        payload={"status": "refused", "reasons": [reason]},
    )


@task(name="paper-portfolio-report", task_run_name="paper-report-portfolio-{name}")
def portfolio_report_task(
    name: str,
    champion: dict[str, Any],
    recorded: dict[str, Any],
    store: str,
    endpoint_url: str | None = None,
) -> None:
    """Artifacts: the run's last decisions (weights before and after, net return, equity), and
    the live equity inside the validation cone."""
    rows = [
        {
            "bar": r["bar"],
            "version": r["version_id"],
            "weights after": ", ".join(f"{k} {v:.3f}" for k, v in r["weights_after"].items()),
            "net return": r["net_return"],
            "equity": r["equity"],
        }
        for r in recorded["records"]
    ]
    create_table_artifact(
        key=artifact_key("paper-portfolio", name),
        table=rows,
        description=f"portfolio {name}: the last paper decisions ({recorded['ledger']})",
    )
    png = portfolio_cone(name, store, champion["agent"], champion["version_id"], endpoint_url)
    if png is not None:
        create_markdown_artifact(
            key=artifact_key("paper-cone-portfolio", name),
            markdown=images_markdown({"live equity in the validation cone": png}),
            description=f"portfolio {name}: champion {champion['version_id']} on paper",
        )
