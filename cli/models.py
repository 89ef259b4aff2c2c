"""``tradeforge models list|show``: versions, champions and promotion history of a store."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, JsonOpt, StoreOpt, fail

models_app = typer.Typer(
    help="Inspect the model registry: versions, champions, promotion history.",
    no_args_is_help=True,
)


def _registry(store: str, endpoint_url: str | None):
    from tradeforge.inference import open_registry

    return open_registry(store, endpoint_url)


def _metric(card: dict[str, Any], split: str, key: str) -> float | None:
    value = card.get("metrics", {}).get(split, {}).get(key)
    return None if value is None else float(value)


def _ticker_rows(registry: Any, ticker: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per version of ``ticker`` and the problems met reading them.

    A corrupt champion pointer or model card is one ticker's problem: its versions are still
    listed (the champion column unknown), and the other tickers are not affected (issue 24).
    """
    from storage.errors import StoreError

    problems: list[str] = []
    try:
        champ = registry.champion(ticker)
        known = True
    except (StoreError, ValueError) as exc:
        champ, known = None, False
        problems.append(f"champion pointer unreadable: {exc}")
    rows = []
    for ref in registry.versions(ticker):
        row: dict[str, Any] = {
            "ticker": ticker,
            "agent": ref.agent,
            "version_id": ref.version_id,
            "champion": (champ is not None and champ.version_id == ref.version_id)
            if known
            else None,
            "uri": ref.uri,
        }
        try:
            card = registry.card(ticker, ref.agent, ref.version_id)
        except (StoreError, ValueError) as exc:
            problems.append(f"{ref.version_id}: model card unreadable: {exc}")
            card = {}
        row.update(
            seed=card.get("seed"),
            validation_sharpe=_metric(card, "validation", "sharpe"),
            validation_return=_metric(card, "validation", "total_return"),
            test_sharpe=_metric(card, "test", "sharpe"),
            policy=_policy_kind(card) if card else None,
        )
        rows.append(row)
    return rows, problems


def list_models(
    ticker: Annotated[str | None, typer.Option(help="Only this ticker.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List every version per ticker, oldest first, with the champion marked; exit 1 (after
    listing the rest) if a ticker's champion pointer or a model card cannot be read."""
    from storage.errors import StoreError

    rows: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    try:
        registry = _registry(store, s3_endpoint_url)
        tickers = [ticker.upper()] if ticker else registry.tickers()
        for t in tickers:
            ticker_rows, found = _ticker_rows(registry, t)
            rows += ticker_rows
            problems += [{"ticker": t, "error": p} for p in found]
    except (StoreError, ValueError) as exc:
        raise fail(exc) from exc
    if as_json:
        out = {"store": registry.store.uri, "versions": rows, "problems": problems}
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        _print_versions(registry.store.uri, rows)
    for p in problems:
        typer.secho(f"error: {p['ticker']}: {p['error']}", fg="red", err=True)
    if problems:
        raise typer.Exit(1)


def _print_versions(uri: str, rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {uri}", box=box.SIMPLE_HEAD, collapse_padding=True)
    for col in (
        "ticker",
        "agent",
        "version",
        "champ",
        "seed",
        "val Sharpe",
        "val ret",
        "test Sharpe",
    ):
        right = col not in ("ticker", "agent", "version")
        table.add_column(col, no_wrap=True, justify="right" if right else "left")
    for r in rows:
        table.add_row(
            r["ticker"],
            r["agent"],
            r["version_id"],
            {True: "*", False: "", None: "?"}[r["champion"]],
            "-" if r["seed"] is None else str(r["seed"]),
            _fmt(r["validation_sharpe"]),
            _fmt(r["validation_return"], pct=True),
            _fmt(r["test_sharpe"]),
        )
    Console().print(table if rows else f"no versions in {uri}")


def show(
    ticker: Annotated[str, typer.Option(help="Ticker to show.")],
    version: Annotated[str | None, typer.Option(help="Version id; default: the champion.")] = None,
    agent: Annotated[
        str | None, typer.Option(help="Agent kind of --version (found if omitted).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a version's model card (default: the champion's) and the ticker's promotion history."""
    from storage.errors import StoreError

    try:
        registry = _registry(store, s3_endpoint_url)
        champ = registry.champion(ticker)
        if version is None:
            if champ is None:
                demoted = registry.demotion(ticker)
                why = (
                    f" ({demoted['demoted']} was {demoted['reason']}, at {demoted['demoted_at']})"
                    if demoted
                    else ""
                )
                raise ValueError(
                    f"no champion for {ticker} in {registry.store.uri}{why}; pass --version"
                )
            version, agent = champ.version_id, champ.agent
        if agent is None:
            matches = [r for r in registry.versions(ticker) if r.version_id == version]
            if not matches:
                raise ValueError(f"no version {version} for {ticker} in {registry.store.uri}")
            agent = matches[0].agent
        card = registry.verify(ticker, agent, version)
        history = registry.history(ticker)
    except (StoreError, ValueError) as exc:
        raise fail(exc) from exc
    out = {
        "ticker": ticker,
        "agent": agent,
        "version_id": version,
        "champion": champ.version_id if champ else None,
        "verified": True,
        "policy": _policy_kind(card),
        "card": card,
        "history": history,
    }
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    typer.echo(
        f"{ticker} {agent} {version}" + ("  (champion)" if out["champion"] == version else "")
    )
    typer.echo(f"  all {len(card.get('files', {}))} files match their sha256")
    typer.echo(f"  policy: {out['policy']}")
    for key in ("created_at", "seed", "run_id", "code_version", "window", "features"):
        if key in card:
            typer.echo(f"  {key}: {card[key]}")
    data = card.get("data", {})
    if data:
        typer.echo(
            f"  data: {data.get('source')} sha256 {str(data.get('sha256'))[:16]}... "
            f"windows {data.get('boundaries')}"
        )
    for split, metrics in card.get("metrics", {}).items():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, int | float))
        typer.echo(f"  {split}: {shown}")
    typer.echo(f"history of {ticker} ({len(history)} decisions):")
    for h in history:
        reason = h.get("decision", {}).get("reason", "")
        vs = f" vs {h['champion_before']}" if h.get("champion_before") else ""
        typer.echo(f"  {h['at']}  {h['outcome']:<9}  {h['agent']} {h['version_id']}{vs}  {reason}")


def _policy_kind(card: dict[str, Any]) -> str:
    """How the version acts: the numpy policy (no TensorFlow), or only its .keras file."""
    from tradeforge.artifact import KERAS_FILE, POLICY_WEIGHTS, has_numpy_policy

    if has_numpy_policy(card):
        return f"{POLICY_WEIGHTS} (numpy, no TensorFlow)"
    return f"{KERAS_FILE} only (TensorFlow, published before the numpy policy)"


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if pct else f"{value:.2f}"


def register(app: typer.Typer) -> None:
    """Add ``models list`` and ``models show`` to the CLI."""
    models_app.command("list")(list_models)
    models_app.command("show")(show)
    app.add_typer(models_app, name="models")
