"""``tradeforge validate`` and ``tradeforge ingest``: the data stages alone, from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import (
    DEFAULT_STORE,
    EndOpt,
    EndpointOpt,
    JsonOpt,
    OfflineOpt,
    StartOpt,
    refuse_relabelling,
    split_list,
)

if TYPE_CHECKING:
    from rich.console import Console

# pandas, rich and the config are imported inside the commands: `--help` stays fast.

EXIT_FAILED = 1


def _file_interval(source: str) -> str | None:
    """The interval a single local file holds (None when it is not one local file)."""
    from tradeforge.data import split_source

    path = Path(split_source(source)[0])
    if source.startswith("s3://") or not path.is_file():
        return None
    from tradeforge.data import infer_interval, read_bars

    return infer_interval(read_bars(path.read_bytes(), path.name).bars["timestamp"])


def _store(store: str, endpoint_url: str | None):
    from storage import StoreRef

    return StoreRef(store, endpoint_url).open()


def _validate_one(ticker: str, source: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Ingest + validate one (ticker, source); a read error is reported as a failed "read" rule."""
    from tradeforge.config.data import DataConfig
    from tradeforge.data import DataError, ingest
    from tradeforge.validation import validate, write_data_docs

    interval = opts["interval"] or _safe_interval(source) or "1d"
    try:
        cfg = DataConfig(
            tickers=(ticker,),
            source=source,
            start=opts["start"],
            end=opts["end"],
            interval=interval,
            offline=opts["offline"],
            s3_endpoint_url=opts["endpoint_url"],
        )
        store = _store(opts["store"], opts["endpoint_url"]) if source == "yahoo" else None
        got = ingest(ticker, cfg, snapshot_store=store)
    except (DataError, ValueError) as exc:
        return {"ticker": ticker, "source": source, "success": False, "error": str(exc)}
    try:
        report = validate(
            got.frame,
            interval=interval,
            min_rows=opts["min_rows"],
            max_stale_bars=opts["max_stale_bars"],
            splits=splits_for(opts["splits"], ticker),
            suspected_splits=opts["suspected_splits"],
            notes=got.notes,
        )
    except ValueError as exc:  # a declared split outside the bars, ...
        return {"ticker": ticker, "source": got.source, "success": False, "error": str(exc)}
    out = {"source": got.source, "sha256": got.sha256}
    out.update(report.to_dict())
    if opts["docs"]:
        out["data_docs"] = str(write_data_docs(report, opts["docs"]))
    return out


def _safe_interval(source: str) -> str | None:
    try:
        return _file_interval(source)
    except Exception:  # the real read error is reported by ingest, with its context
        return None


def _print_result(console: Console, result: dict[str, Any]) -> None:
    from rich.table import Table

    title = f"{result['ticker']}  {result['source']}"
    if "error" in result:
        console.print(f"[bold red]FAILED[/] {title}\n  read: {result['error']}")
        return
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    for column in ("rule", "severity", "status", "rows", "detail"):
        table.add_column(column, overflow="fold")
    for rule in result["rules"]:
        if rule["success"]:
            status = "passed"
        else:
            status = "[bold red]FAILED[/]" if rule["severity"] == "error" else "[yellow]warn[/]"
        detail = "" if rule["success"] else rule["message"]
        if rule["handling"] and not rule["success"]:
            detail += f"  -> {rule['handling']}"
        table.add_row(rule["rule"], rule["severity"], status, str(rule["rows"]), detail)
    console.print(table)
    for note in result["notes"]:
        console.print(f"  note: {note}")
    console.print(("[green]" if result["success"] else "[bold red]") + result["summary"] + "[/]")


