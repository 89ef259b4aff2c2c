"""Yahoo Finance through yfinance 1.x, with retries and raw snapshots in an object store.

Every successful fetch is stored as it came (one Parquet file per ticker, content-addressed
by sha256) next to a JSON record of the request that produced it:

    raw/yahoo/<TICKER>/<interval>/<sha256>.parquet
    raw/yahoo/<TICKER>/<interval>/<sha256>.json

``offline=True`` never touches the network: it serves the latest snapshot whose request covers
the one asked for, or fails saying which snapshots exist.

yfinance's ``download()`` does not raise per-ticker failures: it logs them and leaves the
ticker's columns empty. We listen to its logger during the call to learn why a ticker came back
empty, so that rate limits and network trouble are retried with exponential backoff while an
unknown or delisted ticker fails at once with Yahoo's own words.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradeforge.config.data import DataConfig
from tradeforge.data.canonical import Ingested, filter_dates, make_canonical
from tradeforge.data.errors import (
    DataSourceError,
    SnapshotNotFound,
    YahooNoData,
    YahooUnavailable,
)
from tradeforge.data.formats import read_bars

if TYPE_CHECKING:
    from storage import ObjectStore

log = logging.getLogger(__name__)

SNAPSHOT_ROOT = "raw/yahoo"
_TICKER = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.\-=^]{0,19}$")  # ^GSPC: an index
#: Words in yfinance's error log that mean "try again later", not "no such ticker".
_TRANSIENT_HINTS = ("rate limit", "too many requests", "timed out", "timeout", "connection", "curl")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient Yahoo failures."""

    attempts: int = 5
    """Total tries per fetch (first one included)."""
    initial_wait: float = 2.0
    """Seconds before the second try; doubled each time."""
    max_wait: float = 60.0
    """Cap on one wait, in seconds."""


@dataclass(frozen=True)
class YahooRequest:
    """What was asked of Yahoo for one ticker."""

    ticker: str
    interval: str
    start: str | None
    end: str | None
    auto_adjust: bool = True

    def covers(self, other: YahooRequest) -> bool:
        """True when this request's bars include every bar ``other`` asks for."""
        same = (self.ticker, self.interval, self.auto_adjust) == (
            other.ticker,
            other.interval,
            other.auto_adjust,
        )
        starts = self.start is None or (other.start is not None and self.start <= other.start)
        ends = self.end is None or (other.end is not None and self.end >= other.end)
        return same and starts and ends


@dataclass(frozen=True)
class Snapshot:
    """One stored raw fetch."""

    request: YahooRequest
    data: bytes
    sha256: str
    key: str | None
    fetched_at: str

    def frame(self) -> pd.DataFrame:
        """The canonical frame of this snapshot, limited to its request's dates."""
        parsed = read_bars(self.data, f"{self.key or 'yahoo'}", self.request.ticker)
        frame = make_canonical(parsed.bars, self.request.ticker)
        origin = f"yahoo {self.request.ticker} {self.request.interval}"
        return filter_dates(frame, self.request.start, self.request.end, origin=origin)


class _Transient(Exception):
    """Some tickers failed for reasons worth retrying (rate limit, network)."""

    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__("; ".join(f"{t}: {r}" for t, r in reasons.items()))
        self.reasons = reasons


# -- public API ---------------------------------------------------------------------------------


def fetch_yahoo(
    tickers: Iterable[str],
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    *,
    store: ObjectStore | None = None,
    offline: bool = False,
    retry: RetryPolicy | None = None,
) -> dict[str, pd.DataFrame]:
    """Canonical frames of ``tickers`` from Yahoo (or, offline, from stored snapshots)."""
    snaps = fetch_snapshots(
        tickers, start, end, interval, store=store, offline=offline, retry=retry
    )
    return {ticker: snap.frame() for ticker, snap in snaps.items()}


def fetch_snapshots(
    tickers: Iterable[str],
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    *,
    store: ObjectStore | None = None,
    offline: bool = False,
    retry: RetryPolicy | None = None,
) -> dict[str, Snapshot]:
    """Raw snapshots of ``tickers``: fetched (and stored when ``store`` is given) or, offline,
    the latest stored snapshot covering each request."""
    names = _check_tickers(tickers)
    requests = {t: YahooRequest(t, interval, start, end) for t in names}
    if offline:
        if store is None:
            raise SnapshotNotFound("offline mode needs a snapshot store (--store) to read from")
        return {t: latest_snapshot(store, req) for t, req in requests.items()}
    try:
        raw = _download_all(names, start, end, interval, retry or RetryPolicy())
    except YahooUnavailable as exc:
        hint = _offline_hint(store, list(requests.values()))
        raise YahooUnavailable(f"{exc}{hint}") from exc
    return {t: _keep(raw[t], requests[t], store) for t in names}


