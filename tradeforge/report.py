"""The run summary: one JSON-ready dict, table rows for the UI, and the terminal table."""

from __future__ import annotations

from typing import Any

from tradeforge.config import PipelineConfig

SUMMARY_METRICS = ("total_return", "sharpe", "max_drawdown")


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) from readable parts."""
    text = "-".join(str(p) for p in parts).lower()
    return "-".join(filter(None, "".join(c if c.isalnum() else "-" for c in text).split("-")))


def summarize(
    decisions: list[Any], cfg: PipelineConfig, failures: list[Any] | None = None
) -> dict[str, Any]:
    """The run's summary: per ticker (in the order asked) the candidates, baselines and the
    promotion decision, with its ``outcome``: ``promoted``, ``not_promoted`` (``reason`` says
    why) or ``failed`` (``failures`` names each failed task and its cause)."""
    entries = {d.ticker: {**d.json_dict(), "outcome": _outcome(d)} for d in decisions}
    entries |= {f.ticker: f.json_dict() for f in failures or []}
    return {
        "store": cfg.run.store,
        "source": cfg.data.source,
        "agents": list(cfg.run.agents),
        "seeds": list(cfg.run.seeds),
        "rewards": list(cfg.rewards),
        "folds": cfg.split.folds,
        "steps": cfg.dqn.total_steps,
        "env": cfg.env.model_dump(mode="json"),
        "promoted": [d.ticker for d in decisions if d.promoted],
        "failed": [f.ticker for f in failures or []],
        "tickers": [entries[t] for t in cfg.data.tickers if t in entries],
    }


def _outcome(decision: Any) -> str:
    return "promoted" if decision.promoted else "not_promoted"


def _fmt(value: Any, pct: bool) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if pct else f"{value:.2f}"


def candidate_label(entry: dict[str, Any]) -> str:
    """A summary candidate's name: ``dqn seed 1 (simple)`` or ``dqn ensemble of 3 seeds (simple)``."""
    if entry.get("ensemble"):
        return f"{entry['agent']} ensemble of {entry['ensemble']} seeds ({entry['reward']})"
    return f"{entry['agent']} seed {entry['seed']} ({entry['reward']})"


def metric_rows(decision: Any) -> list[dict]:
    """One row per candidate and per baseline: pooled validation and test figures, the selected
    candidate marked."""
    d = decision.json_dict() if hasattr(decision, "json_dict") else decision
    chosen = candidate_label(d["challenger"])
    named = [
        (candidate_label(c) + (" (selected)" if candidate_label(c) == chosen else ""), c)
        for c in d["candidates"]
    ]
    named += [(f"baseline: {name}", b) for name, b in d["baselines"].items()]
    rows = []
    for agent, splits in d.get("seed_summary", {}).items():
        n = int(splits["validation"]["sharpe"]["n"])
        if n < 2:
            continue
        row: dict[str, Any] = {"policy": f"{agent}: mean of {n} seeds [interval]"}
        for split in ("validation", "test"):
            r, sh = splits[split]["total_return"], splits[split]["sharpe"]
            row[f"{split} return %"] = (
                f"{100 * r['mean']:.2f} [{100 * r['low']:.2f}, {100 * r['high']:.2f}]"
            )
            row[f"{split} Sharpe"] = f"{sh['mean']:.3f} [{sh['low']:.3f}, {sh['high']:.3f}]"
            row[f"{split} max DD %"] = round(-100 * splits[split]["max_drawdown"]["mean"], 2)
            row[f"{split} trades"] = round(splits[split]["trades"]["mean"], 1)
        rows.append(row)
    for label, result in named:
        row: dict[str, Any] = {"policy": label}
        for split in ("validation", "test"):
            m = result[split]
            row[f"{split} return %"] = round(100 * float(m["total_return"]), 2)
            row[f"{split} Sharpe"] = round(float(m["sharpe"]), 3)
            row[f"{split} max DD %"] = round(-100 * abs(float(m["max_drawdown"])), 2)
            row[f"{split} trades"] = int(m["trades"])
        rows.append(row)
    return rows


def training_markdown(ref: Any, boundaries: dict[str, str]) -> str:
    """One training's summary (steps, speed, epsilon, loss) as Markdown for the Prefect UI."""
    lines = [
        f"# Training: {ref.ticker} {ref.id.label}, fold {ref.fold + 1}",
        "",
        f"Trained on {boundaries['train_start']} .. {boundaries['train_end']} (validated on "
        f"{boundaries['val_start']} .. {boundaries['val_end']}); staged at `{ref.model_key}`.",
        "",
        "| statistic | value |",
        "|---|---|",
    ]
    for name, value in ref.stats.items():
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} |")
    if "tensorboard" in ref.stats:
        lines += [
            "",
            f"TensorBoard scalars (loss, Q-values, epsilon, episode returns): "
            f"`tensorboard --logdir {ref.stats['tensorboard']}` on the machine that trained.",
        ]
    return "\n".join(lines)


