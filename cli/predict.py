"""``tradeforge predict``: the champion's action for the latest bar."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cli.options import EndpointOpt, JsonOpt, OfflineOpt, fail
from tradeforge.config import DEFAULT_STORE, DEMO_SOURCE


def predict(
    ticker: Annotated[str, typer.Option(help="Instrument whose champion decides, e.g. SPY.")],
    store: Annotated[
        str,
        typer.Option(
            help="Model store with the champion: a local directory or s3://bucket/prefix."
        ),
    ] = DEFAULT_STORE,
    source: Annotated[
        str,
        typer.Option(
            help="Where the latest bars come from: demo | yahoo | s3://bucket/prefix | a CSV/Parquet file."
        ),
    ] = DEMO_SOURCE,
    start: Annotated[
        str | None, typer.Option(help="First bar to read, YYYY-MM-DD (features need look-back).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Read bars before this date, YYYY-MM-DD; default: all.")
    ] = None,
    interval: Annotated[str, typer.Option(help="Bar interval: 1d or 1h.")] = "1d",
    position: Annotated[
        str, typer.Option(help="What the account holds now: flat or long (the agent sees it).")
    ] = "flat",
    offline: OfflineOpt = False,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the verified champion, ingest and validate the latest bars, print the action.

    Examples:

      tradeforge predict --ticker GOOGL                       # demo data, local store

      tradeforge predict --ticker SPY --source yahoo --store s3://models/tradeforge --json
    """
    from flows.predict import predict as predict_flow

    if position not in ("flat", "long"):
        raise typer.BadParameter(f"{position!r}: use flat or long", param_hint="--position")
    try:
        result = predict_flow(
            ticker=ticker,
            store=store,
            source=source,
            start=start,
            end=end,
            interval=interval,
            position=position,
            offline=offline,
            s3_endpoint_url=s3_endpoint_url,
        )
    except Exception as exc:  # one clear line; the traceback is in the flow run's logs
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        typer.echo(
            f"{result['ticker']} {result['timestamp']} close {result['close']:.4f}: "
            f"{result['action_name'].upper()} (holding {result['position']}; Q {result['q_values']})\n"
            f"champion {result['version_id']} ({result['agent']}) at {result['version_uri']}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to the CLI."""
    app.command("predict")(predict)
