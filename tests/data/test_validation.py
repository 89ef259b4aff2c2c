"""The great-expectations contract on real vendor files, clean and with one fault injected."""

from __future__ import annotations

import re
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
    # repeat their prices and volumes: the vendor relabelled hours. Sorting the file (its times
    # are unique) would hide that; the copies cannot be trusted.
    "BTCUSD_2017-2019_coinbase-hourly_cdd.csv": "repeated_bars",
}


@lru_cache(maxsize=32)
def _check_vendor(path: Path) -> ValidationReport:
    """The report of an unmodified vendor file (cached: several tests read the same one)."""
    return _check(path)


def _check(path: Path, **options) -> ValidationReport:
    """Ingest ``path`` and validate it; ``start``/``end`` go to ingest, the rest to validate."""
    ticker = infer_ticker(path)
    interval = interval_of(path)
    dates = {k: options.pop(k) for k in ("start", "end") if k in options}
    cfg = DataConfig(tickers=(ticker,), source=str(path), interval=interval, **dates)
    got = ingest(ticker, cfg)
    return validate(got.frame, interval=interval, notes=got.notes, **options)


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
    failed = next(r for r in _check_vendor(path).errors if r.rule == "repeated_bars")
    assert "2017-11-12 04:00 repeats the bar of 2017-11-11 23:00" in failed.message
    assert failed.unexpected == 5


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


