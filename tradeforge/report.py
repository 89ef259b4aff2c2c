"""The run summary: one JSON-ready dict, table rows for the UI, and the terminal table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tradeforge.config import PipelineConfig

SUMMARY_METRICS = ("total_return", "sharpe", "max_drawdown")


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) from readable parts."""
    text = "-".join(str(p) for p in parts).lower()
    return "-".join(filter(None, "".join(c if c.isalnum() else "-" for c in text).split("-")))


def summarize(decisions: list[dict[str, Any]], cfg: PipelineConfig) -> dict[str, Any]:
    """The run's summary: per ticker the candidates, baselines and the promotion decision."""
    return {
        "store": cfg.store,
        "source": cfg.data.source,
        "agents": list(cfg.agents),
        "seeds": list(cfg.seeds),
        "steps": cfg.dqn.total_steps,
        "env": asdict(cfg.env),
        "tickers": decisions,
    }


def _fmt(value: Any, pct: bool) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if pct else f"{value:.2f}"


def metric_rows(evaluations: list[dict[str, Any]], baselines: dict[str, Any]) -> list[dict]:
    """One row per agent/seed and per baseline: validation and test return / Sharpe / drawdown."""
    rows = []
    named = [(f"{e['agent']} seed {e['seed']}", e) for e in evaluations]
    named += [(f"baseline: {name}", b) for name, b in baselines.items()]
    for label, result in named:
        row: dict[str, Any] = {"policy": label}
        for split in ("validation", "test"):
            for metric in SUMMARY_METRICS:
                row[f"{split} {metric}"] = round(float(result[split][metric]), 4)
        rows.append(row)
    return rows


def training_markdown(ref: Any, boundaries: dict[str, str]) -> str:
    """One training's summary (steps, speed, epsilon, loss) as Markdown for the Prefect UI."""
    lines = [
        f"# Training: {ref.ticker} {ref.agent} seed {ref.seed}",
        "",
        f"Trained on {boundaries['train_start']} .. {boundaries['val_start']}; "
        f"staged at `{ref.model_key}`.",
        "",
        "| statistic | value |",
        "|---|---|",
    ]
    for name, value in ref.stats.items():
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines)


def decision_markdown(decision: dict[str, Any]) -> str:
    """The promotion decision as a short Markdown note for the Prefect UI."""
    verdict = "promoted to champion" if decision["promoted"] else "not promoted"
    ch = decision["challenger"]
    lines = [
        f"# {decision['ticker']}: {ch['agent']} seed {ch['seed']} {verdict}",
        "",
        f"- reason: {decision['reason']}",
        f"- version: `{decision['version']}`",
        f"- stored at: `{decision['version_uri']}`",
        f"- champion before: `{decision['champion_before'] or 'none'}`",
        f"- windows: {decision['boundaries']}",
    ]
    return "\n".join(lines)


def render_summary(summary: dict[str, Any]) -> None:
    """Print the summary as rich tables: agents and baselines side by side, then the decision."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    for ticker in summary["tickers"]:
        b = ticker["boundaries"]
        table = Table(
            title=f"{ticker['ticker']}: validation {b['val_start']}..{b['test_start']}, "
            f"test {b['test_start']}..{b['end']} (trained on {b['train_start']}..{b['val_start']})",
            caption="after costs; the promotion decision uses the validation window only",
        )
        table.add_column("policy", no_wrap=True)
        table.add_column("seed", justify="right")
        for split in ("val", "test"):
            table.add_column(f"{split}\nreturn", justify="right")
            table.add_column(f"{split}\nSharpe", justify="right")
            table.add_column(f"{split}\nmax DD", justify="right")
        rows = [(c["agent"], str(c["seed"]), c) for c in ticker["candidates"]]
        rows += [(name, "-", b) for name, b in ticker["baselines"].items()]
        for label, seed, result in rows:
            cells = []
            for split in ("validation", "test"):
                m = result[split]
                cells += [
                    _fmt(m["total_return"], True),
                    _fmt(m["sharpe"], False),
                    _fmt(-abs(m["max_drawdown"]), True),
                ]
            table.add_row(label, seed, *cells)
        console.print(table)
        for line in seed_lines(ticker.get("seed_summary", {})) + sweep_lines(ticker):
            console.print(line)
        verdict = "PROMOTED" if ticker["promoted"] else "not promoted"
        ch = ticker["challenger"]
        console.print(
            f"[bold]{ticker['ticker']}[/]: challenger {ch['agent']} seed {ch['seed']} {verdict} "
            f"— {ticker['reason']}\n  version {ticker['version']} written to {ticker['version_uri']}"
        )


def seed_lines(seed_summary: dict[str, Any]) -> list[str]:
    """Per agent kind with several seeds: mean and bootstrap interval of return and Sharpe."""
    lines = []
    for agent, splits in seed_summary.items():
        n = int(splits["validation"]["sharpe"]["n"])
        if n < 2:
            continue
        parts = []
        for split in ("validation", "test"):
            r, sh = splits[split]["total_return"], splits[split]["sharpe"]
            parts.append(
                f"{split} return {r['mean']:+.2%} [{r['low']:+.2%}, {r['high']:+.2%}], "
                f"Sharpe {sh['mean']:.2f} [{sh['low']:.2f}, {sh['high']:.2f}]"
            )
        lines.append(f"{agent} over {n} seeds (mean, bootstrap interval): " + "; ".join(parts))
    return lines


def sweep_lines(ticker: dict[str, Any]) -> list[str]:
    """The selected model's test return at each commission, next to buy-and-hold's."""
    rows = ticker.get("cost_sweep_test") or []
    if not rows:
        return []
    cells = ", ".join(
        f"{r['commission_bp']:g} bp {r['agent']['total_return']:+.1%}"
        f" (B&H {r['buy_and_hold']['total_return']:+.1%})"
        for r in rows
    )
    return [f"cost sweep, test window: {cells}"]


def images_markdown(images: dict[str, bytes]) -> str:
    """PNG images inlined in Markdown (data URIs), so the Prefect UI shows them with no file
    server; the same files are in the model version."""
    import base64

    parts = []
    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"### {name}\n\n![{name}](data:image/png;base64,{data})")
    return "\n\n".join(parts)
