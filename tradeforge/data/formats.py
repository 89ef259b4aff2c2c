"""Vendor layouts -> bars: every quirk of the files we know is handled here, in code.

A layout is recognised from its header (column names, case- and spacing-insensitive). Values
are parsed strictly: a cell that is present but not a number (or not a date) is an error that
names the file, the line and the column; an empty cell becomes a null that validation reports.
Times in more than one time zone (some rows with a UTC offset, some without, or offsets no
single zone uses) are an error naming rows. A file in descending order as a whole (Alpha
Vantage, CryptoDataDownload, old Yahoo exports) is reversed; rows otherwise out of order are
sorted when their times are unique; each is said in a note. Repeated times keep their order
for validation to report.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.data.canonical import NUMERIC_COLUMNS, PRICE_COLUMNS
from tradeforge.data.errors import DataFormatError

log = logging.getLogger(__name__)

ISO = "ISO8601"
#: CryptoDataDownload's hourly stamps, e.g. ``2019-10-17 09-AM`` (UTC, per the file's banner).
CDD_HOURLY = "%Y-%m-%d %I-%p"
#: Largest share of bars on which a price-adjustment factor may fall (rounding noise only):
#: dividend and split adjustments only ever raise the factor as time moves forward.
MAX_FACTOR_DROPS = 0.01
FACTOR_DROP_TOLERANCE = 1e-3
#: Quote-currency volume columns of CryptoDataDownload (``Volume USD``); the bar volume we keep
#: is the first base-asset one (``Volume BTC`` / ``volume_btc``), comparable to share counts.
QUOTE_VOLUMES = ("usd", "usdt", "usdc", "eur", "gbp", "jpy", "krw")
#: ``DataFrame.attrs`` key of the tickers a multi-ticker (yfinance) table held.
HELD = "tradeforge_tickers"


@dataclass(frozen=True)
class Parsed:
    """Bars read from one file: ``timestamp`` (UTC) plus open..volume, and how they were read."""

    bars: pd.DataFrame
    layout: str
    notes: tuple[str, ...] = ()
    zoned: bool = False
    """True when the file's times carried a time zone (UTC offsets or a tz-aware column): they
    are instants, converted to UTC. False: wall-clock times as written, read as UTC."""
    tickers: tuple[str, ...] = ()
    """The instruments the content names (a ticker column, yfinance's Ticker header row)."""


Adjust = Callable[[pd.DataFrame, str], tuple[pd.DataFrame, list[str]]]


@dataclass(frozen=True)
class Layout:
    """One vendor layout: how to recognise it and how to turn it into bars."""

    name: str
    header: str
    """The header as the vendor writes it (shown when a file matches no layout)."""
    resolve: Callable[[list[str]], dict[str, str] | None]
    """Normalised column names -> {our name: file column}, or None if this is not the layout."""
    time_formats: tuple[str, ...] = (ISO,)
    adjust: Adjust | None = None


def _columns(
    required: dict[str, str], *, also: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()
):
    """A resolver matching when the mapped and ``also`` columns are present, no forbidden one."""

    def resolve(cols: list[str]) -> dict[str, str] | None:
        present = set(cols)
        needed = set(required.values()) | set(also)
        if needed <= present and not present & set(forbidden):
            return dict(required)
        return None

    return resolve


def _cdd_resolve(cols: list[str]) -> dict[str, str] | None:
    """CryptoDataDownload: date, symbol, OHLC and a base-currency volume (``volume_btc``)."""
    if not {"date", "symbol", "open", "high", "low", "close"} <= set(cols):
        return None
    base = [
        c
        for c in cols
        if c.startswith("volume_") and c.removeprefix("volume_") not in QUOTE_VOLUMES
    ]
    if not base:
        return None
    ohlc = {c: c for c in PRICE_COLUMNS}
    return {"timestamp": "date", **ohlc, "volume": base[0]}


def _plain(time_col: str, **extra: str) -> dict[str, str]:
    return {"timestamp": time_col, **{c: c for c in NUMERIC_COLUMNS}, **extra}


def _alphavantage_resolve(cols: list[str]) -> dict[str, str] | None:
    """Alpha Vantage daily adjusted; ``split_coefficient`` is used when present."""
    mapping = _columns(_plain("timestamp", adjusted_close="adjusted_close"))(cols)
    if mapping is not None and "split_coefficient" in cols:
        mapping["split_coefficient"] = "split_coefficient"
    return mapping


def _factor_problem(factor: pd.Series, bars: pd.DataFrame, column: str) -> str | None:
    """Why ``factor`` (adjusted / raw close, ascending time) is not an adjustment, or None."""
    known = factor.dropna()
    if known.empty:
        return f"{column} is empty"
    drops = int((known.shift(1) / known - 1 > FACTOR_DROP_TOLERANCE).sum())
    if drops <= max(2, MAX_FACTOR_DROPS * len(known)):
        return None
    adjusted = factor * bars["close"]
    same_as_low = int(np.isclose(adjusted, bars["low"], rtol=1e-6).sum())
    hint = f"; it equals Low on {same_as_low} of {len(bars)} rows" if same_as_low else ""
    return (
        f"{column} / Close falls over time on {drops} of {len(known)} bars, which no dividend "
        f"or split adjustment does{hint}"
    )


def _scale_by_factor(column: str, label: str) -> Adjust:
    """Scale OHLC by ``column / close`` when that ratio is a real adjustment factor.

    ``label`` is the column as the vendor spells it, for notes people read.
    """

    def adjust(bars: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
        factor = bars[column] / bars["close"]
        problem = _factor_problem(factor, bars, label)
        if problem is not None:
            note = f"{name}: {label} ignored ({problem}); raw Open/High/Low/Close kept"
            log.info(note)
            return bars, [note]
        if np.allclose(factor.dropna(), 1.0, rtol=0, atol=1e-9):
            return bars, [f"{name}: {label} equals Close on every bar: nothing to adjust"]
        out = bars.copy()
        # A bar whose own close is missing (or infinite) keeps its raw open/high/low: only
        # the close is bad then, and validation names that one cell, not all four prices
        # (issue 24: a NaN close read as four nulls, an infinite one as inf * 0 = null).
        factor = factor.where(np.isfinite(bars["close"]), 1.0)
        for col in PRICE_COLUMNS:
            out[col] = bars[col] * factor
        return out, [f"{name}: Open/High/Low/Close scaled by {label} / Close"]

    return adjust


def _alphavantage_adjust(bars: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Scale prices by adjusted_close / close and volumes by the later split coefficients."""
    out, notes = _scale_by_factor("adjusted_close", "adjusted_close")(bars, name)
    if "split_coefficient" in out:
        splits = out["split_coefficient"].fillna(1.0)
        # A split on day t changes the share count of every earlier bar: multiply volume by the
        # product of the coefficients strictly after each bar.
        later = splits[::-1].cumprod()[::-1].shift(-1, fill_value=1.0)
        if (later != 1.0).any():
            out = out.assign(volume=out["volume"] * later)
            notes.append(f"{name}: volume scaled by later split coefficients")
    return out, notes


# Most specific first: the first layout whose columns are all present wins.
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "canonical",
        "ticker,timestamp,open,high,low,close,volume (tradeforge's own frame)",
        _columns(_plain("timestamp"), also=("ticker",)),
    ),
    Layout(
        "alphavantage_daily_adjusted",
        "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient",
        _alphavantage_resolve,
        adjust=_alphavantage_adjust,
    ),
    Layout(
        "cryptodatadownload",
        "(banner line) then date,symbol,open,high,low,close,volume_btc,volume "
        "(dates 2019-10-17 or 2019-10-17 09-AM, UTC)",
        _cdd_resolve,
        time_formats=(CDD_HOURLY, ISO),
    ),
    Layout(
        "yahoo_classic",
        "Date,Open,High,Low,Close,Volume,Adj Close (OHLC scaled by Adj Close / Close)",
        lambda cols: _columns(
            _plain("datetime" if "datetime" in cols else "date", adj_close="adj_close")
        )(cols),
        adjust=_scale_by_factor("adj_close", "Adj Close"),
    ),
    Layout(
        "yahoo_adjusted",
        "Date (or Datetime),Open,High,Low,Close,Volume (yfinance auto_adjust=True; also its "
        "to_csv() with Price/Ticker header rows)",
        lambda cols: _columns(_plain("datetime" if "datetime" in cols else "date"))(cols),
    ),
    Layout(
        "plain_ohlcv",
        "timestamp,open,high,low,close,volume (e.g. Alpha Vantage TIME_SERIES_DAILY)",
        _columns(_plain("timestamp")),
    ),
)


def describe_layouts() -> str:
    """One line per layout understood, for error messages and ``--help``."""
    return "\n".join(f"  - {layout.name}: {layout.header}" for layout in LAYOUTS)


def normalise_column(name: object) -> str:
    """``"Adj Close"`` -> ``"adj_close"``, ``"Volume BTC"`` -> ``"volume_btc"``."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def read_bars(data: bytes, name: str, ticker: str | None = None) -> Parsed:
    """Parse the bytes of one CSV or Parquet file named ``name`` into bars (see module doc).

    ``ticker`` picks one instrument out of a file holding several (yfinance's
    ``download(...).to_csv()`` with its (Price, Ticker) header rows); other layouts ignore it.
    """
    if not data.strip():
        raise DataFormatError(f"{name}: the file is empty")
    if name.lower().endswith(".parquet") or data[:4] == b"PAR1":
        table, first_line = _read_parquet(data, name, ticker), None
    else:
        table, first_line = _read_csv(data, name, ticker)
    return _parse_table(table, name, first_line)


def _read_parquet(data: bytes, name: str, ticker: str | None) -> pd.DataFrame:
    try:
        table = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataFormatError(f"{name}: not a readable Parquet file ({exc})") from exc
    if isinstance(table.columns, pd.MultiIndex):
        table = _one_ticker(table, name, ticker)
    held = table.attrs.get(HELD, ())
    if isinstance(table.index, pd.DatetimeIndex):
        table = table.reset_index()
    table.columns = [normalise_column(c) for c in table.columns]
    table.attrs[HELD] = held
    return table


def _one_ticker(table: pd.DataFrame, name: str, ticker: str | None) -> pd.DataFrame:
    """Flatten yfinance's (Price, Ticker) columns to one ticker's Open..Volume."""
    level = "Ticker" if "Ticker" in table.columns.names else 1
    held = list(dict.fromkeys(str(t) for t in table.columns.get_level_values(level)))
    if ticker is not None and ticker.upper() in (t.upper() for t in held):
        pick = next(t for t in held if t.upper() == ticker.upper())
    elif len(held) == 1:
        pick = held[0]
    else:
        raise DataFormatError(
            f"{name}: holds tickers {', '.join(held)}; "
            f"{'it has no ' + ticker if ticker else 'say which one'}"
        )
    flat = table.xs(pick, axis=1, level=level).dropna(how="all")
    flat.columns = [str(c) for c in flat.columns]
    flat.attrs[HELD] = tuple(held)
    return flat


def _header_cells(line: str) -> list[str]:
    return [normalise_column(c) for c in line.split(",")]


def _read_csv(data: bytes, name: str, ticker: str | None) -> tuple[pd.DataFrame, int]:
    """The table and the 1-based file line of its first data row (after any banner line)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{name}: not a UTF-8 text file ({exc})") from exc
    lines = text.splitlines()
    if _is_yfinance_csv(lines):
        return _read_yfinance_csv(text, lines, name, ticker), 4
    # CryptoDataDownload puts a banner ("Created on ...,https://www.CryptoDataDownload.com")
    # above the header: take the first of the first two lines that some layout recognises.
    skip = next(
        (i for i, line in enumerate(lines[:2]) if _match(_header_cells(line)) is not None), 0
    )
    try:
        table = pd.read_csv(io.StringIO(text), skiprows=skip, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"{name}: not a readable CSV file ({exc})") from exc
    table.columns = [normalise_column(c) for c in table.columns]
    return table, skip + 2


def _is_yfinance_csv(lines: list[str]) -> bool:
    """yfinance 1.x ``download(...).to_csv()``: header rows Price,... / Ticker,... / Date,,,"""
    heads = [line.split(",", 1)[0].strip().lower() for line in lines[:3]]
    return len(heads) == 3 and heads[:2] == ["price", "ticker"] and heads[2] in ("date", "datetime")


def _read_yfinance_csv(text: str, lines: list[str], name: str, ticker: str | None) -> pd.DataFrame:
    try:
        table = pd.read_csv(io.StringIO(text), header=[0, 1], skiprows=[2], index_col=0, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"{name}: not a readable CSV file ({exc})") from exc
    table.columns.names = ["Price", "Ticker"]
    flat = _one_ticker(table, name, ticker)
    held = flat.attrs[HELD]
    flat.index.name = lines[2].split(",", 1)[0].strip()
    flat = flat.reset_index()
    flat.columns = [normalise_column(c) for c in flat.columns]
    flat.attrs[HELD] = held
    return flat


def _match(cols: list[str]) -> tuple[Layout, dict[str, str]] | None:
    for layout in LAYOUTS:
        mapping = layout.resolve(cols)
        if mapping is not None:
            return layout, mapping
    return None


def read_records(table: pd.DataFrame, name: str) -> Parsed:
    """Bars given as records (``timestamp, open, high, low, close, volume``, e.g. a JSON body),
    parsed by the same rules as a file's rows: one time zone, numbers that are numbers; errors
    name the record as ``name[i]`` (0-based)."""
    table = table.copy()
    table.columns = [normalise_column(c) for c in table.columns]
    return _parse_table(table, name, None, where=lambda pos: f"{name}[{pos}]")


def _parse_table(
    table: pd.DataFrame,
    name: str,
    first_line: int | None,
    *,
    where: Callable[[int], str] | None = None,
) -> Parsed:
    cols = list(table.columns)
    found = _match(cols)
    if found is None:
        raise DataFormatError(
            f"{name}: unknown layout with columns {', '.join(map(str, cols))}. "
            f"Layouts understood:\n{describe_layouts()}"
        )
    layout, mapping = found
    if table.empty:
        raise DataFormatError(f"{name}: header only, no bars ({layout.name} layout)")

    def at(pos: int) -> str:
        return f"{name} line {pos + first_line}" if first_line else f"{name} row {pos + 1}"

    where = where or at

    bars = pd.DataFrame(index=range(len(table)))
    times = _parse_times(table[mapping["timestamp"]], layout.time_formats, where)
    bars["timestamp"] = times.values
    for ours, theirs in mapping.items():
        if ours != "timestamp":
            bars[ours] = _parse_numbers(table[theirs], theirs, where)
    bars, notes = _in_time_order(bars, name, where)
    if layout.adjust is not None:
        bars, adjust_notes = layout.adjust(bars, name)
        notes += adjust_notes
    columns = bars[["timestamp", *NUMERIC_COLUMNS]]
    held = table.attrs.get(HELD, ())
    if "ticker" in table:
        held = tuple(str(t) for t in table["ticker"].dropna().unique())
    return Parsed(columns, layout.name, tuple(notes), zoned=times.zoned, tickers=tuple(held))


def _clip(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error names a cell, never echoes a
    megabyte of it back (issue 24)."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 5]}...{shown[-2:]}"


def _examples(bad: pd.Series, raw: pd.Series, where: Callable[[int], str]) -> str:
    positions = np.flatnonzero(bad.to_numpy())
    shown = "; ".join(f"{where(int(p))}: {_clip(raw.iloc[p])}" for p in positions[:3])
    more = f" (and {len(positions) - 3} more)" if len(positions) > 3 else ""
    return f"{shown}{more}"


def _parse_numbers(raw: pd.Series, column: str, where: Callable[[int], str]) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64").reset_index(drop=True)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise DataFormatError(
            f"column {column!r} holds values that are not numbers: {_examples(bad, raw, where)}"
        )
    return values.astype("float64").reset_index(drop=True)


@dataclass(frozen=True)
class Times:
    """Parsed bar times (UTC) and whether the file gave them with a time zone."""

    values: pd.Series
    zoned: bool


#: An ISO-like date-time ending in a UTC offset: ``2015-01-05 00:00:00-05:00``, ``...T09:30Z``.
_WITH_OFFSET = re.compile(
    r"^(?P<wall>\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)$"
)


def _parse_times(raw: pd.Series, formats: tuple[str, ...], where: Callable[[int], str]) -> Times:
    """Bar times as UTC; a file's time zone must be one time zone (see ``_zoned_times``)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        zoned = getattr(raw.dt, "tz", None) is not None
        return Times(_datetime_column(raw).reset_index(drop=True), zoned)
    text = raw.astype("string").str.strip()
    parts = text.str.extract(_WITH_OFFSET)
    if parts["offset"].notna().any():
        return Times(_zoned_times(raw, text, parts, where), True)
    best: pd.Series | None = None
    for fmt in formats:
        parsed = pd.to_datetime(raw, format=fmt, utc=True, errors="coerce")
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    assert best is not None
    bad = best.isna() & raw.notna()
    if bad.any():
        raise DataFormatError(
            f"column {raw.name!r} holds values that are not dates: {_examples(bad, raw, where)}"
        )
    return Times(best.reset_index(drop=True), False)


def _offset_minutes(offset: str) -> int:
    if offset == "Z":
        return 0
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return -minutes if offset[0] == "-" else minutes


def _zoned_times(
    raw: pd.Series, text: pd.Series, parts: pd.DataFrame, where: Callable[[int], str]
) -> pd.Series:
    """Times written with UTC offsets. One time zone per file: every time carries an offset,
    and the offsets are one value or two an hour apart that change only at daylight-saving
    switches (a few times a year). Stamps that are all local midnights are daily bars: their
    date is the date as written (``2020-01-02T00:00:00+09:00`` is the bar of 2 January, not
    of 1 January 15:00 UTC); other times are instants, converted to UTC.
    """
    present = raw.notna().reset_index(drop=True)
    has_offset = parts["offset"].notna().reset_index(drop=True)
    column = repr(raw.name)
    if (present & ~has_offset).any():
        raise DataFormatError(
            f"column {column} mixes time zones: {int(has_offset.sum())} rows carry a UTC offset "
            f"({_examples(has_offset, raw, where)}) and {int((present & ~has_offset).sum())} "
            f"rows have none ({_examples(present & ~has_offset, raw, where)}); write every time "
            "in one time zone"
        )
    wall = pd.to_datetime(parts["wall"], format="ISO8601", errors="coerce").reset_index(drop=True)
    bad = wall.isna() & present
    if bad.any():
        raise DataFormatError(
            f"column {column} holds values that are not dates: {_examples(bad, raw, where)}"
        )
    minutes = parts["offset"].reset_index(drop=True).map(_offset_minutes, na_action="ignore")
    _check_one_zone(minutes[present], wall[present], raw, column, where)
    if (wall[present] == wall[present].dt.normalize()).all():
        return wall.dt.tz_localize("UTC")
    utc = wall - pd.to_timedelta(minutes.astype("float64"), unit="m")
    return utc.dt.tz_localize("UTC")


def _check_one_zone(
    minutes: pd.Series,
    wall: pd.Series,
    raw: pd.Series,
    column: str,
    where: Callable[[int], str],
) -> None:
    """Error naming rows when the offsets cannot come from one time zone."""
    counts = minutes.value_counts()
    if len(counts) == 1:
        return
    ordered = minutes.iloc[np.argsort(wall.to_numpy(), kind="stable")]
    switches = int((ordered.diff().fillna(0) != 0).sum())
    years = max(1, wall.dt.year.nunique())
    one_dst_zone = (
        len(counts) == 2 and abs(counts.index[0] - counts.index[1]) == 60 and switches <= 2 * years
    )
    if one_dst_zone:
        return
    rare = counts.index[-1]
    odd = pd.Series(False, index=raw.reset_index(drop=True).index)
    odd[minutes.index[minutes == rare]] = True
    offsets = ", ".join(_format_offset(int(m)) for m in counts.index)
    raise DataFormatError(
        f"column {column} mixes time zones: UTC offsets {offsets} change {switches} times, "
        f"which no single time zone does ({int(odd.sum())} rows at "
        f"{_format_offset(int(rare))}: {_examples(odd, raw, where)}); write every time in one "
        "time zone"
    )


def _format_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _datetime_column(raw: pd.Series) -> pd.Series:
    """A datetime column as UTC; daily bars stamped at local midnight keep their wall date."""
    if raw.dt.tz is None:
        return raw.dt.tz_localize("UTC")
    local = raw.dropna()
    if len(local) and (local == local.dt.normalize()).all():
        # yfinance stamps daily bars at the exchange's midnight: the date is what matters.
        return raw.dt.tz_localize(None).dt.tz_localize("UTC")
    return raw.dt.tz_convert("UTC")


def _when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"


def _in_time_order(
    bars: pd.DataFrame, name: str, where: Callable[[int], str]
) -> tuple[pd.DataFrame, list[str]]:
    """Bars in ascending time order, with a note saying what was done.

    A file written newest-first is reversed. Rows otherwise out of order are sorted when every
    time is present and unique; with a repeated or missing time the order is kept for
    validation to report (which of two bars with one time is right is not ours to guess).
    """
    notes: list[str] = []
    stamps = bars["timestamp"]
    steps = stamps.diff().dropna()
    line = pd.Series(range(len(bars)))
    if (steps < pd.Timedelta(0)).sum() > (steps > pd.Timedelta(0)).sum():
        bars, line = bars.iloc[::-1].reset_index(drop=True), line.iloc[::-1].reset_index(drop=True)
        notes.append(f"{name}: rows are newest first: reversed")
    stamps = bars["timestamp"]
    if stamps.is_monotonic_increasing or stamps.isna().any() or stamps.duplicated().any():
        return bars, notes
    order = np.argsort(stamps.to_numpy(), kind="stable")
    moved = np.flatnonzero(order != np.arange(len(order)))  # rows not at their sorted place
    descents = np.flatnonzero((stamps.diff() < pd.Timedelta(0)).to_numpy())
    shown = "; ".join(
        f"{where(int(line[i]))}: {_when(stamps[i])} after {_when(stamps[i - 1])}"
        for i in descents[:3]
    )
    more = f"; and {len(descents) - 3} more" if len(descents) > 3 else ""
    notes.append(f"{name}: {len(moved)} rows out of time order, sorted by time ({shown}{more})")
    return bars.iloc[order].reset_index(drop=True), notes
