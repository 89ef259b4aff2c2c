"""``tradeforge ledger``: a ticker's paper-trading record and the monitor's view of it.

Reads only: the ledger (``<store>/ledger/<TICKER>/``, one Parquet object per bar) and the
champion's card; the monitor's verdict is computed but never acted on here (``tradeforge paper``
and the ``paper/daily`` flow demote).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, JsonOpt, StoreOpt, fail


def ledger(
    ticker: Annotated[str, typer.Option(help="Ticker whose ledger to show, e.g. SPY.")],
    store: StoreOpt = DEFAULT_STORE,
    last: Annotated[int, typer.Option(min=1, help="Recent decisions to list.")] = 10,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show recent paper decisions, live versus expected return, drawdown and alarms."""
    import pandas as pd

    from storage.errors import StoreError
    from storage.registry import check_ticker
    from tradeforge.inference import open_registry
    from tradeforge.paper.ledger import Ledger, LedgerError
    from tradeforge.paper.monitor import monitor_champion

    try:
        check_ticker(ticker)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ticker") from None
    try:
        registry = open_registry(store, s3_endpoint_url)
        frame = Ledger(registry.store, ticker).frame()
        verdict = monitor_champion(registry, ticker, demote=False)
    except (StoreError, LedgerError, ValueError) as exc:
        raise fail(exc) from exc
    if frame.empty:
        typer.secho(f"error: no paper record for {ticker} in {store}", fg="red", err=True)
        raise typer.Exit(1)
    recent = frame.tail(last)
    rows = [
        {
            "bar": str(r.bar_time),
            "version_id": r.version_id,
            "action": "long" if r.action else "flat",
            "position_before": r.position_before,
            "position_after": r.position_after,
            "net_return": None if pd.isna(r.net_return) else float(r.net_return),
            "equity": r.equity,
        }
        for r in recent.itertuples()
    ]
    if as_json:
        sys.stdout.write(json.dumps({"ticker": ticker, "records": rows, "monitor": verdict}) + "\n")
        return
    typer.echo(f"{ticker}: {len(frame)} bars on paper, equity {frame['equity'].iloc[-1]:.4f}")
    typer.echo(f"{'bar':<26} {'action':<6} {'held':<5} {'net':>9} {'equity':>8}  version")
    for r in rows:
        net = "-" if r["net_return"] is None else f"{r['net_return']:+.4%}"
        held = "long" if r["position_before"] else "flat"
        typer.echo(
            f"{r['bar']:<26} {r['action']:<6} {held:<5} {net:>9} {r['equity']:>8.4f}  "
            f"{r['version_id']}"
        )
    status = verdict["status"]
    line = f"monitor: {status}"
    if "cum_return" in verdict:
        line += (
            f"; live {verdict['cum_return']:+.2%} over {verdict['bars']} bars (expected "
            f"{verdict['expected_return']:+.2%}, 95% cone [{verdict['cone_low']:+.2%}, "
            f"{verdict['cone_high']:+.2%}]); drawdown {verdict['max_drawdown']:.2%} (bound "
            f"{verdict['drawdown_bound']:.2%}); CUSUM {verdict['cusum']:.2f} / "
            f"{verdict['cusum_threshold']:.2f}"
        )
    typer.echo(line)
    for reason in verdict["reasons"]:
        typer.echo(f"  {reason}")


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` command to the CLI."""
    app.command("ledger")(ledger)
