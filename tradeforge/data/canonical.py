"""The canonical OHLCV frame every stage after ingest works on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tradeforge.data.errors import NoBarsInRange

#: Exact column order of the canonical frame.
COLUMNS = ("ticker", "timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
NUMERIC_COLUMNS = (*PRICE_COLUMNS, "volume")


def make_canonical(bars: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Build the canonical frame from ``bars`` (columns timestamp, open..volume, any order).

    Timestamps must already be UTC-aware. Rows keep their order: the reader has put a vendor
    file in time order (with a note) where that is safe; what remains (repeated or missing
    times) is left for validation to report.
    """
    out = pd.DataFrame(
        {
            "ticker": pd.Series([ticker] * len(bars), dtype=object),
            "timestamp": pd.DatetimeIndex(bars["timestamp"])
            .tz_convert("UTC")
            .astype("datetime64[ns, UTC]"),
        }
    )
    for col in NUMERIC_COLUMNS:
        out[col] = pd.to_numeric(bars[col].to_numpy(), errors="raise").astype("float64")
    return out.reset_index(drop=True)


def filter_dates(
    frame: pd.DataFrame, start: str | None, end: str | None, *, origin: str
) -> pd.DataFrame:
    """Bars with ``start <= timestamp < end`` (UTC dates); error naming ``origin`` if none remain."""
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= frame["timestamp"] >= pd.Timestamp(start, tz="UTC")
    if end is not None:
        mask &= frame["timestamp"] < pd.Timestamp(end, tz="UTC")
    # A bar without a timestamp is kept so that validation reports it instead of losing it here.
    mask |= frame["timestamp"].isna()
    out = frame[mask].reset_index(drop=True)
    if out.empty:
        ts = frame["timestamp"].dropna()
        covers = (
            f"runs from {ts.min():%Y-%m-%d} to {ts.max():%Y-%m-%d}"
            if len(ts)
            else "has no dated bars"
        )
        asked = " and ".join(f"{k} {v}" for k, v in (("start", start), ("end", end)) if v)
        raise NoBarsInRange(f"{origin}: no bars with {asked} (the data {covers})")
    return out


def infer_interval(timestamps: pd.Series) -> str | None:
    """``"1h"`` or ``"1d"`` from the typical spacing of bars; None when it cannot tell."""
    ts = pd.DatetimeIndex(timestamps.dropna()).sort_values()
    if len(ts) < 3:
        return None
    step = pd.Series(ts).diff().dropna().median()
    if step <= pd.Timedelta(hours=1):
        return "1h"
    if step >= pd.Timedelta(hours=20):
        return "1d"
    return None


@dataclass(frozen=True)
class Ingested:
    """One ticker's bars as read from a source."""

    frame: pd.DataFrame
    """The canonical OHLCV frame (see ``tradeforge.data.canonical``)."""
    sha256: str
    """sha256 of the raw bytes the frame was parsed from."""
    source: str
    """Human-readable origin, e.g. a path, ``s3://...`` URI or ``demo (gym-anytrading ...)``."""
    snapshot_key: str | None = None
    """Store key of the raw Yahoo snapshot, when the bars came from Yahoo."""
    layout: str = ""
    """Vendor layout the raw bytes were recognised as."""
    notes: tuple[str, ...] = ()
    """What was done to the vendor data (adjustments applied or refused)."""


def daily_dates(frame: pd.DataFrame, *, zoned: bool, timezone: str) -> tuple[pd.DataFrame, str]:
    """Daily bars stamped by their calendar day (00:00 UTC of that date), and a note if moved.

    Stamps already at midnight are dates as written. Other stamps are dated by the day they
    fall on in ``timezone`` (the exchange's) when the file gave them as instants (``zoned``),
    or by the date written when they are wall-clock times without a zone: a bar stamped
    ``2020-01-02 21:00Z`` (16:00 in New York) is the bar of 2 January, not of 3 January.
    """
    stamps = frame["timestamp"]
    known = stamps.dropna()
    if known.empty or (known == known.dt.normalize()).all():
        return frame, ""
    local = stamps.dt.tz_convert(timezone) if zoned else stamps.dt.tz_convert("UTC")
    dates = local.dt.tz_localize(None).dt.normalize().dt.tz_localize("UTC")
    times = local.dropna().dt.strftime("%H:%M").value_counts()
    zone = timezone if zoned else "as written"
    note = (
        f"daily bars stamped at {', '.join(times.index[:3])} ({zone}): each dated by its "
        f"calendar day{' in ' + timezone if zoned else ''}"
    )
    return frame.assign(timestamp=dates.astype("datetime64[ns, UTC]")), note
