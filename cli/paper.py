"""``tradeforge paper``: the champions trade on paper; each new bar is recorded in the ledger.

Runs ``tradeforge.paper.run.paper_ticker`` per ticker in this process (no Prefect server, no
TensorFlow; the bars get the contract's error rules in pandas, as ``tradeforge predict`` does).
The Prefect flow ``flows/paper.py`` (deployment ``paper/daily``) runs the same loop with the
full great-expectations suite. One ticker's failure does not stop the others; the command
exits 1 naming every ticker that failed, after the others are recorded.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, JsonOpt, OfflineOpt, split_list


def paper(
    tickers: Annotated[
        list[str] | None,
        typer.Option(
            help="Tickers to trade, e.g. SPY,AAPL. Default: every ticker with a champion."
        ),
    ] = None,
    store: Annotated[
        str,
        typer.Option(help="Store with the champions and the ledger: a directory or s3://..."),
    ] = DEFAULT_STORE,
    source: Annotated[
        str | None,
        typer.Option(
            help="Where the bars come from (demo | yahoo | s3://... | a file). Default: the "
            "source each champion was trained on (its model card)."
        ),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Drive every bar from --from to the source's last bar through the same loop, "
            "into a replay ledger (replay/<FROM>/<TICKER>/), apart from the live one.",
        ),
    ] = False,
    from_date: Annotated[
        str | None, typer.Option("--from", help="First bar of a --replay, YYYY-MM-DD.")
    ] = None,
    offline: OfflineOpt = False,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
    portfolio: Annotated[
        list[str] | None,
        typer.Option(
            "--portfolio",
            help="Universe names whose portfolio champions trade on paper, e.g. mega7 "
            "(without --tickers: only these).",
        ),
    ] = None,
) -> None:
    """Record the champions' decisions on every bar since each ledger's last record.

    Examples:

      tradeforge paper --tickers SPY --store ./store            # the bars since the last run

      tradeforge paper --tickers SPY --replay --from 2016-07-01 # backtest through the same code

      tradeforge paper --portfolio mega7 --store ./store       # a portfolio champion's weights
    """
    if replay != (from_date is not None):
        raise typer.BadParameter("--replay and --from DATE go together", param_hint="--from")
    if from_date is not None:
        try:
            date.fromisoformat(from_date)
        except ValueError:
            raise typer.BadParameter(
                f"{from_date!r}: use YYYY-MM-DD", param_hint="--from"
            ) from None
    names = split_list(tickers)
    universes = split_list(portfolio)  # issue 27: portfolio champions (cli/paper_portfolio.py)
    if universes:
        from cli.paper_portfolio import check_names

        check_names(universes)
    from storage.registry import check_ticker
    from tradeforge.paper.run import paper_ticker, tickers_with_champion

    for name in names:
        try:
            check_ticker(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--tickers") from None
    if not names and not universes:
        names = tickers_with_champion(store, s3_endpoint_url)
        if not names:
            typer.secho(f"error: no ticker in {store} has a champion", fg="red", err=True)
            raise typer.Exit(1)
    done: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for ticker in names:
        try:
            done.append(
                paper_ticker(
                    ticker,
                    store,
                    source=source,
                    replay_from=from_date,
                    offline=offline,
                    endpoint_url=s3_endpoint_url,
                )
            )
        except Exception as exc:  # one ticker's failure must not stop the others
            failed[ticker] = f"{type(exc).__name__}: {exc}"
    portfolios: list[dict[str, Any]] = []
    if universes:
        from cli.paper_portfolio import print_portfolios, run_portfolios

        portfolios, lost = run_portfolios(
            universes, store, source=source, replay_from=from_date, offline=offline,
            endpoint_url=s3_endpoint_url,
        )  # fmt: skip
        failed |= lost
        if not as_json:
            print_portfolios(portfolios)
    _report(done, failed, as_json, portfolios)
    if failed:
        raise typer.Exit(1)


def _report(
    done: list[dict[str, Any]],
    failed: dict[str, str],
    as_json: bool,
    portfolios: list[dict[str, Any]] | None = None,
) -> None:
    for ticker, reason in failed.items():
        typer.secho(f"error: {ticker}: {reason}", fg="red", err=True)
    for s in done:  # recorded, but by the previous champion: an operator must look
        if s.get("refused"):
            typer.secho(f"ALARM: {s['ticker']}: {s['refused']['reason']}", fg="red", err=True)
    if as_json:
        out = {"tickers": done, "failed": failed}
        if portfolios is not None:
            out["portfolios"] = portfolios
        sys.stdout.write(json.dumps(out) + "\n")
        return
    for s in done:
        held = "-" if s["position"] is None else ("long" if s["position"] else "flat")
        typer.echo(
            f"{s['ticker']}: {s['recorded']} new bar(s)"
            + (f" {s['first_bar'][:10]} .. {s['last_bar'][:10]}" if s["recorded"] else "")
            + f"; holding {held}, equity {s['equity'] or 1.0:.4f} (champion {s['version_id']})\n"
            f"  ledger {s['ledger']}"
        )
        print_verdict(s.get("monitor"), s.get("demotions"))


def print_verdict(
    verdict: dict[str, Any] | None, demotions: list[dict[str, Any]] | None = None
) -> None:
    """The monitor's verdict under a run's line, and each demotion in red: ``demotions`` are
    the run's verdicts judged after each bar (each names its bar); without them, the verdict's
    own demotion."""
    if verdict:
        typer.echo(f"  monitor: {verdict['status']} {'; '.join(verdict['reasons'])}".rstrip())
    if demotions is None:
        demotions = [verdict] if verdict and verdict.get("demotion") else []
    for judged in demotions:
        done = judged["demotion"]
        what = "DEMOTED" if done["moved"] else "demoted (simulated: a replay)"
        if done["moved"] or done.get("simulated"):
            at = f" at bar {done['bar']}" if done.get("bar") else ""
            typer.secho(
                f"  {what} {done['demoted']}{at}; champion now {done['champion'] or 'none'}",
                fg="red",
            )


def register(app: typer.Typer) -> None:
    """Add the ``paper`` command to the CLI."""
    app.command("paper")(paper)
