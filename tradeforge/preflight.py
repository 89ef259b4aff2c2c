"""Fail early: check tickers, source and store before ingest, features or training start.

Each check takes plain strings (not config objects), makes at most a few cheap requests with
short timeouts, and raises a :class:`PreflightError` (a ``ValueError``) whose message names the
input and what is wrong with it. :func:`preflight` runs them all and reports every problem at
once. No Prefect here; S3 requests go through ``storage`` (the only package importing boto3).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradeforge.config import PipelineConfig

DEMO_SOURCE = "demo"
YAHOO_SOURCE = "yahoo"
#: Seconds an S3 check may wait for a connection or an answer.
CHECK_TIMEOUT_S = 3.0


class PreflightError(ValueError):
    """An input cannot work; the message names it. ``problems`` lists each one found."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)


class BadTicker(PreflightError):
    """A ticker symbol that cannot name a file, a Yahoo symbol or a store key."""


class SourceNotFound(PreflightError):
    """The data source (file, folder, S3 object or prefix) does not exist or lacks a ticker."""


class StoreNotUsable(PreflightError):
    """The store (local folder or S3 bucket) cannot be read or written."""


def check_tickers(tickers: Iterable[str]) -> list[str]:
    """The tickers, upper-cased and de-duplicated; :class:`BadTicker` naming each bad one.

    A ticker becomes part of store keys (``models/<ticker>/...``) and file names, so the
    store's rule applies: letters, digits and ``.-_=^``, up to 32 characters (``A/B`` is
    refused here, not after training as in issue 14).
    """
    from storage.errors import InvalidKey
    from storage.registry import check_ticker

    names = [tickers] if isinstance(tickers, str) else list(tickers)
    if not names:
        raise BadTicker("tickers: none given (e.g. --tickers SPY,AAPL)")
    bad = []
    for name in names:
        try:
            check_ticker(name.strip() if isinstance(name, str) else name)
        except InvalidKey as exc:
            bad.append(str(exc))
    if bad:
        raise BadTicker("; ".join(bad), bad)
    return list(dict.fromkeys(n.strip().upper() for n in names))


