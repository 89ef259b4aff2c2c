"""The paper flow as a story: per ticker, champion -> new bars -> validated -> decided -> ledger
-> monitored (a warning or a demotion is a Prefect event).

Only chains tasks; the work is in ``tradeforge.paper``. One ticker's failure (no champion, an
unreachable source, a bar that breaks the data contract, a tampered champion without an intact
previous one) records nothing for it and does not stop the others; the run then ends Failed naming each failed ticker and its
reason, after the others are recorded. ``tradeforge paper`` runs the same loop without Prefect.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.hooks import NOTIFY_HOOKS
from flows.paper_portfolio import paper_portfolio
from storage import StoreRef
from storage.errors import IntegrityError
from tasks.ingest import ingest_task
from tasks.paper import (
    alarm_task,
    monitor_task,
    paper_champion_task,
    paper_tickers_task,
    record_task,
    report_task,
    window_task,
)
from tasks.validate import validate_task
from tradeforge.config import DEFAULT_STORE
from tradeforge.inference import champion_data


class PaperRunFailed(RuntimeError):
    """Some tickers could not be recorded; the message names each one and why."""


@flow(name="paper", log_prints=True, **NOTIFY_HOOKS)
def paper_pipeline(
    tickers: list[str] | None = None,
    store: str = DEFAULT_STORE,
    source: str | None = None,
    offline: bool = False,
    s3_endpoint_url: str | None = None,
    portfolios: list[str] | None = None,
) -> dict[str, Any]:
    """Record each champion's decisions on the bars since its ledger's last record.

    Args:
        tickers: instruments to trade on paper, e.g. ["SPY"]; None = every ticker of the store
            with a champion (none when only portfolios are given).
        store: store with the champions and the ledger, a local directory or s3://bucket/prefix.
        source: where the bars come from; None = the source in each champion's model card.
        offline: serve Yahoo data from stored snapshots only.
        s3_endpoint_url: endpoint of an S3-compatible server (SeaweedFS, MinIO, ...).
        portfolios: universe names whose portfolio champions trade on paper, e.g. ["mega7"]
            (issue 27; recorded under "portfolio <name>").
    """
    run_id = flow_run.get_id() or "local"
    done: dict[str, Any] = {}
    failed: dict[str, str] = {}
    # Without tickers, every ticker with a champion; none when only universes are asked for.
    wanted = (
        [] if portfolios and not tickers else paper_tickers_task(tickers, store, s3_endpoint_url)
    )
    for ticker in wanted:
        try:
            done[ticker] = paper_ticker(ticker, store, source, offline, s3_endpoint_url, run_id)
        except Exception as exc:  # recorded and reported below; the other tickers go on
            failed[ticker] = f"{type(exc).__name__}: {exc}"
            print(f"{ticker}: nothing recorded: {failed[ticker]}")
            if isinstance(exc, IntegrityError):  # a tampered champion: operators must know now
                alarm_task(ticker, failed[ticker])
            continue
        got = done[ticker]
        verdict = got["monitor"]
        print(
            f"{ticker}: {got['recorded']} new bar(s), equity {got['equity']} ({got['ledger']}); "
            f"monitor: {verdict['status']} {'; '.join(verdict['reasons'])}"
        )
    for name in portfolios or []:  # issue 27: flows/paper_portfolio.py
        key = f"portfolio {name}"
        try:
            done[key] = paper_portfolio(name, store, source, offline, s3_endpoint_url, run_id)
        except Exception as exc:  # reported below with the tickers; the others go on
            failed[key] = f"{type(exc).__name__}: {exc}"
            print(f"{key}: nothing recorded: {failed[key]}")
    if failed:
        raise PaperRunFailed(
            f"paper: {len(failed)} of {len(failed) + len(done)} ticker(s) failed "
            f"(the others are recorded): " + "; ".join(f"{t}: {r}" for t, r in failed.items())
        )
    return done


def paper_ticker(
    ticker: str,
    store: str,
    source: str | None,
    offline: bool,
    endpoint_url: str | None,
    run_id: str,
) -> dict[str, Any]:
    """One ticker: the verified champion, its source's bars since its training start, the
    great-expectations contract on the bars not yet recorded (with the look-back its rules need;
    a bad bar stops this ticker here), then the ledger."""
    champion = paper_champion_task(ticker, store, endpoint_url)
    refused = champion.get("refused")
    if refused is not None:  # tampered champion: the previous one trades, operators must know
        alarm_task(ticker, refused["reason"])
    data = champion_data(ticker, champion, source, offline=offline, endpoint_url=endpoint_url)
    ref = StoreRef(store, endpoint_url)
    ingested = ingest_task(ticker, data, ref if data.source == "yahoo" else None)
    history, window = window_task(ticker, ingested, store, endpoint_url)
    frame = validate_task(ticker, window, data.interval, ref, run_id, docs=False)
    # The monitor judges after each recorded bar (a catch-up's champion is demoted on its bar);
    # not when the pointer's champion is not the one trading: nothing of its own to judge.
    recorded = record_task(frame, champion, store, run_id, endpoint_url, history, refused is None)
    if refused is None:
        verdict = monitor_task(ticker, recorded)
    else:
        verdict = {"status": "refused", "reasons": [refused["reason"]]}
    report_task(ticker, champion, store, endpoint_url)
    return recorded | {"monitor": verdict}
