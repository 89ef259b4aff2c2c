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
from tradeforge.data.errors import DataFormatError, DataSourceError, TickerMismatch
from tradeforge.data.formats import Parsed, read_bars

if TYPE_CHECKING:
    from storage import ObjectStore

#: gym-anytrading ships GOOGL daily bars 2009-2018 in Yahoo's classic CSV layout.
DEMO_TICKER = "GOOGL"
DEMO_FILE = ("datasets", "data", "STOCKS_GOOGL.csv")
SUFFIXES = (".csv", ".parquet")
#: ``prices.csv=SPY``: one file (or S3 object) mapped to a ticker explicitly (issue 24).
_MAPPED = re.compile(r"^(?P<path>.+\.(?:csv|parquet))=(?P<ticker>[^/\\]+)$", re.IGNORECASE)


def split_source(source: str) -> tuple[str, str | None]:
    """``"prices.csv=SPY"`` -> ``("prices.csv", "SPY")``; any other source -> ``(source, None)``.

    The mapping is the explicit way to use a file whose name carries no ticker (or another
    ticker's name): without it, one file serves only the ticker its name (or content) gives.
    """
    found = _MAPPED.match(source) if isinstance(source, str) else None
    if found is None:
        return source, None
    return found["path"], found["ticker"].strip().upper()


def is_single_file(source: str) -> bool:
    """True for one local file or one S3 object (``s3://.../x.csv``), mapped or not."""
    path, _ = split_source(source)
    if path.startswith("s3://"):
        return path.rstrip("/").lower().endswith(SUFFIXES)
    return Path(path).expanduser().is_file()


def check_file_ticker(source: str, ticker: str, *, held: tuple[str, ...] = ()) -> None:
    """``DataSourceError`` unless the single file ``source`` is ``ticker``'s bars.

    The file's own ticker is the one it is mapped to (``path=TICKER``), else the one its
    content names (``held``: a ticker column, yfinance's Ticker row), else the one its name
    gives (``SPY_2010-2017_yahoo.csv`` -> SPY). A mismatch is refused naming both: training
    SPY's bars under AAPL's name published them as AAPL's model (issue 24).
    """
    path, mapped = split_source(source)
    wanted = ticker.strip().upper()
    own = mapped or (wanted if wanted in {h.upper() for h in held} else None)
    own = own or (held[0].upper() if len(held) == 1 else None) or ticker_or_none(path)
    if own == wanted:
        return
    what = f"holds {own}'s bars" if own else "names no ticker"
    raise TickerMismatch(
        f"source {path!r} {what}, not {wanted}'s: give {own or 'a ticker'} (or name "
        f"{wanted}'s file), or map this file explicitly with --source {path}={wanted}"
    )


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
        return _finish(ticker, _read_demo(ticker), config, None)
    if source == "yahoo":
        from tradeforge.data.yahoo import ingest_yahoo

        return ingest_yahoo(ticker, config, store=snapshot_store)
    path, _ = split_source(source)
    if path.startswith("s3://"):
        raw = _read_s3(ticker, path, config.s3_endpoint_url)
    else:
        raw = _read_local(ticker, Path(path))
    return _finish(ticker, raw, config, source if is_single_file(source) else None)


@dataclass(frozen=True)
class RawFile:
    """Bytes of one file and where they came from."""

    data: bytes
    name: str
    origin: str


def _finish(ticker: str, raw: RawFile, config: DataConfig, single: str | None) -> Ingested:
    parsed = read_bars(raw.data, raw.name, ticker)
    if single is not None:  # a folder's file was picked by the ticker's own name
        check_file_ticker(single, ticker, held=parsed.tickers)
    frame, notes = canonical_bars(parsed, ticker, config.interval, raw.origin, raw.name)
    frame = filter_dates(frame, config.start, config.end, origin=raw.origin)
    return Ingested(
        frame=frame,
        sha256=hashlib.sha256(raw.data).hexdigest(),
        source=raw.origin,
        layout=parsed.layout,
        notes=notes,
    )


def canonical_bars(
    parsed: Parsed, ticker: str, interval: str, origin: str, name: str
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The canonical frame of parsed bars, whichever door they came through (a file, an S3
    object, a request's JSON bars): the interval they hold checked, daily bars dated by their
    calendar day in the exchange's time zone; with the reader's notes."""
    frame = make_canonical(parsed.bars, ticker)
    _check_interval(frame, interval, origin)
    notes = parsed.notes
    if interval == "1d":
        from tradeforge.validation.derived import exchange_timezone

        tz = exchange_timezone(ticker)
        frame, moved = daily_dates(frame, zoned=parsed.zoned, timezone=tz)
        notes += (f"{name}: {moved}",) if moved else ()
    return frame, notes


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
    candidates = exact or [n for n in data_files if ticker_or_none(n) == ticker.upper()]
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(data_files) if data_files else "no .csv or .parquet files"
    if not candidates:
        raise DataSourceError(f"{where}: no {ticker}.csv or {ticker}.parquet (found: {listing})")
    raise DataSourceError(
        f"{where}: several files for {ticker}: {', '.join(candidates)}; name one file as the source"
    )


def ticker_of_source(source: str | None) -> str | None:
    """The ticker a single file or S3 object names (``SPY_2010-2017_yahoo.csv`` -> SPY) or is
    mapped to (``prices.csv=SPY``); None for ``demo``, ``yahoo``, a folder or a prefix, and a
    file that names none (preflight then says so)."""
    if not source or source in (DEMO_SOURCE, "yahoo"):
        return None
    path, mapped = split_source(source)
    if mapped or not is_single_file(source):
        return mapped
    return ticker_or_none(path)


def ticker_or_none(name: str) -> str | None:
    """The ticker a file name gives (``infer_ticker``), or None when it gives none."""
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
    if is_single_file(source):
        path, mapped = split_source(source)
        ticker = wanted[0] if wanted else mapped or infer_ticker(path)
        if len(wanted) > 1:
            raise DataSourceError(
                f"source {path!r}: one file holds one ticker, not {', '.join(wanted)}"
            )
        return [(ticker, source)]
    if source.startswith("s3://"):
        base = source.rstrip("/")
        from storage import StoreError, open_store

        try:
            names = [k for k in open_store(base, endpoint_url=endpoint_url).list() if "/" not in k]
        except StoreError as exc:
            raise DataSourceError(f"{source}: {exc}") from exc
        files = [(n, f"{base}/{n}") for n in names]
    else:
        path = Path(source)
        if not path.is_dir():
            raise DataSourceError(f"source {source!r}: no such file or folder")
        files = [(p.name, str(p)) for p in sorted(path.iterdir()) if p.is_file()]
    pairs = [
        (ticker, where)
        for name, where in files
        if name.lower().endswith(SUFFIXES) and (ticker := ticker_or_none(name)) is not None
    ]
    if wanted:
        pairs = [(t, w) for t, w in pairs if t in wanted]
    if not pairs:
        which = f" for {', '.join(wanted)}" if wanted else ""
        raise DataSourceError(f"{source}: no .csv or .parquet files{which}")
    return pairs