def _copy_prices(source: str, target: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def fault(t: pd.DataFrame) -> pd.DataFrame:
        cols = ["Open", "High", "Low", "Close", "Volume"]
        t.loc[t["Date"] == target, cols] = t.loc[t["Date"] == source, cols].to_numpy()
        return t

    return fault


def _freeze(first: int, count: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """``count`` bars from position ``first`` repeat one price with zero volume (stale feed)."""

    def fault(t: pd.DataFrame) -> pd.DataFrame:
        rows = t.index[first : first + count]
        for col in ("Open", "High", "Low", "Close"):
            t.loc[rows, col] = t.loc[rows[0], "Close"]
        t.loc[rows, "Volume"] = "0"
        return t

    return fault


def _scale_from(date: str, factor: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Every price from ``date`` on multiplied by ``factor`` (an unadjusted split)."""

    def fault(t: pd.DataFrame) -> pd.DataFrame:
        after = t["Date"] >= date
        for col in ("Open", "High", "Low", "Close"):
            t.loc[after, col] = (t.loc[after, col].astype(float) * factor).astype(str)
        return t

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
        "truncated_file",
        "AAPL_2013-2023_yahoo-adjusted.csv",
        lambda t: t.iloc[:60],
        "min_rows",
        "60 rows < 100 required",
    ),
    (
        "copied_bar_under_another_date",
        "MSFT_2013-2023_yahoo-adjusted.csv",
        _copy_prices("2018-02-01", "2018-02-02"),
        "repeated_bars",
        "2018-02-02 repeats the bar of 2018-02-01",
    ),
    (
        "month_of_stale_bars",
        "AAPL_2013-2023_yahoo-adjusted.csv",
        _freeze(1000, 31),
        "long_stale_feed",
        "31 identical zero-volume bars",
    ),
    (
        "exact_half_on_every_price",
        "GOOGL_2013-2023_yahoo-adjusted.csv",
        _scale_from("2018-06-01", 0.5),
        "unadjusted_split",
        "2018-06-01 open, high, low and close all moved x0.50",
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


def test_short_stale_feed_injected_is_dropped(tmp_path: Path) -> None:
    report = _check(_inject("AAPL_2013-2023_yahoo-adjusted.csv", tmp_path, _freeze(500, 5)))
    assert report.success
    (stale,) = report.warnings
    assert (stale.rule, stale.unexpected, stale.handling) == ("stale_feed", 5, "dropped 5 bars")
    assert len(report.frame) == report.rows_checked - 5


def test_long_stale_feed_stops_the_run_and_names_the_run(tmp_path: Path) -> None:
    report = _check(_inject("AAPL_2013-2023_yahoo-adjusted.csv", tmp_path, _freeze(1000, 31)))
    (error,) = report.errors
    assert error.rule == "long_stale_feed" and error.unexpected == 31
    # One example per run: its first and last bar and its length.
    assert "on 31 of 2768 rows: 2016-12-20 to 2017-02-03: 31 identical zero-volume bars" in (
        error.message
    )
    assert not report.warnings  # the short-run warning does not also claim these bars
    assert len(report.frame) == report.rows_checked  # nothing dropped when the run stops


def test_stale_threshold_is_a_keyword(tmp_path: Path) -> None:
    path = _inject("AAPL_2013-2023_yahoo-adjusted.csv", tmp_path, _freeze(1000, 31))
    report = _check(path, max_stale_bars=31)
    assert report.success
    assert [(w.rule, w.handling) for w in report.warnings] == [("stale_feed", "dropped 31 bars")]
    strict = _check(
        _inject("MSFT_2013-2023_yahoo-adjusted.csv", tmp_path, _freeze(9, 3)), max_stale_bars=2
    )
    assert [e.rule for e in strict.errors] == ["long_stale_feed"]


def _unadjusted_nvda(tmp_path: Path) -> Path:
    """NVDA's adjusted file with every price before its 4:1 split of 2021-07-20 at half its
    adjusted value: a 2:1 jump on the split day, as an unadjusted vendor file would show."""

    def unadjust(t: pd.DataFrame) -> pd.DataFrame:
        before = t["Date"] < "2021-07-20"
        for col in ("Open", "High", "Low", "Close"):
            t.loc[before, col] = (t.loc[before, col].astype(float) * 2).astype(str)
        t.loc[before, "Volume"] = (t.loc[before, "Volume"].astype(float) / 2).astype(str)
        return t

    return _inject("NVDA_2013-2023_yahoo-adjusted.csv", tmp_path, unadjust)


def test_unadjusted_split_stops_the_run(tmp_path: Path) -> None:
    report = _check(_unadjusted_nvda(tmp_path))
    assert _rules(report) == {"unadjusted_split"}, report.summary()
    (error,) = report.errors
    assert "2021-07-20 open, high, low and close all moved x0.50" in error.message
    assert (
        "unadjusted 2:1 split" in error.message
        and "--validation.splits NVDA:2021-07-20=2" in error.message
    )
    assert any(w.rule == "large_moves" for w in report.warnings)


def test_declared_split_adjusts_the_bars_before_it(tmp_path: Path) -> None:
    path = _unadjusted_nvda(tmp_path)
    report = _check(path, splits={"2021-07-20": 2})
    assert report.success, report.summary()
    assert report.warnings == []
    assert report.notes[-1].startswith("declared 2:1 split on 2021-07-20: prices of the 2151")
    original = _check_vendor(market_file("NVDA_2013-2023_yahoo-adjusted.csv")).frame
    pd.testing.assert_frame_equal(report.frame, original, rtol=1e-9)


def test_suspected_split_can_be_let_through_as_a_warning(tmp_path: Path) -> None:
    report = _check(_unadjusted_nvda(tmp_path), suspected_splits="warning")
    assert report.success
    assert {w.rule for w in report.warnings} == {"unadjusted_split", "large_moves"}


@pytest.mark.parametrize(
    ("splits", "match"),
    [
        ({"1999-01-04": 2}, r"splits: 1999-01-04 is not inside the bars \(2013-01-02 \.\. "),
        ({"2021-07-20": 0}, r"splits: ratio 0 of 2021-07-20 must be a positive number"),
        ({"July 20th": 2}, r"splits: 'July 20th' is not a date"),
    ],
)
def test_bad_split_declarations_are_named(splits: dict, match: str) -> None:
    frame = _check_vendor(market_file("NVDA_2013-2023_yahoo-adjusted.csv")).frame
    with pytest.raises(ValueError, match=match):
        validate(frame, splits=splits)


def test_real_crash_is_not_a_split() -> None:
    """META fell 26% on 2022-02-03 and Coinbase BTC 54% on 2015-01-14: big moves, no split."""
    for name in ("META_2013-2023_yahoo-adjusted.csv", "BTCUSD_2014-2019_coinbase-daily_cdd.csv"):
        report = _check_vendor(market_file(name))
        assert report.success
        assert "unadjusted_split" not in {w.rule for w in report.warnings}


def test_bars_out_of_order_with_unique_dates_are_sorted_with_a_note(tmp_path: Path) -> None:
    name = "SPY_2000-2020_alphavantage.csv"  # descending, with two bars swapped
    got = ingest(
        "SPY",
        DataConfig(tickers=("SPY",), source=str(_inject(name, tmp_path, _swap_rows(10, 2000)))),
    )
    assert got.frame["timestamp"].is_monotonic_increasing
    assert got.notes[0] == f"{name}: rows are newest first: reversed"
    assert got.notes[1].startswith(f"{name}: 2 rows out of time order, sorted by time ({name} line")
    clean = ingest("SPY", DataConfig(tickers=("SPY",), source=str(market_file(name))))
    pd.testing.assert_frame_equal(got.frame, clean.frame)
    assert validate(got.frame, notes=got.notes).to_dict()["notes"] == list(got.notes)


def test_swapped_bars_with_a_repeated_date_are_not_sorted(tmp_path: Path) -> None:
    def fault(t: pd.DataFrame) -> pd.DataFrame:
        t = _swap_rows(1000, 1001)(t)
        t.iloc[1500, t.columns.get_loc("Date")] = t.iloc[1499]["Date"]
        return t

    report = _check(_inject("GOOGL_2013-2023_yahoo-adjusted.csv", tmp_path, fault))
    assert {"unique_timestamps", "increasing_timestamps"} <= _rules(report)


def test_increasing_timestamps_rule_on_a_frame() -> None:
    frame = _check_vendor(market_file("MSFT_2013-2023_yahoo-adjusted.csv")).frame
    swapped = frame.iloc[[*range(0, 100), 101, 100, *range(102, len(frame))]]
    report = validate(swapped.reset_index(drop=True))
    assert _rules(report) == {"increasing_timestamps"}
    assert "2013-05-28 comes after 2013-05-29" in report.errors[0].message


def test_missing_sessions_are_flagged_against_the_nyse_calendar(tmp_path: Path) -> None:
    def cut(t: pd.DataFrame) -> pd.DataFrame:
        return t.drop(index=t.index[(t["Date"] >= "2019-03-04") & (t["Date"] <= "2019-03-08")])

    report = _check(_inject("MSFT_2013-2023_yahoo-adjusted.csv", tmp_path, cut))
    assert report.success
    (gap,) = report.warnings
    assert gap.rule == "calendar_gaps"
    assert "2019-03-11 5 expected bars missing since 2019-03-01" in gap.message
    assert len(report.frame) == report.rows_checked  # kept


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


_REMOTE = re.compile(
    r"<(?:link|script|img)\b[^>]*(?:href|src)\s*=\s*[\"']?(?:https?:)?//|url\(\s*[\"']?(?:https?:)?//",
    re.I,
)


def test_data_docs_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    """Readable offline: every style inline, no CDN stylesheet, script or image (issue 14)."""
    report = _check_vendor(market_file("TSLA_2010-2017_yahoo.csv"))
    html = write_data_docs(report, tmp_path / "docs").read_text()
    assert _REMOTE.search(html) is None, _REMOTE.search(html)
    assert "<script" not in html.lower()
    head = html[: html.lower().index("</head>")]
    assert "<style>" in head and ".table th,.table td{" in head  # Bootstrap's table rules
    assert ".ge-section" in head  # GX's own stylesheet, from the package
    assert "pre_listing" in html and "stale_run" in html  # the content is all there


def test_offline_html_strips_remote_resources_only() -> None:
    from tradeforge.validation.docs import offline_html

    page = (
        '<html><head><link rel="stylesheet" href="https://cdn.example/b.css"/>'
        '<link rel="stylesheet" href="//cdn.example/c.css">'
        '<script src="https://code.jquery.com/jquery.js"></script>'
        "<style>.x{background:url('https://img.example/logo.png')}</style></head>"
        '<body><img src="https://img.example/logo.png"><a href="https://docs.example">docs</a>'
        "<script>$('.x').modal()</script><table class=\"table\"></table></body></html>"
    )
    out = offline_html(page)
    assert _REMOTE.search(out) is None
    assert '<a href="https://docs.example">docs</a>' in out  # a link is not a fetch
    assert "<script" not in out and '<table class="table">' in out
    assert out.index("<style>") < out.index("</head>")


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