def gate_lines(gate: dict[str, Any]) -> list[str]:
    """The gate's checks, one line each: benchmark Sharpe, the bar to beat, the deflated PSR."""
    tried = f"{gate['trials']} candidate(s) tried"
    if "effective_trials" in gate:  # records from before the correlation-aware count lack it
        tried += (
            f" ({gate['effective_trials']:.1f} independent at mean correlation "
            f"{gate['trial_correlation']:.2f})"
        )
    lines = [
        f"gate: challenger Sharpe {gate['challenger_sharpe']:.2f} over {gate['bars']} pooled "
        f"validation bars; {tried}, deflation +{gate['deflation_sharpe']:.2f} "
        f"Sharpe; confidence {gate['confidence']}"
    ]
    for c in gate["checks"]:
        mark = "pass" if c["passed"] else "FAIL"
        if c.get("test") == "difference":  # issue 28: the paired Sharpe-difference test
            test = (
                f"deflated P(Sharpe difference > bar) {c['psr']:.3f} (se "
                f"{c['difference_se']:.2f}, correlation {c['correlation']:.2f})"
            )
        else:
            test = f"deflated PSR {c['psr']:.3f}"
        lines.append(
            f"  vs {c['benchmark']}: Sharpe {c['benchmark_sharpe']:.2f}, bar to beat "
            f"{c['required_sharpe']:.2f}, {test} [{mark}]"
        )
    return lines


def decision_markdown(decision: Any) -> str:
    """The promotion decision as a short Markdown note for the Prefect UI."""
    d = decision.json_dict() if hasattr(decision, "json_dict") else decision
    verdict = (
        "promoted to champion"
        if d["promoted"]
        else "not promoted: no candidate showed an edge, the champion stays"
    )
    lines = [
        f"# {d['ticker']}: {candidate_label(d['challenger'])} {verdict}",
        "",
        f"- reason: {d['reason']}",
        f"- version (published for the record): `{d['version']}`",
        f"- stored at: `{d['version_uri']}`",
        f"- champion before: `{d['champion_before'] or 'none'}`",
        f"- windows: train from {d['boundaries']['train_start']}, pooled validation "
        f"{d['boundaries']['val_start']}..{d['boundaries']['test_start']} in "
        f"{len(d['boundaries']['folds'])} fold(s), test {d['boundaries']['test_start']}.."
        f"{d['boundaries']['end']} (reported only)",
        "",
        "```",
        *gate_lines(d["gate"]),
        "```",
    ]
    return "\n".join(lines)


def render_summary(summary: dict[str, Any]) -> None:
    """Print the summary as rich tables: agents and baselines side by side, then the decision."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    for ticker in summary["tickers"]:
        if ticker.get("outcome") == "failed":
            console.print(
                f"[bold]{ticker['ticker']}[/]: [bold red]FAILED[/], nothing promoted — "
                + "; ".join(ticker["failures"]),
                highlight=False,
            )
            continue
        b = ticker["boundaries"]
        table = Table(
            title=f"{ticker['ticker']}: pooled validation {b['val_start']}..{b['test_start']} "
            f"({len(b['folds'])} walk-forward folds), test {b['test_start']}..{b['end']}",
            caption="after costs; selection and the gate use the pooled validation bars only",
        )
        table.add_column("policy", no_wrap=True)
        for split in ("val", "test"):
            table.add_column(f"{split}\nreturn", justify="right")
            table.add_column(f"{split}\nSharpe", justify="right")
            table.add_column(f"{split}\nmax DD", justify="right")
            table.add_column(f"{split}\ntrades", justify="right")
        chosen = candidate_label(ticker["challenger"])
        rows = [
            (candidate_label(c) + (" *" if candidate_label(c) == chosen else ""), c)
            for c in ticker["candidates"]
        ]
        rows += [(name, b) for name, b in ticker["baselines"].items()]
        for label, result in rows:
            cells = []
            for split in ("validation", "test"):
                m = result[split]
                cells += [
                    _fmt(m["total_return"], True),
                    _fmt(m["sharpe"], False),
                    _fmt(-abs(m["max_drawdown"]), True),
                    f"{int(m['trades'])}",
                ]
            table.add_row(label, *cells)
        console.print(table)
        for line in (
            seed_lines(ticker.get("seed_summary", {}))
            + sweep_lines(ticker)
            + gate_lines(ticker["gate"])
        ):
            console.print(line, markup=False)
        if ticker["promoted"]:
            verdict = f"[bold green]PROMOTED[/] {chosen}"
        else:
            verdict = (
                "[bold yellow]nothing promoted[/]: no candidate showed an edge; the champion stays"
            )
        console.print(
            f"[bold]{ticker['ticker']}[/]: {verdict} — {ticker['reason']}\n"
            f"  version {ticker['version']} recorded at {ticker['version_uri']}",
            highlight=False,
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
