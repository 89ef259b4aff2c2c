"""The predict flow as a story: verified champion -> latest bars -> validated -> action.

Only chains tasks; the work is in ``tradeforge.inference`` (and the shared ingest / validate
tasks, so a deployment runs the full great-expectations suite). ``tradeforge predict`` runs the
same ``tradeforge.inference`` code without Prefect (``inference.predict``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.hooks import NOTIFY_HOOKS
from storage import StoreRef
from tasks.ingest import ingest_task
from tasks.predict import champion_task, predict_task
from tasks.validate import validate_task
from tradeforge.config import DEFAULT_STORE, DEMO_SOURCE, DataConfig


@flow(name="predict", log_prints=True, **NOTIFY_HOOKS)
def predict(
    ticker: str,
    store: str = DEFAULT_STORE,
    source: str | None = None,
    start: str | None = None,
    end: str | None = None,
    interval: str | None = None,
    position: str = "flat",
    offline: bool = False,
    s3_endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The champion's action (flat or long) for the latest bar of ``ticker``.

    Args:
        ticker: instrument whose champion decides, e.g. "SPY".
        store: model store holding the champion, a local directory or s3://bucket/prefix.
        source: where the latest bars come from: "demo" | "yahoo" | "s3://bucket/prefix" | a file;
            None = the source recorded in the champion's model card.
        start: first bar to read (YYYY-MM-DD); None = all history (features need look-back).
        end: read bars before this date (YYYY-MM-DD, exclusive); None = up to the latest bar.
        interval: bar interval, "1d" or "1h"; None = the one the champion was trained on.
        position: what the account holds now, "flat" or "long" (part of the observation).
        offline: serve Yahoo data from stored snapshots only.
        s3_endpoint_url: endpoint of an S3-compatible server (SeaweedFS, MinIO, ...).
    """
    champion = champion_task(ticker, store, s3_endpoint_url)
    data = DataConfig(
        tickers=(ticker,),
        source=source or champion["source"] or DEMO_SOURCE,
        start=start,
        end=end,
        interval=interval or champion["interval"],
        offline=offline,
        s3_endpoint_url=s3_endpoint_url,
    )
    ref = StoreRef(store, s3_endpoint_url)
    ingested = ingest_task(ticker, data, ref if data.source == "yahoo" else None)
    frame = validate_task(ticker, ingested, data.interval, ref, flow_run.get_id() or "local")
    result = predict_task(frame, champion, store, position, s3_endpoint_url)
    print(
        f"{result['ticker']} {result['timestamp']}: {result['action_name']} "
        f"(champion {result['version_id']})"
    )
    return result
