"""``tradeforge predict``: the champion's action for the latest bar, in about a second.

Runs ``tradeforge.inference.predict`` in this process: no Prefect server, no TensorFlow (the
champion's numpy policy), no great-expectations (the bars get the contract's error rules in
pandas). The Prefect flow ``flows/predict.py`` runs the same code for deployments.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, JsonOpt, OfflineOpt, fail, refuse_relabelling

POSITIONS = ("flat", "long")


def predict(
    ticker: Annotated[str, typer.Option(help="Instrument whose champion decides, e.g. SPY.")],
    store: Annotated[
        str,
        typer.Option(
            help="Model store with the champion: a local directory or s3://bucket/prefix."
        ),
    ] = DEFAULT_STORE,
    source: Annotated[
        str | None,
        typer.Option(
            help="Where the latest bars come from: demo | yahoo | s3://bucket/prefix | a "
            "CSV/Parquet file. Default: the source the champion was trained on (its model card)."
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First bar to read, YYYY-MM-DD (features need look-back).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Read bars before this date, YYYY-MM-DD; default: all.")
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(help="Bar interval: 1d or 1h. Default: the champion's training interval."),
    ] = None,
    position: Annotated[
        str | None,
        typer.Option(
            help="What the account holds now: flat or long (the agent sees it). "
            "Default: flat, and the output says it was assumed."
        ),
    ] = None,
    offline: OfflineOpt = False,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the verified champion, read and check the latest bars, print the action.

    Examples:

      tradeforge predict --ticker GOOGL                       # the champion's own source

      tradeforge predict --ticker SPY --position long --store s3://models/tradeforge --json
    """
    if position is not None and position not in POSITIONS:
        raise typer.BadParameter(f"{position!r}: use flat or long", param_hint="--position")
    if interval is not None and interval not in ("1d", "1h"):
        raise typer.BadParameter(f"{interval!r}: use 1d or 1h", param_hint="--interval")
    ticker = ticker.strip().upper()  # as train and validate spell it (the registry's keys)
    refuse_relabelling(source, [ticker])
    from tradeforge.inference import predict as run_predict

    try:
        result = run_predict(
            ticker,
            store,
            source=source,
            position=position,
            start=start,
            end=end,
            interval=interval,
            offline=offline,
            endpoint_url=s3_endpoint_url,
        )
    except Exception as exc:  # one clear line naming the input; exit code 1
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    held = (
        f"assuming the account is {result['position']} (say --position long|flat)"
        if result["position_assumed"]
        else f"holding {result['position']}"
    )
    q = ", ".join(f"{name} {v:+.4f}" for name, v in zip(POSITIONS, result["q_values"], strict=True))
    typer.echo(
        f"{result['ticker']} {result['timestamp']} close {result['close']:.4f}: "
        f"{result['action_name'].upper()}, {held}; Q {q}\n"
        f"champion {result['version_id']} ({result['agent']}, {result['loaded_from']}) "
        f"at {result['version_uri']}\n"
        f"bars from {result['read_from']}"
        + (" (the source recorded in its model card)" if result["source_recorded"] else "")
    )


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to the CLI."""
    app.command("predict")(predict)
