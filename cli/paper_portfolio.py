"""The portfolio branches of ``tradeforge paper`` and ``tradeforge ledger`` (issue 27).

``tradeforge paper --portfolio NAME`` runs ``tradeforge.paper.portfolio.paper_portfolio`` per
universe in this process (no Prefect, no TensorFlow, no great-expectations: each asset's bars
get the contract's error rules in pandas, as the tickers' paper runs do). ``tradeforge ledger
--portfolio NAME`` shows the universe's record and the monitor's view of it.
"""

from __future__ import annotations

from typing import Any

import typer


def check_names(names: list[str]) -> None:
    """Exit 2 naming ``--portfolio`` when a name is not a universe name."""
    from storage.registry import check_portfolio_name

    for name in names:
        try:
            check_portfolio_name(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--portfolio") from None


def run_portfolios(
    names: list[str], store: str, **options: Any
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each universe's paper run (``options`` as ``paper_portfolio``'s); one universe's failure
    does not stop the others. Returns the summaries and ``portfolio NAME`` -> reason."""
    from tradeforge.paper.portfolio import paper_portfolio

    done, failed = [], {}
    for name in names:
        try:
            done.append(paper_portfolio(name, store, **options))
        except Exception as exc:  # named in the report, the others go on
            failed[f"portfolio {name}"] = f"{type(exc).__name__}: {exc}"
    return done, failed


def print_portfolios(done: list[dict[str, Any]]) -> None:
    """The text report of the universes recorded."""
    from cli.paper import print_verdict

    for s in done:
        if s.get("refused"):
            typer.secho(f"ALARM: portfolio {s['portfolio']}: {s['refused']['reason']}", fg="red", err=True)  # fmt: skip
        span = f" {s['first_bar'][:10]} .. {s['last_bar'][:10]}" if s["recorded"] else ""
        typer.echo(
            f"portfolio {s['portfolio']}: {s['recorded']} new bar(s){span}; weights "
            f"{_weights(s['weights'], s['cash'])}, equity {s['equity'] or 1.0:.4f} "
            f"(champion {s['version_id']})\n  ledger {s['ledger']}"
        )
        print_verdict(s.get("monitor"), s.get("demotions"))


def _weights(weights: dict[str, float] | None, cash: float | None) -> str:
    if weights is None:
        return "-"
    shown = {**weights, "cash": cash}
    # Weights under 0.05% (a cash of 1e-17 after float rounding) print as nothing.
    return " ".join(f"{k} {v:.1%}" for k, v in shown.items() if abs(v) >= 5e-4) or "-"


def show_ledger(name: str, store: str, last: int, endpoint_url: str | None, as_json: bool) -> None:
    """``tradeforge ledger --portfolio NAME``: recent decisions (weights before and after,
    net return, equity) and the monitor's verdict, read only."""
    from cli.ledger import show_view
    from tradeforge.paper.portfolio import portfolio_ledger_view

    check_names([name])
    show_view(lambda: portfolio_ledger_view(name, store, endpoint_url, last), as_json, _print)


def _print(view: dict[str, Any]) -> None:
    name, rows, verdict = view["portfolio"], view["records"], view["monitor"]
    typer.echo(f"portfolio {name}: {view['bars']} bars on paper, equity {rows[-1]['equity']:.4f}")
    typer.echo(f"{'bar':<26} {'net':>9} {'equity':>8}  weights after (held before)  version")
    for r in rows:
        net = "-" if r["net_return"] is None else f"{r['net_return']:+.4%}"
        after, before = r["weights_after"], r["weights_before"]
        typer.echo(
            f"{r['bar']:<26} {net:>9} {r['equity']:>8.4f}  "
            f"{_weights(after, after['cash'])} ({_weights(before, before['cash'])})  "
            f"{r['version_id']}"
        )
    typer.echo(f"monitor: {verdict['status']}")
    for reason in verdict["reasons"]:
        typer.echo(f"  {reason}")
