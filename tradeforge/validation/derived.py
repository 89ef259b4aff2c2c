"""Per-bar columns the warning expectations check: move size, calendar gaps, stale runs.

great-expectations checks column values; what a bar means in time (how many sessions the
exchange held since the previous bar, whether the feed repeated itself) is computed here with
exchange-calendars and numpy, then handed to the suite as plain columns.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

STOCK = "stock"
CRYPTO = "crypto"
ASSET_CLASSES = (STOCK, CRYPTO)
#: Exchange whose sessions define a stock's expected bars.
STOCK_CALENDAR = "XNYS"
#: Time zone whose calendar day dates a daily bar (crypto trades around the clock, in UTC).
EXCHANGE_TIMEZONES = {STOCK: "America/New_York", CRYPTO: "UTC"}

_CRYPTO_BASES = (
    "BTC|ETH|LTC|XRP|BCH|ADA|SOL|DOGE|DOT|LINK|XLM|EOS|TRX|BNB|AVAX|MATIC|UNI|ATOM|XMR|ETC|ZEC"
)
_QUOTES = "USD|USDT|USDC|EUR|GBP|JPY|BTC|ETH"
_CRYPTO = re.compile(rf"^(?:[A-Z0-9]+-(?:{_QUOTES})|(?:{_CRYPTO_BASES})-?(?:{_QUOTES}))$")

#: Largest |log return| of one bar before it is flagged (an unadjusted 2:1 split is 0.69,
#: 3:2 is 0.41); calibrated so that none of the real files' genuine moves trips it except
#: Coinbase's first weeks of BTC trading.
MOVE_THRESHOLDS = {
    (STOCK, "1d"): 0.35,
    (STOCK, "1h"): 0.20,
    (CRYPTO, "1d"): 0.50,
    (CRYPTO, "1h"): 0.25,
}
#: This many identical zero-volume bars in a row is a stale feed, not a quiet market.
STALE_RUN = 3
#: Longest stale run that is only dropped with a warning; a longer one is a hole in the data
#: and stops the run (issue 14: a month of repeated bars was dropped and trained over). Stocks:
#: a trading week of sessions (or two of hours). Crypto: calibrated on the real files, whose
#: longest run is Coinbase's 20 days of 340.00 in December 2014, its first month of trading.
MAX_STALE_BARS = {
    (STOCK, "1d"): 5,
    (STOCK, "1h"): 14,
    (CRYPTO, "1d"): 21,
    (CRYPTO, "1h"): 24,
}
SPLIT_RATIOS = (2, 3, 4, 5, 7, 8, 10, 1.5, 15, 20)
#: A bar is a suspected unadjusted split when the geometric mean of its four price ratios to
#: the previous bar is within this of a split ratio ...
SPLIT_TOLERANCE = 0.05
#: ... and each of open, high, low and close is within this of the same ratio (a real split
#: moves the whole bar; a crash moves the close far more than the open).
SPLIT_COLUMN_TOLERANCE = 0.25


#: Largest plausible price of one unit (BRK-A, the dearest share, trades near 1e6) and volume
#: of one bar (SHIB's busiest days trade ~1e13 tokens): above these a value is a bad print or
#: an overflow, not a market (issue 24: a close of 1e308 and a volume of 1e30 passed).
MAX_PRICE = 1e9
MAX_VOLUME = 1e16


def implausible(frame: pd.DataFrame) -> pd.Series:
    """1 for a bar holding a non-finite value (inf) or a price or volume past ``MAX_PRICE`` /
    ``MAX_VOLUME``; else 0. A null is ``no_nulls``' finding, not this rule's."""
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(prices).any(axis=1) | np.isinf(volume)
        bad |= (prices > MAX_PRICE).any(axis=1) | (volume > MAX_VOLUME)
    return pd.Series(bad.astype(np.int64), index=frame.index)


def value_problem(row: pd.Series) -> str:
    """``"close=inf is not finite"`` / ``"volume=1e+30 > 1e+16"``: why a bar is implausible."""
    out = []
    for col in ("open", "high", "low", "close", "volume"):
        value = float(row[col])
        limit = MAX_VOLUME if col == "volume" else MAX_PRICE
        if np.isinf(value):
            out.append(f"{col}={value} is not finite")
        elif value > limit:
            out.append(f"{col}={value:g} > {limit:g} (no market trades that)")
    return ", ".join(out)


def off_calendar(timestamps: pd.Series, asset_class: str, interval: str) -> pd.Series:
    """1 for a stock bar dated on a day the exchange (``STOCK_CALENDAR``) held no session:
    a Saturday or Sunday bar with its own prices is not a market (issue 24). Daily bars are
    dated by their date, hourly ones by their New York date. Crypto trades every day: all 0."""
    out = np.zeros(len(timestamps), dtype=np.int64)
    ts = pd.DatetimeIndex(timestamps)
    valid = ~ts.isna()
    if asset_class == CRYPTO or not valid.any():
        return pd.Series(out, index=timestamps.index)
    zone = "UTC" if interval == "1d" else EXCHANGE_TIMEZONES[STOCK]
    days = ts[valid].tz_convert(zone).tz_localize(None).normalize()
    sessions = _sessions(int(days.min().year), int(days.max().year))
    out[valid] = (~days.isin(sessions)).astype(np.int64)
    return pd.Series(out, index=timestamps.index)


def asset_class_of(ticker: str) -> str:
    """``crypto`` for pairs such as ``BTC-USD``, ``ETHUSDT`` or ``BTCUSD``; else ``stock``."""
    return CRYPTO if _CRYPTO.match(ticker.upper()) else STOCK


def exchange_timezone(ticker: str) -> str:
    """Time zone of the exchange whose calendar days date ``ticker``'s daily bars."""
    return EXCHANGE_TIMEZONES[asset_class_of(ticker)]


