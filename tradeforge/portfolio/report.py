"""The portfolio decision as table rows (Prefect artifact, terminal) and as the run summary."""

from __future__ import annotations

from typing import Any

#: Columns of the metrics table, in order.
COLUMNS = ("total_return", "sharpe", "max_drawdown", "turnover")


def decision_rows(decision: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per policy (the challenger, then every baseline): validation and test metrics,
    and the Ledoit-Wolf Sharpe difference against 1/N for the challenger."""
    best = decision["challenger"]
    policies = {f"{best['agent']} seed {best['seed']} (challenger)": best}
    policies |= decision["baselines"]
    rows = []
    for name, result in policies.items():
        row: dict[str, Any] = {"policy": name}
        for window in ("validation", "test"):
            metrics = result.get(window) or {}
            row |= {f"{window}_{k}": round(metrics.get(k, float("nan")), 4) for k in COLUMNS}
        rows.append(row)
    test = decision["sharpe_difference_vs_equal_weight"]
    for window in ("validation", "test"):
        lw = test.get(window) or {}
        rows[0][f"{window}_sharpe_diff_vs_1n"] = lw.get("difference")
        rows[0][f"{window}_lw2008_p"] = lw.get("p_value")
    return rows


def portfolio_summary(
    name: str, universe: Any, boundaries: dict[str, str], decision: dict[str, Any] | None
) -> dict[str, Any]:
    """The run summary's ``portfolio`` object: the universe, its windows and the decision
    (with ``published``: True when the champion pointer now names this run's version)."""
    return {
        "portfolio": {
            "name": name,
            "tickers": list(universe.tickers),
            "universe": universe.report(),
            "notes": list(universe.notes),
            "boundaries": dict(boundaries),
            "published": False,
            **(decision or {}),
        }
    }


def render_portfolio(summary: dict[str, Any]) -> None:
    """Print the portfolio summary: one rich table of every policy, then the decision."""
    from rich.console import Console
    from rich.table import Table

    p = summary["portfolio"]
    console = Console(width=max(Console().width, 160))
    b = p["boundaries"]
    table = Table(
        title=f"{p['name']}: pooled validation {b['val_start']}..{b['test_start']}, "
        f"test {b['test_start']}..{b['end']}",
        caption="after costs; selection and the gate use the pooled validation bars only",
    )
    rows = decision_rows(p)
    columns = list(rows[0])
    for column in columns:
        policy = column == "policy"
        table.add_column(_header(column), justify="left" if policy else "right", no_wrap=policy)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    console.print(table)
    verdict = "[bold green]PROMOTED[/]" if p["promoted"] else "[bold]not promoted[/]"
    console.print(f"{verdict} (not published: no portfolio registry yet): {p['reason']}")


_SHORT = {
    "validation_": "val ", "test_": "test ", "total_return": "return", "max_drawdown": "max DD",
    "sharpe_diff_vs_1n": "dSR vs 1/N", "lw2008_p": "LW p", "_": " ",
}  # fmt: skip


def _header(column: str) -> str:
    for long, short in _SHORT.items():
        column = column.replace(long, short)
    return column
