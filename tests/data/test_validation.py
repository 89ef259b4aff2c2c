"""The great-expectations contract on real vendor files, clean and with one fault injected."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.data.helpers import interval_of, market_file, vendor_files
from tradeforge.config.data import DataConfig
from tradeforge.data import DataFormatError, infer_ticker, ingest
from tradeforge.validation import (
    DataValidationError,
    ValidationReport,
    asset_class_of,
    validate,
    write_data_docs,
)

#: Vendor files that do not pass as a whole, and the rule that names why.
KNOWN_FAILURES = {
    # 5 bars of 2017-11-12 04-AM..08-AM sit between 2017-11-11 11-PM and 2017-11-12 03-AM and
    # repeat their prices: the vendor relabelled hours, so these bars cannot be trusted.
    "BTCUSD_2017-2019_coinbase-hourly_cdd.csv": "increasing_timestamps",
}


@lru_cache(maxsize=32)
def _check_vendor(path: Path) -> ValidationReport:
    """The report of an unmodified vendor file (cached: several tests read the same one)."""
    return _check(path)


def _check(path: Path, **cfg) -> ValidationReport:
    ticker = infer_ticker(path)
    interval = interval_of(path)
    got = ingest(ticker, DataConfig(tickers=(ticker,), source=str(path), interval=interval, **cfg))
    return validate(got.frame, interval=interval)


def _inject(
    name: str, tmp_path: Path, fault: Callable[[pd.DataFrame], pd.DataFrame], *, banner: int = 0
) -> Path:
    """Copy a real file into ``tmp_path`` with one fault applied to its cells (kept as text)."""
    src = market_file(name)
    lines = src.read_text().splitlines(keepends=True)
    table = pd.read_csv(src, dtype=str, skiprows=banner, keep_default_na=False)
    out = tmp_path / name
    with out.open("w") as fh:
        fh.writelines(lines[:banner])
        fault(table).to_csv(fh, index=False)
    return out


def _rules(report: ValidationReport) -> set[str]:
    return {r.rule for r in report.errors}


@pytest.mark.parametrize("path", vendor_files(), ids=lambda p: p.name)
def test_every_vendor_file_passes_or_fails_for_the_named_reason(path: Path) -> None:
    report = _check_vendor(path)
    expected = KNOWN_FAILURES.get(path.name)
    if expected is None:
        assert report.success, report.summary()
        report.raise_for_errors()  # no-op when passing
    else:
        assert _rules(report) == {expected}, report.summary()


def test_hourly_btc_passes_after_the_relabelled_hours() -> None:
    path = market_file("BTCUSD_2017-2019_coinbase-hourly_cdd.csv")
    report = _check(path, start="2017-11-13")
    assert report.success, report.summary()
    failed = next(r for r in _check_vendor(path).errors if r.rule == "increasing_timestamps")
    assert "2017-11-11 23:00 comes after 2017-11-12 04:00" in failed.message


def test_tsla_pre_ipo_placeholder_is_dropped() -> None:
    report = _check_vendor(market_file("TSLA_2010-2017_yahoo.csv"))
    (placeholder,) = [w for w in report.warnings if w.rule == "pre_listing_placeholder"]
    assert placeholder.examples[0]["timestamp"] == "2010-06-28"
    assert placeholder.handling == "dropped 1 bar"
    assert report.frame["timestamp"].iloc[0] == pd.Timestamp("2010-06-29", tz="UTC")
    assert len(report.frame) == report.rows_checked - 1


def test_btc_daily_stale_feed_runs_are_dropped() -> None:
    report = _check_vendor(market_file("BTCUSD_2014-2019_coinbase-daily_cdd.csv"))
    (stale,) = [w for w in report.warnings if w.rule == "stale_feed"]
    stamps = set(report.frame["timestamp"].dt.strftime("%Y-%m-%d"))
    # Coinbase's Dec 2014 feed repeats 340.00 with zero volume for 20 days: gone.
    assert "2014-12-25" not in stamps and "2014-12-18" in stamps
    # A single quiet zero-volume day is not a stale run: kept.
    assert "2014-12-05" in stamps
    assert len(report.frame) == report.rows_checked - stale.unexpected
    assert report.success


def test_asset_class_inference() -> None:
    assert [asset_class_of(t) for t in ("BTC-USD", "BTCUSD", "ETH-EUR", "SPY", "TSLA")] == [
        "crypto",
        "crypto",
        "crypto",
        "stock",
        "stock",
    ]


# -- one fault per file: each rejected by the right rule ----------------------------------------


def _set(date_col: str, date: str, **cells: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def fault(t: pd.DataFrame) -> pd.DataFrame:
        hit = t[date_col] == date
        assert hit.sum() == 1, f"{date} not found once"
        for col, value in cells.items():
            t.loc[hit, col] = value
        return t

    return fault


def _swap_rows(i: int, j: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def fault(t: pd.DataFrame) -> pd.DataFrame:
        order = list(range(len(t)))
        order[i], order[j] = order[j], order[i]
        return t.iloc[order]

    return fault


FAULTS = [
    # (id, file, fault, rule, text that must appear in the message)
    (
        "high_below_low",
        "SPY_2010-2017_yahoo.csv",
        _set("Date", "2012-03-05", High="100.0"),
        "ohlc_consistency",
        "2012-03-05 high=",
    ),
    (
        "close_above_high",
        "AAPL_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2015-06-01", Close="999.0"),
        "ohlc_consistency",
        "2015-06-01 high=",
    ),
    (
        "open_below_low",
        "MSFT_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2018-02-01", Open="1.0"),
        "ohlc_consistency",
        "open=1 < low=",
    ),
    (
        "empty_close",
        "AMZN_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2016-03-01", Close=""),
        "no_nulls",
        "2016-03-01 close=null",
    ),
    (
        "yahoo_null_volume",
        "SPY_2010-2017_yahoo.csv",
        _set("Date", "2014-07-07", Volume="null"),
        "no_nulls",
        "2014-07-07 volume=null",
    ),
    (
        "empty_date",
        "NVDA_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2016-03-01", Date=""),
        "no_nulls",
        "timestamp=null",
    ),
    (
        "negative_low",
        "NVDA_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2019-05-02", Low="-1.0"),
        "positive_prices",
        "2019-05-02 low=-1 <= 0",
    ),
    (
        "zero_prices",
        "GOOGL_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2017-08-01", Open="0", High="0", Low="0", Close="0"),
        "positive_prices",
        "2017-08-01 open=0 <= 0",
    ),
    (
        "negative_volume",
        "META_2013-2023_yahoo-adjusted.csv",
        _set("Date", "2020-10-01", Volume="-5"),
        "non_negative_volume",
        "2020-10-01 volume=-5 < 0",
    ),
    (
        "duplicated_bar",
        "TSLA_2013-2023_yahoo-adjusted.csv",
        lambda t: pd.concat([t.iloc[:300], t.iloc[299:]]),
        "unique_timestamps",
        "appears 2 times",
    ),
    (
        "swapped_bars",
        "GOOGL_2013-2023_yahoo-adjusted.csv",
        _swap_rows(1000, 1001),
        "increasing_timestamps",
        "comes after",
    ),
    (
        "truncated_file",
        "AAPL_2013-2023_yahoo-adjusted.csv",
        lambda t: t.iloc[:60],
        "min_rows",
        "60 rows < 100 required",
    ),
    (
        "descending_with_one_bar_out_of_place",
        "SPY_2000-2020_alphavantage.csv",
        _swap_rows(10, 2000),
        "increasing_timestamps",
        "comes after",
    ),
]


@pytest.mark.parametrize(
    ("name", "fault", "rule", "text"),
    [f[1:] for f in FAULTS],
    ids=[f[0] for f in FAULTS],
)
def test_injected_fault_is_rejected_by_its_rule(
    tmp_path: Path, name: str, fault, rule: str, text: str
) -> None:
    report = _check(_inject(name, tmp_path, fault))
    assert not report.success
    assert _rules(report) == {rule}, report.summary()
    with pytest.raises(DataValidationError) as info:
        report.raise_for_errors()
    message = str(info.value)
    assert f"rule {rule} failed" in message and text in message, message


def test_cdd_fault_below_the_banner(tmp_path: Path) -> None:
    name = "BTCUSD_2014-2019_coinbase-daily_cdd.csv"
    bad = _inject(name, tmp_path, _set("date", "2018-05-05", high="1"), banner=1)
    report = _check(bad)
    assert _rules(report) == {"ohlc_consistency"}
    assert "2018-05-05 high=1 < open=" in report.errors[0].message


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (_set("Date", "2012-03-05", Close="12,5"), r"'close' holds values that are not numbers"),
        (_set("Date", "2012-03-05", Date="2012-13-05"), r"'date' holds values that are not dates"),
        (lambda t: t.rename(columns={"Close": "Last"}), r"unknown layout"),
        (lambda t: t.drop(columns=["Volume"]), r"unknown layout"),
        (lambda t: t.iloc[:0], r"header only, no bars"),
    ],
    ids=["non_numeric_price", "impossible_date", "renamed_column", "missing_column", "no_rows"],
)
def test_unreadable_faults_are_rejected_at_parse(tmp_path: Path, fault, match: str) -> None:
    bad = _inject("SPY_2010-2017_yahoo.csv", tmp_path, fault)
    with pytest.raises(DataFormatError, match=match) as info:
        _check(bad)
    assert "SPY_2010-2017_yahoo.csv" in str(info.value)


def test_non_numeric_error_names_the_file_line(tmp_path: Path) -> None:
    bad = _inject("SPY_2010-2017_yahoo.csv", tmp_path, _set("Date", "2017-03-28", Open="n/a?"))
    with pytest.raises(DataFormatError, match=r"SPY_2010-2017_yahoo\.csv line 3: 'n/a\?'"):
        _check(bad)


# -- warnings: flagged, handled, never stopping the run -----------------------------------------


def test_stale_feed_injected_is_dropped(tmp_path: Path) -> None:
    def freeze(t: pd.DataFrame) -> pd.DataFrame:
        rows = t.index[500:505]
        for col in ("Open", "High", "Low", "Close"):
            t.loc[rows, col] = t.loc[rows[0], "Close"]
        t.loc[rows, "Volume"] = "0"
        return t

    report = _check(_inject("AAPL_2013-2023_yahoo-adjusted.csv", tmp_path, freeze))
    assert report.success
    (stale,) = report.warnings
    assert (stale.rule, stale.unexpected, stale.handling) == ("stale_feed", 5, "dropped 5 bars")
    assert len(report.frame) == report.rows_checked - 5


def test_missing_sessions_are_flagged_against_the_nyse_calendar(tmp_path: Path) -> None:
    def cut(t: pd.DataFrame) -> pd.DataFrame:
        return t.drop(index=t.index[(t["Date"] >= "2019-03-04") & (t["Date"] <= "2019-03-08")])

    report = _check(_inject("MSFT_2013-2023_yahoo-adjusted.csv", tmp_path, cut))
    assert report.success
    (gap,) = report.warnings
    assert gap.rule == "calendar_gaps"
    assert "2019-03-11 5 expected bars missing since 2019-03-01" in gap.message
    assert len(report.frame) == report.rows_checked  # kept


def test_unadjusted_split_is_flagged(tmp_path: Path) -> None:
    def unadjust(t: pd.DataFrame) -> pd.DataFrame:
        before = t["Date"] < "2021-07-20"
        for col in ("Open", "High", "Low", "Close"):
            t.loc[before, col] = (t.loc[before, col].astype(float) * 2).astype(str)
        return t

    report = _check(_inject("NVDA_2013-2023_yahoo-adjusted.csv", tmp_path, unadjust))
    assert report.success
    (move,) = report.warnings
    assert move.rule == "large_moves"
    assert "2021-07-20" in move.message and "unadjusted 2:1 split" in move.message


def test_crypto_hours_missing_are_flagged(tmp_path: Path) -> None:
    name = "BTCUSD_2017-2019_coinbase-hourly_cdd.csv"
    report = _check(
        _inject(name, tmp_path, lambda t: t.drop(index=t.index[100:103]), banner=1),
        start="2019-01-01",
    )
    (gap,) = [w for w in report.warnings if w.rule == "calendar_gaps"]
    assert gap.unexpected == 1 and "3 expected bars missing" in gap.message


# -- report forms -------------------------------------------------------------------------------


def test_rows_summary_and_json(tmp_path: Path) -> None:
    report = _check_vendor(market_file("TSLA_2010-2017_yahoo.csv"))
    rows = report.rows()
    assert {r["rule"] for r in rows} >= {"no_nulls", "ohlc_consistency", "stale_feed"}
    assert all(set(r) >= {"rule", "severity", "status", "rows", "message"} for r in rows)
    assert report.summary().startswith("passed: 1858 rows of TSLA (ohlcv.stock.1d)")
    data = report.to_dict()
    assert data["success"] is True and data["rows_kept"] == 1857
    import json

    json.dumps(data)  # serialisable for --json and artifacts


def test_data_docs_html(tmp_path: Path) -> None:
    report = _check_vendor(market_file("TSLA_2010-2017_yahoo.csv"))
    page = write_data_docs(report, tmp_path / "docs")
    html = page.read_text()
    assert page.suffix == ".html" and "<html" in html.lower()
    assert "ohlcv.stock.1d" in html and "pre_listing" in html


def test_schema_violation_is_an_error() -> None:
    frame = pd.DataFrame({"timestamp": pd.date_range("2020", periods=5, tz="UTC"), "x": 1.0})
    report = validate(frame)
    assert [r.rule for r in report.errors] == ["schema"]


def test_hourly_stock_bars_checked_against_session_hours() -> None:
    """Yahoo-style 1h stock bars (09:30..15:30 New York) across the March 2024 DST switch."""
    days = pd.bdate_range("2024-03-04", "2024-03-15")  # no NYSE holiday in these two weeks
    local = [
        d + pd.Timedelta(hours=9, minutes=30) + pd.Timedelta(hours=h)
        for d in days
        for h in range(7)
    ]
    stamps = pd.DatetimeIndex(local).tz_localize("America/New_York").tz_convert("UTC")
    close = 100 + np.cumsum(np.full(len(stamps), 0.01))
    frame = pd.DataFrame(
        {
            "ticker": "AAPL",
            "timestamp": stamps.astype("datetime64[ns, UTC]"),
            "open": close - 0.005,
            "high": close + 0.02,
            "low": close - 0.02,
            "close": close,
            "volume": 1000.0,
        }
    )
    assert validate(frame, interval="1h", min_rows=50).warnings == []
    # Drop 10:30 and 11:30 of Tuesday 2024-03-12 (7th day; EDT: 14:30 and 15:30 UTC).
    holed = frame.drop(index=[6 * 7 + 1, 6 * 7 + 2]).reset_index(drop=True)
    report = validate(holed, interval="1h", min_rows=50)
    (gap,) = report.warnings
    assert gap.rule == "calendar_gaps" and gap.unexpected == 1
    assert "2024-03-12 16:30 2 expected bars missing since 2024-03-12 13:30" in gap.message
