"""Ingest: one ticker's bars from the demo data, Yahoo, S3 or a local file/folder.

Every path ends in the canonical OHLCV frame plus the sha256 of the raw bytes it came from, so a
model card can say exactly which data trained it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pandas as pd

from tradeforge.config.data import DEMO_SOURCE, DataConfig
from tradeforge.data.canonical import (
    Ingested,
    daily_dates,
    filter_dates,
    infer_interval,
    make_canonical,
)
from tradeforge.data.errors import DataFormatError, DataSourceError
from tradeforge.data.formats import read_bars

if TYPE_CHECKING:
    from storage import ObjectStore

#: gym-anytrading ships GOOGL daily bars 2009-2018 in Yahoo's classic CSV layout.
DEMO_TICKER = "GOOGL"
DEMO_FILE = ("datasets", "data", "STOCKS_GOOGL.csv")
SUFFIXES = (".csv", ".parquet")


def infer_ticker(path: str | Path) -> str:
    """Ticker from a file name: ``SPY_2010-2017_yahoo.csv`` -> ``SPY``, ``brk-b.parquet`` -> ``BRK-B``."""
    stem = PurePosixPath(str(path).rstrip("/")).name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    ticker = stem.split("_")[0].strip().upper()
    if not re.fullmatch(r"[A-Z0-9^][A-Z0-9.\-=^]*", ticker):
        raise DataSourceError(f"{path}: cannot infer a ticker from the file name")
    return ticker


def ingest(
    ticker: str, config: DataConfig, *, snapshot_store: ObjectStore | None = None
) -> Ingested:
    """Read ``ticker``'s bars from ``config.source``, limited to ``[config.start, config.end)``.

    Sources: ``demo`` (gym-anytrading's GOOGL), ``yahoo`` (snapshotted into ``snapshot_store``;
    ``config.offline`` serves from snapshots only), ``s3://bucket/prefix`` (a folder of
    ``<TICKER>.csv|.parquet``, or one object), or a local file or folder.
    """
    source = config.source
    if source == DEMO_SOURCE:
        raw = _read_demo(ticker)
    elif source == "yahoo":
        from tradeforge.data.yahoo import ingest_yahoo

        return ingest_yahoo(ticker, config, store=snapshot_store)
    elif source.startswith("s3://"):
        raw = _read_s3(ticker, source, config.s3_endpoint_url)
    else:
        raw = _read_local(ticker, Path(source))
    return _finish(ticker, raw, config)


@dataclass(frozen=True)
class RawFile:
    """Bytes of one file and where they came from."""

    data: bytes
    name: str
    origin: str


def _finish(ticker: str, raw: RawFile, config: DataConfig) -> Ingested:
    parsed = read_bars(raw.data, raw.name, ticker)
    frame = make_canonical(parsed.bars, ticker)
    _check_interval(frame, config.interval, raw.origin)
    notes = parsed.notes
    if config.interval == "1d":
        from tradeforge.validation.derived import exchange_timezone

        tz = exchange_timezone(ticker)
        frame, moved = daily_dates(frame, zoned=parsed.zoned, timezone=tz)
        notes += (f"{raw.name}: {moved}",) if moved else ()
    frame = filter_dates(frame, config.start, config.end, origin=raw.origin)
    return Ingested(
        frame=frame,
        sha256=hashlib.sha256(raw.data).hexdigest(),
        source=raw.origin,
        layout=parsed.layout,
        notes=notes,
    )


def _check_interval(frame: pd.DataFrame, interval: str, origin: str) -> None:
    found = infer_interval(frame["timestamp"])
    if found is not None and found != interval:
        raise DataFormatError(
            f"{origin}: holds {found} bars but the run asks for interval {interval} "
            f"(pass interval={found})"
        )


def _read_demo(ticker: str) -> RawFile:
    if ticker.upper() != DEMO_TICKER:
        raise DataSourceError(
            f"source 'demo' holds only {DEMO_TICKER} (gym-anytrading's STOCKS_GOOGL.csv), "
            f"not {ticker!r}: use --source yahoo, a file, a folder or s3://bucket/prefix"
        )
    spec = importlib.util.find_spec("gym_anytrading")
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError("source 'demo' needs the gym-anytrading package, which is missing")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*DEMO_FILE)
    return RawFile(path.read_bytes(), path.name, f"demo (gym-anytrading {path.name})")


def _read_local(ticker: str, path: Path) -> RawFile:
    if path.is_dir():
        path = path / _pick_file(
            ticker, sorted(p.name for p in path.iterdir() if p.is_file()), path
        )
    elif not path.is_file():
        raise DataSourceError(
            f"source {str(path)!r}: no such file or folder "
            "(expected demo | yahoo | s3://bucket/prefix | a local file or folder)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataSourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    return RawFile(data, path.name, str(path))


def _pick_file(ticker: str, names: list[str], where: Path | str) -> str:
    """``<TICKER>.csv|.parquet`` in a folder; else the only ``<TICKER>_*.csv|.parquet``."""
    data_files = [n for n in names if n.lower().endswith(SUFFIXES)]
    exact = [n for n in data_files if n.rsplit(".", 1)[0].upper() == ticker.upper()]
    candidates = exact or [n for n in data_files if _ticker_or_none(n) == ticker.upper()]
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(data_files) if data_files else "no .csv or .parquet files"
    if not candidates:
        raise DataSourceError(f"{where}: no {ticker}.csv or {ticker}.parquet (found: {listing})")
    raise DataSourceError(
        f"{where}: several files for {ticker}: {', '.join(candidates)}; name one file as the source"
    )


def _ticker_or_none(name: str) -> str | None:
    try:
        return infer_ticker(name)
    except DataSourceError:
        return None


def _read_s3(ticker: str, uri: str, endpoint_url: str | None) -> RawFile:
    from storage import StoreError, open_store

    base = uri.rstrip("/")
    try:
        if base.lower().endswith(SUFFIXES):
            # One object named directly: open its "folder" and read the last path part.
            folder, _, key = base.rpartition("/")
            store = open_store(folder, endpoint_url=endpoint_url)
        else:
            store = open_store(base, endpoint_url=endpoint_url)
            top_level = [k for k in store.list() if "/" not in k]
            key = _pick_file(ticker, top_level, base + "/")
        data = store.get_bytes(key)
    except StoreError as exc:
        raise DataSourceError(f"{uri}: {exc}") from exc
    return RawFile(data, key, store.uri_for(key))


def expand_source(
    source: str, tickers: tuple[str, ...] | list[str] = (), *, endpoint_url: str | None = None
) -> list[tuple[str, str]]:
    """``(ticker, source)`` pairs for every data file a folder or ``s3://`` prefix holds.

    A file or single object gives one pair (its ticker inferred unless ``tickers`` names one);
    a folder or prefix gives one pair per top-level ``.csv``/``.parquet`` (only ``tickers``'
    files when given). ``demo`` and ``yahoo`` give one pair per ticker.
    """
    wanted = [t.upper() for t in tickers]
    if source in (DEMO_SOURCE, "yahoo"):
        return [(t, source) for t in (wanted or ([DEMO_TICKER] if source == DEMO_SOURCE else []))]
    if source.startswith("s3://"):
        base = source.rstrip("/")
        if base.lower().endswith(SUFFIXES):
            return [(wanted[0] if wanted else infer_ticker(base), base)]
        from storage import StoreError, open_store

        try:
            names = [k for k in open_store(base, endpoint_url=endpoint_url).list() if "/" not in k]
        except StoreError as exc:
            raise DataSourceError(f"{source}: {exc}") from exc
        files = [(n, f"{base}/{n}") for n in names]
    else:
        path = Path(source)
        if path.is_file():
            return [(wanted[0] if wanted else infer_ticker(path), str(path))]
        if not path.is_dir():
            raise DataSourceError(f"source {source!r}: no such file or folder")
        files = [(p.name, str(p)) for p in sorted(path.iterdir()) if p.is_file()]
    pairs = [
        (ticker, where)
        for name, where in files
        if name.lower().endswith(SUFFIXES) and (ticker := _ticker_or_none(name)) is not None
    ]
    if wanted:
        pairs = [(t, w) for t, w in pairs if t in wanted]
    if not pairs:
        which = f" for {', '.join(wanted)}" if wanted else ""
        raise DataSourceError(f"{source}: no .csv or .parquet files{which}")
    return pairs