def add_derived(
    frame: pd.DataFrame, asset_class: str, interval: str, *, max_stale_bars: int
) -> pd.DataFrame:
    """``frame`` plus the per-bar columns the suite's expectations check."""
    out = frame.copy()
    out["implausible"] = implausible(frame)
    # A bar with an infinite or absurd value is plausible_values' finding: leave it out of the
    # OHLC comparisons (as a null is), or inf reads as "high < close" (issue 24).
    sane = frame.where(out["implausible"] == 0)
    out["ohlc_high"] = sane["high"]
    out["ohlc_low"] = sane["low"]
    out["max_open_close"] = sane[["open", "close"]].max(axis=1, skipna=False)
    out["min_open_close"] = sane[["open", "close"]].min(axis=1, skipna=False)
    out["min_price"] = frame[["open", "high", "low", "close"]].min(axis=1, skipna=False)
    out["off_calendar"] = off_calendar(frame["timestamp"], asset_class, interval)
    close = frame["close"].where(frame["close"] > 0)
    out["abs_log_return"] = np.log(close / close.shift(1)).abs()
    out["missing_before"] = missing_before(frame["timestamp"], asset_class, interval)
    runs = stale_runs(frame)
    out["stale_run"] = runs
    out["short_stale_run"] = runs.where(runs <= max_stale_bars, 0)
    out["pre_listing"] = pre_listing(frame).astype(int)
    out["repeat_of"] = repeat_of(frame)
    out["split_ratio"] = split_ratios(frame)
    return out


def repeat_of(frame: pd.DataFrame) -> pd.Series:
    """Position of an earlier bar with the very same open, high, low, close and (non-zero)
    volume, else -1: a traded bar copied under another time (a relabelled hour), not a market.
    """
    cols = ["open", "high", "low", "close", "volume"]
    traded = frame["volume"].fillna(0) > 0
    keyed = frame[cols].round(10)
    first = pd.Series(np.arange(len(frame)), index=frame.index)
    origin = first.groupby([keyed[c] for c in cols], dropna=False).transform("min")
    copied = traded & keyed.duplicated(keep="first")
    # The same bar twice under the same time is unique_timestamps' finding, not a relabelling.
    stamps = frame["timestamp"].to_numpy()
    copied &= stamps != stamps[origin.to_numpy()]
    return pd.Series(np.where(copied, origin, -1), index=frame.index).astype(np.int64)