def parse_splits(values: list[str], tickers: list[str]) -> dict[str, dict[str, float]]:
    """``["NVDA:2021-07-20=4", "2020-08-31=4"]`` -> ``{ticker: {date: ratio}}``; a split
    without a ticker applies to every ticker named (``"*"`` when none is)."""
    from tradeforge.config.validation import parse_split

    out: dict[str, dict[str, float]] = {}
    for value in values:
        try:
            ticker, date, ratio = parse_split(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--split") from None
        names = [ticker] if ticker != "*" else [t.upper() for t in tickers] or ["*"]
        for name in names:
            out.setdefault(name, {})[date] = ratio
    return out


def splits_for(splits: dict[str, dict[str, float]], ticker: str) -> dict[str, float] | None:
    """The splits declared for ``ticker``, including those for every ticker (``"*"``)."""
    merged = {**splits.get("*", {}), **splits.get(ticker.upper(), {})}
    return merged or None


def validate_command(
    path: Annotated[
        str | None,
        typer.Argument(
            help="A CSV/Parquet file, a folder of <TICKER>.csv|.parquet, or s3://bucket/prefix."
        ),
    ] = None,
    tickers: Annotated[
        list[str] | None,
        typer.Option(help="Tickers (repeated or comma-separated); default: every file found."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="yahoo | demo | s3://bucket/prefix | a path (instead of PATH)."),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    interval: Annotated[
        str | None, typer.Option(help="1d or 1h; default: what the file holds (1d for Yahoo).")
    ] = None,
    min_rows: Annotated[int, typer.Option(help="Fewest bars a ticker may have.")] = 100,
    max_stale_bars: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Longest run of identical zero-volume bars dropped with a warning; a longer "
            "run fails. Default: 5 daily / 14 hourly stock bars, 21 daily / 24 hourly crypto.",
        ),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option(
            help="Declare a split of unadjusted data: TICKER:YYYY-MM-DD=RATIO (4 for 4:1), "
            "or YYYY-MM-DD=RATIO for every ticker; bars before it are adjusted. Repeatable.",
        ),
    ] = None,
    suspected_splits: Annotated[
        str,
        typer.Option(help="error | warning: a bar that moved like an undeclared split."),
    ] = "error",
    offline: OfflineOpt = False,
    store: Annotated[
        str, typer.Option(help="Where Yahoo snapshots are kept: a folder or s3://bucket/prefix.")
    ] = DEFAULT_STORE,
    s3_endpoint_url: EndpointOpt = None,
    docs: Annotated[
        Path | None, typer.Option(help="Write great-expectations Data Docs (HTML) here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest and validate only: print each rule's outcome; exit 1 if any ticker fails."""
    from rich.console import Console

    from tradeforge.data import DataError, expand_source

    where = source or path
    if where is None:
        raise typer.BadParameter("give a PATH or --source", param_hint="PATH")
    if source and path:
        raise typer.BadParameter("give either PATH or --source, not both", param_hint="PATH")
    names = [t.upper() for t in split_list(tickers)]
    refuse_relabelling(where, names)
    if where == "yahoo" and not names:
        raise typer.BadParameter("--source yahoo needs --tickers", param_hint="--tickers")
    if suspected_splits not in ("error", "warning"):
        raise typer.BadParameter("error or warning", param_hint="--suspected-splits")
    opts = dict(
        max_stale_bars=max_stale_bars,
        splits=parse_splits(split or [], names),
        suspected_splits=suspected_splits,
        start=start,
        end=end,
        interval=interval,
        min_rows=min_rows,
        offline=offline,
        store=store,
        endpoint_url=s3_endpoint_url,
        docs=docs,
    )
    try:
        targets = expand_source(where, names, endpoint_url=s3_endpoint_url)
    except DataError as exc:
        targets, results = [], [{"ticker": ",".join(names), "source": where, "error": str(exc)}]
        results[0]["success"] = False
    else:
        results = [_validate_one(t, s, opts) for t, s in targets]
    console = Console(file=sys.stdout, width=160)
    for result in results:
        _print_result(console, result)
    ok = all(r["success"] for r in results)
    if as_json:
        sys.stdout.write(json.dumps({"success": ok, "results": results}, default=str) + "\n")
    if not ok:
        raise typer.Exit(EXIT_FAILED)


def ingest_command(
    tickers: Annotated[
        list[str], typer.Option(help="Tickers to fetch (repeated or comma-separated).")
    ],
    source: Annotated[str, typer.Option(help="Only yahoo fetches snapshots.")] = "yahoo",
    start: StartOpt = None,
    end: EndOpt = None,
    interval: Annotated[str, typer.Option(help="1d or 1h.")] = "1d",
    store: Annotated[
        str, typer.Option(help="Snapshot store: a folder or s3://bucket/prefix.")
    ] = DEFAULT_STORE,
    s3_endpoint_url: EndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch bars from Yahoo and keep each raw response as a snapshot in the store."""
    from rich.console import Console
    from rich.table import Table

    from tradeforge.config.data import DataConfig
    from tradeforge.data import DataError, fetch_snapshots

    if source != "yahoo":
        raise typer.BadParameter(
            "only yahoo is fetched; files and S3 objects are read in place", param_hint="--source"
        )
    try:
        DataConfig(tickers=tuple(split_list(tickers)), start=start, end=end, interval=interval)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    snapshot_store = _store(store, s3_endpoint_url)
    try:
        snaps = fetch_snapshots(split_list(tickers), start, end, interval, store=snapshot_store)
    except DataError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        if as_json:
            sys.stdout.write(json.dumps({"success": False, "error": str(exc)}) + "\n")
        raise typer.Exit(EXIT_FAILED) from None
    rows = []
    table = Table(title=f"snapshots in {snapshot_store.uri}", title_justify="left")
    for column in ("ticker", "bars", "first", "last", "sha256", "key"):
        table.add_column(column)
    for ticker, snap in snaps.items():
        frame = snap.frame()
        row = {
            "ticker": ticker,
            "bars": len(frame),
            "first": str(frame["timestamp"].iloc[0]),
            "last": str(frame["timestamp"].iloc[-1]),
            "sha256": snap.sha256,
            "key": snap.key,
            "uri": snapshot_store.uri_for(snap.key) if snap.key else None,
        }
        rows.append(row)
        table.add_row(
            *(str(row[c]) for c in ("ticker", "bars", "first", "last")),
            snap.sha256[:12],
            str(snap.key),
        )
    Console(file=sys.stdout, width=160).print(table)
    if as_json:
        sys.stdout.write(json.dumps({"success": True, "snapshots": rows}) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``ingest`` to the ``tradeforge`` command."""
    app.command("validate")(validate_command)
    app.command("ingest")(ingest_command)
