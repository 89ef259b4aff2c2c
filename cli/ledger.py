"""``tradeforge ledger``: a ticker's paper-trading record and the monitor's view of it.

Reads only: the ledger (``<store>/ledger/<TICKER>/``, one Parquet object per bar) and the
champion's card; the monitor's verdict is computed but never acted on here (``tradeforge paper``
and the ``paper/daily`` flow demote). ``GET /ledger/{ticker}`` on ``serve`` answers the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, JsonOpt, StoreOpt, fail


def ledger(
    ticker: Annotated[
        str | None, typer.Option(help="Ticker whose ledger to show, e.g. SPY.")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    last: Annotated[int, typer.Option(min=1, help="Recent decisions to list.")] = 10,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
    portfolio: Annotated[
        str | None, typer.Option(help="Universe whose portfolio ledger to show, e.g. mega7.")
    ] = None,
) -> None:
    """Show recent paper decisions, live versus expected return, drawdown and alarms."""
    if (ticker is None) == (portfolio is None):
        raise typer.BadParameter("give one of --ticker or --portfolio", param_hint="--ticker")
    if portfolio is not None:  # issue 27: a universe's record (cli/paper_portfolio.py)
        from cli.paper_portfolio import show_ledger

        return show_ledger(portfolio, store, last, s3_endpoint_url, as_json)
    from storage.registry import check_ticker
    from tradeforge.inference import open_registry
    from tradeforge.paper.run import ledger_view

    try:
        check_ticker(ticker)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ticker") from None
    show_view(lambda: ledger_view(open_registry(store, s3_endpoint_url), ticker, last), as_json, _print)  # fmt: skip


def show_view(
    load: Callable[[], dict[str, Any]], as_json: bool, show: Callable[[dict[str, Any]], None]
) -> None:
    """Read a ledger's view (exit 1 naming the problem when nothing is recorded or the store
    cannot be read) and print it: one JSON line with ``as_json``, else ``show``'s text."""
    from storage.errors import StoreError
    from tradeforge.paper.ledger import LedgerError

    try:
        view = load()
    except LookupError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    except (StoreError, LedgerError, ValueError) as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(view) + "\n")
        return
    show(view)


def _print(view: dict[str, Any]) -> None:
    rows, verdict = view["records"], view["monitor"]
    typer.echo(f"{view['ticker']}: {view['bars']} bars on paper, equity {rows[-1]['equity']:.4f}")
    typer.echo(f"{'bar':<26} {'action':<6} {'held':<5} {'net':>9} {'equity':>8}  version")
    for r in rows:
        net = "-" if r["net_return"] is None else f"{r['net_return']:+.4%}"
        held = "long" if r["position_before"] else "flat"
        typer.echo(
            f"{r['bar']:<26} {r['action']:<6} {held:<5} {net:>9} {r['equity']:>8.4f}  "
            f"{r['version_id']}"
        )
    line = f"monitor: {verdict['status']}"
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