def check_source(
    source: str,
    tickers: Sequence[str] = (),
    *,
    endpoint_url: str | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> None:
    """:class:`SourceNotFound` unless ``source`` exists and holds every ticker asked for.

    ``demo``: gym-anytrading installed, only GOOGL. ``yahoo``: nothing to check before asking
    Yahoo itself. A local file: it exists. A local folder or ``s3://bucket/prefix``: it holds a
    ``<TICKER>.csv|.parquet`` (or one ``<TICKER>_*.csv``) for each ticker. ``s3://.../x.csv``:
    the object exists. Store problems (bucket, credentials, endpoint) are reported as such.
    """
    if not isinstance(source, str) or not source.strip():
        raise SourceNotFound(f"source {source!r}: empty (demo | yahoo | s3://... | a path)")
    wanted = [t.upper() for t in tickers]
    if source == YAHOO_SOURCE:
        _check_yahoo_symbols(wanted)
        return
    if source == DEMO_SOURCE:
        _check_demo(wanted)
    elif source.startswith("s3://"):
        _check_s3_source(source, wanted, endpoint_url, timeout)
    else:
        _check_local_source(source, wanted)


def _check_yahoo_symbols(wanted: list[str]) -> None:
    from tradeforge.data.yahoo import _TICKER

    bad = [t for t in wanted if not _TICKER.match(t)]
    if bad:
        raise BadTicker(f"source 'yahoo': {', '.join(map(repr, bad))} not Yahoo symbols")


def _check_demo(wanted: list[str]) -> None:
    from tradeforge.data.sources import DEMO_TICKER

    if importlib.util.find_spec("gym_anytrading") is None:
        raise SourceNotFound("source 'demo': needs the gym-anytrading package, which is missing")
    others = [t for t in wanted if t != DEMO_TICKER]
    if others:
        raise SourceNotFound(
            f"source 'demo': holds only {DEMO_TICKER}, not {', '.join(others)} "
            "(use --source yahoo, a file, a folder or s3://bucket/prefix)"
        )


def _check_local_source(source: str, wanted: list[str]) -> None:
    from tradeforge.data.sources import split_source

    path = Path(split_source(source)[0]).expanduser()
    if path.is_file():
        if len(wanted) > 1:
            raise SourceNotFound(
                f"source {source!r}: one file holds one ticker, not {', '.join(wanted)} "
                "(name a folder of <TICKER>.csv files)"
            )
        return
    if not path.exists():
        raise SourceNotFound(
            f"source {source!r}: no such file or folder "
            "(expected demo | yahoo | s3://bucket/prefix | a local file or folder)"
        )
    if not path.is_dir():
        raise SourceNotFound(f"source {source!r}: neither a file nor a folder")
    _check_listing(source, sorted(p.name for p in path.iterdir() if p.is_file()), wanted)


def _check_listing(source: str, names: list[str], wanted: list[str]) -> None:
    """Every wanted ticker has exactly one data file among ``names`` (same rule as ingest)."""
    from tradeforge.data.errors import DataSourceError
    from tradeforge.data.sources import SUFFIXES, _pick_file

    data_files = [n for n in names if n.lower().endswith(SUFFIXES)]
    if not data_files:
        raise SourceNotFound(f"source {source!r}: holds no .csv or .parquet files")
    problems = []
    for ticker in wanted:
        try:
            _pick_file(ticker, data_files, source)
        except DataSourceError as exc:
            problems.append(str(exc))
    if problems:
        raise SourceNotFound("; ".join(problems), problems)


def _check_s3_source(source: str, wanted: list[str], endpoint_url: str | None, t: float) -> None:
    from storage.errors import StoreError
    from storage.preflight import check_store, open_for_check
    from tradeforge.data.sources import SUFFIXES, split_source

    base = split_source(source)[0].rstrip("/")
    single = base.lower().endswith(SUFFIXES)
    folder, _, key = base.rpartition("/") if single else (base, "", "")
    try:
        check_store(folder, endpoint_url=endpoint_url, write=False, timeout=t)
        store = open_for_check(folder, endpoint_url=endpoint_url, timeout=t)
        if single:
            if store.head(key) is None:
                raise SourceNotFound(f"source {source!r}: no such object in {store.uri}")
            return
        top_level = [k for k in store.list() if "/" not in k]
    except StoreError as exc:
        raise SourceNotFound(f"source {source!r}: {exc}") from None
    _check_listing(source, top_level, wanted)


def check_bars_window(
    source: str,
    tickers: Sequence[str],
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    endpoint_url: str | None = None,
) -> None:
    """:class:`PreflightError` if a ticker's bars cannot serve the run: one file asked for as
    another ticker's bars, or no bars between ``start`` and ``end`` (naming the data's first
    and last dates).

    Files and S3 objects are read here (a fraction of a second each: the same reader the
    ingest stage runs); Yahoo is not asked before ingest, only a ``start`` in the future is
    refused. Other read problems are the ingest and validation stages' to report, with their
    context (a row, a rule), as they always were.
    """
    import datetime as dt

    if source == YAHOO_SOURCE:
        if start is not None and dt.date.fromisoformat(str(start)[:10]) > dt.date.today():
            raise PreflightError(f"start {start}: after today, so Yahoo has no bars yet")
        return
    from tradeforge.data import DataError, NoBarsInRange, TickerMismatch
    from tradeforge.inference import read_latest_bars

    problems = []
    window = {"start": start, "end": end, "interval": interval, "endpoint_url": endpoint_url}
    for ticker in tickers:
        try:
            read_latest_bars(ticker, source, **window)
        except (NoBarsInRange, TickerMismatch) as exc:
            problems.append(str(exc))
        except (DataError, ValueError):
            continue  # the ingest stage reports it, naming the row and the rule
    if problems:
        raise PreflightError("; ".join(problems), problems)


def check_store(
    store: str, *, endpoint_url: str | None = None, timeout: float = CHECK_TIMEOUT_S
) -> None:
    """:class:`StoreNotUsable` unless the model store can be read and written now."""
    from storage.preflight import StoreCheckError
    from storage.preflight import check_store as check

    try:
        check(store, endpoint_url=endpoint_url, write=True, timeout=timeout)
    except StoreCheckError as exc:
        raise StoreNotUsable(str(exc)) from None


def preflight(
    tickers: Iterable[str],
    source: str,
    store: str,
    *,
    endpoint_url: str | None = None,
    timeout: float = CHECK_TIMEOUT_S,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
) -> list[str]:
    """Run every check; return the checked tickers or raise one :class:`PreflightError` listing
    every problem found (one per line), so a user fixes them all in one go.

    The bars themselves (ticker of a single file, dates in range) are checked only when the
    source exists and holds every ticker."""
    problems: list[str] = []
    checked: list[str] = []
    try:
        checked = check_tickers(tickers)
    except PreflightError as exc:
        problems += exc.problems
    try:
        check_source(source, checked, endpoint_url=endpoint_url, timeout=timeout)
    except PreflightError as exc:
        problems += exc.problems
    else:
        try:
            window = {"start": start, "end": end, "interval": interval}
            check_bars_window(source, checked, endpoint_url=endpoint_url, **window)
        except PreflightError as exc:
            problems += exc.problems
    try:
        check_store(store, endpoint_url=endpoint_url, timeout=timeout)
    except PreflightError as exc:
        problems += exc.problems
    if problems:
        raise PreflightError("\n".join(problems), problems)
    return checked


def preflight_config(cfg: PipelineConfig) -> list[str]:
    """:func:`preflight` on a training configuration's tickers, source, store and window, then
    its ``run.resume``: the run it names must have left checkpoints in ``run.work_dir``.
    Shared by ``tradeforge train`` and ``tf.train``; raises :class:`PreflightError`."""
    checked = preflight(
        cfg.data.tickers,
        cfg.data.source,
        cfg.run.store,
        endpoint_url=cfg.data.s3_endpoint_url,
        start=cfg.data.start,
        end=cfg.data.end,
        interval=cfg.data.interval,
    )
    if cfg.run.resume is not None:
        folder = Path(cfg.run.work_dir).expanduser() / cfg.run.resume
        if not (folder / "checkpoints").is_dir():
            raise PreflightError(
                f"--run.resume {cfg.run.resume}: no checkpoints of that run in {folder}"
            )
    return checked