def _offline_hint(store: ObjectStore | None, requests: list[YahooRequest]) -> str:
    """Point at stored snapshots that could serve this run offline, if there are any."""
    if store is None:
        return ""
    found = []
    for request in requests:
        try:
            found.append(f"{request.ticker} ({latest_snapshot(store, request).fetched_at})")
        except DataSourceError:
            continue
    if not found:
        return ""
    return f"\nStored snapshots cover this request for {', '.join(found)}: rerun with --offline"


def ingest_yahoo(ticker: str, config: DataConfig, *, store: ObjectStore | None) -> Ingested:
    """``ingest()`` for ``source == "yahoo"``: one ticker, snapshotted, offline if configured."""

    snap = fetch_snapshots(
        [ticker],
        config.start,
        config.end,
        config.interval,
        store=store,
        offline=config.offline,
    )[ticker.upper()]
    where = store.uri_for(snap.key) if store is not None and snap.key else "not stored"
    mode = "offline snapshot" if config.offline else "fetched"
    return Ingested(
        frame=snap.frame(),
        sha256=snap.sha256,
        source=f"yahoo {ticker.upper()} {config.interval} ({mode} {snap.fetched_at}; {where})",
        snapshot_key=snap.key,
        layout="yahoo_adjusted",
    )


def snapshot_prefix(ticker: str, interval: str) -> str:
    """Store prefix holding one ticker's snapshots at one interval."""
    return f"{SNAPSHOT_ROOT}/{ticker.upper()}/{interval}/"


