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


def parse_weights(text: str) -> dict[str, float]:
    """``AAPL=0.3,MSFT=0.2,cash=0.5`` (or a JSON object) -> ticker -> weight."""
    text = text.strip()
    try:
        if text.startswith("{"):
            parsed = json.loads(text)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            return {str(k): float(v) for k, v in parsed.items()}
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError("expected TICKER=WEIGHT pairs")
        return {k.strip(): float(v) for k, v in pairs}
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(
            f"{text!r}: {exc}; give e.g. AAPL=0.3,MSFT=0.2,cash=0.5", param_hint="--weights"
        ) from None


def predict(
    ticker: Annotated[
        str | None, typer.Option(help="Instrument whose champion decides, e.g. SPY.")
    ] = None,
    portfolio: Annotated[
        str | None,
        typer.Option(
            help="A universe's name: its portfolio champion's target weights (not with --ticker)."
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            help="With --portfolio: current holdings, e.g. AAPL=0.3,MSFT=0.2,cash=0.5 (sum 1). "
            "Default: all cash, and the output says it was assumed."
        ),
    ] = None,
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

      tradeforge predict --portfolio mega7 --weights AAPL=0.5,cash=0.5 --json
    """
    if (ticker is None) == (portfolio is None):
        raise typer.BadParameter("give one of --ticker or --portfolio", param_hint="--ticker")
    if portfolio is not None:
        _predict_portfolio(portfolio, weights, store, source, start, end, offline,
                           s3_endpoint_url, as_json)  # fmt: skip
        return
    if weights is not None:
        raise typer.BadParameter("only with --portfolio", param_hint="--weights")
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


def _predict_portfolio(
    name: str,
    weights: str | None,
    store: str,
    source: str | None,
    start: str | None,
    end: str | None,
    offline: bool,
    endpoint_url: str | None,
    as_json: bool,
) -> None:
    """``predict --portfolio``: the champion's target weights; bad weights exit 2."""
    from tradeforge.portfolio.predict import WeightsError, predict_portfolio

    current = parse_weights(weights) if weights is not None else None
    try:
        result = predict_portfolio(
            name, store, current=current, source=source, start=start, end=end,
            offline=offline, endpoint_url=endpoint_url,
        )  # fmt: skip
    except WeightsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--weights") from None
    except Exception as exc:  # one clear line naming the input; exit code 1
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    targets = ", ".join(f"{k} {w:.1%}" for k, w in result["weights"].items())
    typer.echo(
        f"{result['portfolio']} {result['timestamp']}: {targets}, cash {result['cash']:.1%} "
        f"(turnover {result['turnover']:.1%}"
        + (", assuming all cash now)" if result["weights_assumed"] else ")")
        + f"\nchampion {result['version_id']} ({result['agent']}) at {result['version_uri']}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to the CLI."""
    app.command("predict")(predict)