def split_ratios(frame: pd.DataFrame) -> pd.Series:
    """For each bar, the split ``n`` (2.0 for 2:1, 0.5 for a 1:2 reverse split) its whole bar
    moved by against the previous bar, or 0.0 when it does not look like a split."""
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=float)
    out = np.zeros(len(frame))
    if len(frame) < 2:
        return pd.Series(out, index=frame.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = prices[1:] / prices[:-1]
        mean = np.exp(np.log(ratios).mean(axis=1))
    for n in SPLIT_RATIOS:
        for target, label in ((1 / n, n), (n, 1 / n)):
            near = np.abs(mean / target - 1) < SPLIT_TOLERANCE
            near &= (np.abs(ratios / target - 1) < SPLIT_COLUMN_TOLERANCE).all(axis=1)
            out[1:] = np.where(near & (out[1:] == 0), label, out[1:])
    return pd.Series(out, index=frame.index)


def split_label(n: float) -> str:
    """``2.0`` -> ``"2:1 split"``, ``0.5`` -> ``"1:2 reverse split"``."""
    return f"{n:g}:1 split" if n >= 1 else f"1:{1 / n:g} reverse split"


def pre_listing(frame: pd.DataFrame) -> pd.Series:
    """Leading bars with zero volume before the first traded bar (e.g. TSLA's 2010-06-28 row)."""
    traded = frame["volume"].fillna(0) > 0
    if not traded.any():
        return pd.Series(False, index=frame.index)
    return pd.Series(np.arange(len(frame)) < int(np.argmax(traded.to_numpy())), index=frame.index)


def stale_runs(frame: pd.DataFrame) -> pd.Series:
    """For each bar in a run of identical zero-volume bars, the run's length; else 0."""
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    zero = (frame["volume"] == 0).to_numpy()
    same = np.zeros(len(frame), dtype=bool)
    if len(frame) > 1:
        same[1:] = (prices[1:] == prices[:-1]).all(axis=1) & zero[1:] & zero[:-1]
    # A run starts at a bar that is not "same as previous" and continues while it is.
    run_id = np.cumsum(~same)
    lengths = pd.Series(run_id).map(pd.Series(run_id).value_counts()).to_numpy()
    in_run = same | np.r_[same[1:], False]  # a run's first bar is "same" as the next one
    return pd.Series(np.where(in_run, lengths, 0), index=frame.index)


def missing_before(timestamps: pd.Series, asset_class: str, interval: str) -> pd.Series:
    """How many expected bars are missing just before each bar (0 for the first bar)."""
    ts = pd.DatetimeIndex(timestamps)
    result = np.zeros(len(ts), dtype=np.int64)
    valid = ~ts.isna()
    if valid.sum() < 2:
        return pd.Series(result, index=timestamps.index)
    if asset_class == CRYPTO:
        result[valid] = _missing_continuous(ts[valid], interval)
    elif interval == "1h":
        result[valid] = _missing_session_hours(ts[valid])
    else:
        result[valid] = _missing_sessions(ts[valid])
    return pd.Series(result, index=timestamps.index)


def _missing_continuous(ts: pd.DatetimeIndex, interval: str) -> np.ndarray:
    """24/7 markets: every hour (or day) is a bar."""
    step = pd.Timedelta(hours=1) if interval == "1h" else pd.Timedelta(days=1)
    gaps = np.r_[0, np.diff(ts.asi8)] / step.value
    return np.clip(np.round(gaps) - 1, 0, None).astype(np.int64)


def _missing_sessions(ts: pd.DatetimeIndex) -> np.ndarray:
    """Stocks: exchange sessions strictly between each bar's day and the previous bar's day."""
    days = ts.tz_convert(None).normalize().to_numpy()
    sessions = _sessions(int(str(days.min())[:4]), int(str(days.max())[:4])).to_numpy()
    left = sessions.searchsorted(days, side="left")
    right = sessions.searchsorted(days, side="right")
    between = np.r_[0, left[1:] - right[:-1]]  # same-day bars (hourly) give -1: none missing
    return np.clip(between, 0, None).astype(np.int64)


def _missing_session_hours(ts: pd.DatetimeIndex) -> np.ndarray:
    """Stocks, hourly: expected bar starts (open, open+1h, ... before close) between bars.

    The window is shrunk by half an hour at both ends so that bars aligned differently from
    the exchange open (10:00 rather than 09:30) do not count the expected start between them.
    """
    stamps = ts.tz_convert("UTC").tz_localize(None)
    expected = _hour_starts(int(stamps.min().year), int(stamps.max().year))
    half = np.timedelta64(30, "m")
    now = stamps.to_numpy()
    upto = expected.searchsorted(now[1:] - half, side="left")
    after = expected.searchsorted(now[:-1] + half, side="right")
    return np.clip(np.r_[0, upto - after], 0, None).astype(np.int64)


@lru_cache(maxsize=16)
def _calendar(first_year: int, last_year: int):
    """The stock exchange calendar over whole years (cached: building one takes ~1 s)."""
    import exchange_calendars as xcals

    return xcals.get_calendar(STOCK_CALENDAR, start=f"{first_year}-01-01", end=f"{last_year}-12-31")


def stock_sessions(start: str, count: int) -> pd.DatetimeIndex:
    """The first ``count`` sessions of the stock exchange from ``start`` (UTC midnight): the
    dates generated daily stock bars must carry to pass ``off_calendar``."""
    first = pd.Timestamp(start)
    days = _sessions(first.year, first.year + count // 240 + 1)
    days = days[days >= first][:count]
    if len(days) < count:
        raise ValueError(f"{count} sessions from {start} run past the calendar")
    return days.tz_localize("UTC")


def _sessions(first_year: int, last_year: int) -> pd.DatetimeIndex:
    """Exchange session dates of whole calendar years."""
    return pd.DatetimeIndex(_calendar(first_year, last_year).sessions).tz_localize(None)


@lru_cache(maxsize=16)
def _hour_starts(first_year: int, last_year: int) -> np.ndarray:
    """Every expected hourly bar start (UTC, naive) of every session, sorted."""
    schedule = _calendar(first_year, last_year).schedule
    opens = pd.DatetimeIndex(schedule["open"]).tz_convert("UTC").tz_localize(None).to_numpy()
    closes = pd.DatetimeIndex(schedule["close"]).tz_convert("UTC").tz_localize(None).to_numpy()
    hour = np.timedelta64(1, "h")
    counts = np.ceil((closes - opens) / hour).astype(int)
    starts = np.repeat(opens, counts) + hour * (
        np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    return np.sort(starts)


def split_flag(ticker: str, date: str, n: float) -> str:
    """How to declare a split on the command line, e.g.
    ``--validation.splits NVDA:2021-07-20=4`` (train) / ``--split NVDA:2021-07-20=4`` (validate)."""
    spec = f"{ticker}:{date}={n:g}"
    return f"--validation.splits {spec} (train) or --split {spec} (validate)"


def split_hint(ratio: float) -> str:
    """``"looks like an unadjusted 2:1 split"`` when a price ratio matches a common split."""
    for n in SPLIT_RATIOS:
        for r, text in ((1 / n, f"{n:g}:1 split"), (n, f"1:{n:g} reverse split")):
            if abs(ratio / r - 1) < 0.03:
                return f"; looks like an unadjusted {text}"
    return ""