def latest_snapshot(store: ObjectStore, request: YahooRequest) -> Snapshot:
    """The most recent stored snapshot whose request covers ``request`` (checksum verified)."""
    prefix = snapshot_prefix(request.ticker, request.interval)
    records = [_read_record(store, key) for key in store.list(prefix) if key.endswith(".json")]
    covering = [r for r in records if YahooRequest(**r["request"]).covers(request)]
    if not covering:
        seen = ", ".join(
            f"{r['request']['start']}..{r['request']['end']} ({r['fetched_at']})" for r in records
        )
        raise SnapshotNotFound(
            f"offline: no stored Yahoo snapshot of {request.ticker} {request.interval} covers "
            f"start={request.start} end={request.end} in {store.uri_for(prefix.rstrip('/'))} "
            f"(stored: {seen or 'none'}); run `tradeforge ingest` online first"
        )
    best = max(covering, key=lambda r: r["fetched_at"])
    data = store.get_bytes(best["key"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != best["sha256"]:
        raise DataSourceError(
            f"{store.uri_for(best['key'])}: content sha256 {digest} does not match its record "
            f"{best['sha256']} (corrupted snapshot)"
        )
    return Snapshot(request, data, digest, best["key"], best["fetched_at"])


# -- fetching -----------------------------------------------------------------------------------


def _check_tickers(tickers: Iterable[str]) -> list[str]:
    names = [t.strip().upper() for t in ([tickers] if isinstance(tickers, str) else tickers)]
    if not names:
        raise YahooNoData("no tickers to fetch")
    bad = [t for t in names if not _TICKER.match(t)]
    if bad:
        raise YahooNoData(f"not Yahoo ticker symbols: {bad}")
    return list(dict.fromkeys(names))


def _download_all(
    tickers: list[str], start: str | None, end: str | None, interval: str, retry: RetryPolicy
) -> dict[str, pd.DataFrame]:
    """Per-ticker raw frames; transient failures retried with exponential backoff."""
    import tenacity

    got: dict[str, pd.DataFrame] = {}
    pending = list(tickers)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.attempts),
        wait=tenacity.wait_exponential(multiplier=retry.initial_wait, max=retry.max_wait),
        retry=tenacity.retry_if_exception_type(_Transient),
        before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                frames, failures = _download_once(pending, start, end, interval)
                got.update(frames)
                permanent = {t: r for t, r in failures.items() if not _is_transient(r)}
                if permanent:
                    raise YahooNoData(_no_data_message(permanent, start, end, interval))
                pending = list(failures)
                if pending:
                    raise _Transient(failures)
    except _Transient as exc:
        raise YahooUnavailable(
            f"Yahoo still failing after {retry.attempts} attempts with backoff: {exc}"
        ) from exc
    return got


def _no_data_message(failures: dict[str, str], start, end, interval: str) -> str:
    lines = [f"{t}: {reason}" for t, reason in failures.items()]
    return (
        f"Yahoo returned no {interval} bars between start={start} and end={end} for "
        f"{', '.join(failures)} (unknown or delisted ticker, or no trading in that range):\n  "
        + "\n  ".join(lines)
    )


def _is_transient(reason: str) -> bool:
    return any(hint in reason.lower() for hint in _TRANSIENT_HINTS)


def _download_once(
    tickers: list[str], start: str | None, end: str | None, interval: str
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """One ``yf.download`` call: frames of tickers that came back, reasons for the others."""
    import yfinance as yf

    kwargs: dict[str, Any] = dict(
        start=start,
        end=end,
        interval=interval,
        auto_adjust=True,
        actions=False,
        progress=False,
        threads=False,
        group_by="column",
        multi_level_index=True,
    )
    if start is None and end is None:
        kwargs["period"] = "max"  # yfinance's default is one month
    with _yf_errors() as errors:
        try:
            table = yf.download(list(tickers), **kwargs)
        except Exception as exc:
            if _is_transient(f"{type(exc).__name__} {exc}") or isinstance(exc, OSError):
                raise _Transient({t: f"{type(exc).__name__}: {exc}" for t in tickers}) from exc
            raise
    frames: dict[str, pd.DataFrame] = {}
    failures: dict[str, str] = {}
    for ticker in tickers:
        frame = _ticker_frame(table, ticker, len(tickers))
        if frame is None or frame.empty:
            said = [e for e in errors if f"'{ticker}'" in e or f"${ticker}:" in e]
            failures[ticker] = " | ".join(said) or "empty frame, and yfinance logged no reason"
        else:
            frames[ticker] = frame
    return frames, failures


def _ticker_frame(table: pd.DataFrame | None, ticker: str, n: int) -> pd.DataFrame | None:
    """One ticker's OHLCV columns from yfinance's (Price, Ticker) MultiIndex frame."""
    if table is None or table.empty:
        return None
    if isinstance(table.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in table.columns.names else 1
        if ticker not in table.columns.get_level_values(level):
            return None
        frame = table.xs(ticker, axis=1, level=level)
    elif n == 1:
        frame = table
    else:
        raise YahooNoData(f"yfinance returned flat columns {list(table.columns)} for {n} tickers")
    frame = frame.dropna(how="all")
    frame.columns = [str(c) for c in frame.columns]
    missing = {"Open", "High", "Low", "Close", "Volume"} - set(frame.columns)
    if missing:
        raise YahooNoData(f"{ticker}: yfinance frame lacks columns {sorted(missing)}")
    frame = frame[["Open", "High", "Low", "Close", "Volume"]]
    frame.index.name = "Datetime" if frame.index.name == "Datetime" else "Date"
    return frame


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _yf_errors() -> Iterator[list[str]]:
    """Collect what yfinance logs at ERROR during a call (its only report of per-ticker errors)."""
    handler = _Collect()
    yf_log = logging.getLogger("yfinance")
    yf_log.addHandler(handler)
    try:
        yield handler.messages
    finally:
        yf_log.removeHandler(handler)


# -- snapshots ----------------------------------------------------------------------------------


def _keep(frame: pd.DataFrame, request: YahooRequest, store: ObjectStore | None) -> Snapshot:
    """Serialise a raw frame to Parquet, store it with its request record, return the snapshot."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    fetched_at = datetime.now(UTC).isoformat(timespec="microseconds")
    if store is None:
        return Snapshot(request, data, digest, None, fetched_at)
    from storage import PreconditionFailed

    base = snapshot_prefix(request.ticker, request.interval) + digest
    key = base + ".parquet"
    record = {
        "request": asdict(request),
        "key": key,
        "sha256": digest,
        "fetched_at": fetched_at,
        "rows": len(frame),
        "first": str(frame.index.min()),
        "last": str(frame.index.max()),
        "yfinance": _yf_version(),
    }
    # Content-addressed: if the key exists, the same bytes are already stored.
    with contextlib.suppress(PreconditionFailed):
        store.put_bytes(key, data, if_none_match=True)
    # The record is written after the data, so a record always points at a complete snapshot;
    # a refetch of identical bytes refreshes fetched_at.
    store.put_bytes(base + ".json", json.dumps(record, indent=2).encode())
    return Snapshot(request, data, digest, key, fetched_at)


def _read_record(store: ObjectStore, key: str) -> dict[str, Any]:
    try:
        record = json.loads(store.get_bytes(key))
        YahooRequest(**record["request"])
        missing = {"key", "sha256", "fetched_at"} - set(record)
        if missing:
            raise KeyError(f"missing {sorted(missing)}")
    except (ValueError, KeyError, TypeError) as exc:
        raise DataSourceError(f"{store.uri_for(key)}: not a snapshot record ({exc})") from exc
    return record


def _yf_version() -> str:
    import yfinance

    return str(getattr(yfinance, "__version__", "unknown"))
