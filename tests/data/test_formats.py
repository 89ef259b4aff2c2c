"""Every vendor layout in ../shared/data/market reads into the canonical frame, quirks handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.data.helpers import interval_of, market_file, vendor_files
from tradeforge.config.data import DataConfig
from tradeforge.data import (
    COLUMNS,
    DataFormatError,
    DataSourceError,
    infer_ticker,
    ingest,
    read_bars,
)


def _ingest_file(path: Path, **kw) -> object:
    ticker = infer_ticker(path)
    cfg = DataConfig(tickers=(ticker,), source=str(path), interval=interval_of(path), **kw)
    return ingest(ticker, cfg)


def _data_rows(path: Path) -> int:
    lines = path.read_text().splitlines()
    banner = 1 if "cryptodatadownload" in lines[0].lower() else 0
    return len(lines) - 1 - banner


@pytest.mark.parametrize("path", vendor_files(), ids=lambda p: p.name)
def test_every_vendor_file_loads_canonical(path: Path) -> None:
    got = _ingest_file(path)
    frame = got.frame
    assert list(frame.columns) == list(COLUMNS)
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert all(frame[c].dtype == np.float64 for c in COLUMNS[2:])
    assert isinstance(frame.index, pd.RangeIndex)
    assert len(frame) == _data_rows(path)  # every bar read, none invented or dropped
    assert (frame["ticker"] == infer_ticker(path)).all()
    assert len(got.sha256) == 64 and got.source == str(path)


def test_descending_files_are_reversed_with_values_intact() -> None:
    path = market_file("BTCUSD_2014-2019_coinbase-daily_cdd.csv")
    frame = _ingest_file(path).frame
    assert frame["timestamp"].is_monotonic_increasing
    first = frame.iloc[0]  # the file's LAST line: 2014-12-01,BTCUSD,300,370,300,370,0.05656,19.53
    assert first["timestamp"] == pd.Timestamp("2014-12-01", tz="UTC")
    assert (first["open"], first["high"], first["close"], first["volume"]) == (
        300.0,
        370.0,
        370.0,
        0.05656,  # base-asset (BTC) volume, not the USD one
    )


def test_cdd_hourly_timestamps_are_utc_hours() -> None:
    frame = _ingest_file(market_file("BTCUSD_2017-2019_coinbase-hourly_cdd.csv")).frame
    last = frame.iloc[-1]  # file's first data line: 2019-10-17 09-AM,BTCUSD,8051,...
    assert last["timestamp"] == pd.Timestamp("2019-10-17 09:00", tz="UTC")
    assert last["open"] == 8051.0
    assert pd.Timestamp("2017-07-01 12:00", tz="UTC") in set(frame["timestamp"])  # 12-PM is noon


def test_yahoo_classic_scaled_by_adj_close() -> None:
    path = market_file("SPY_2010-2017_yahoo.csv")
    raw = pd.read_csv(path)
    row = raw[raw["Date"] == "2010-01-04"].iloc[0]
    got = _ingest_file(path)
    bar = got.frame.iloc[0]
    factor = row["Adj Close"] / row["Close"]
    assert bar["close"] == pytest.approx(row["Adj Close"])
    assert bar["open"] == pytest.approx(row["Open"] * factor)
    assert bar["high"] == pytest.approx(row["High"] * factor)
    assert bar["volume"] == row["Volume"]
    assert got.layout == "yahoo_classic"


def test_alphavantage_scaled_by_adjusted_close() -> None:
    path = market_file("SPY_2000-2020_alphavantage.csv")
    got = _ingest_file(path)
    bar = got.frame.iloc[
        0
    ]  # file's last line: 2000-01-13,144.4687,145.7500,143.2812,145.0000,99.6600
    assert bar["timestamp"] == pd.Timestamp("2000-01-13", tz="UTC")
    assert bar["close"] == pytest.approx(99.66)
    assert bar["open"] == pytest.approx(144.4687 * 99.66 / 145.0)
    assert got.layout == "alphavantage_daily_adjusted"


def test_tsla_adj_close_that_is_a_copy_of_low_is_refused() -> None:
    got = _ingest_file(market_file("TSLA_2010-2017_yahoo.csv"))
    bar = got.frame.iloc[1]  # 2010-06-29,19,25,17.54,23.89,18783276,17.54 (Adj Close == Low)
    assert (bar["open"], bar["close"]) == (19.0, 23.89)  # raw prices kept, not scaled by Low/Close
    assert any("equals Low" in note for note in got.notes)


def test_demo_source_is_gym_anytrading_googl() -> None:
    got = ingest("GOOGL", DataConfig(source="demo"))
    assert got.source.startswith("demo")
    assert got.frame["timestamp"].iloc[0] == pd.Timestamp("2009-05-22", tz="UTC")
    assert len(got.frame) == 2335
    with pytest.raises(DataSourceError, match="holds only GOOGL"):
        ingest("SPY", DataConfig(tickers=("SPY",), source="demo"))


def test_start_end_filter_inclusive_exclusive() -> None:
    path = market_file("AAPL_2013-2023_yahoo-adjusted.csv")
    frame = _ingest_file(path, start="2020-01-02", end="2020-02-03").frame
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2020-01-02", tz="UTC")
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2020-01-31", tz="UTC")
    covers = (
        r"no bars with start 1990-01-01 and end 1991-01-01 .*runs from 2013-01-02 to 2023-12-29"
    )
    with pytest.raises(DataSourceError, match=covers):
        _ingest_file(path, start="1990-01-01", end="1991-01-01")


def test_parquet_round_trip(tmp_path: Path) -> None:
    src = market_file("MSFT_2013-2023_yahoo-adjusted.csv")
    table = pd.read_csv(src, parse_dates=["Date"]).set_index("Date")
    out = tmp_path / "MSFT.parquet"
    table.to_parquet(out)
    got = ingest("MSFT", DataConfig(tickers=("MSFT",), source=str(tmp_path)))
    pd.testing.assert_frame_equal(got.frame, _ingest_file(src).frame)
    assert got.source == str(out)


def test_folder_picks_ticker_file_and_names_ambiguity(tmp_path: Path) -> None:
    market = market_file("SPY_2010-2017_yahoo.csv").parent
    with pytest.raises(DataSourceError, match="several files for SPY"):
        ingest("SPY", DataConfig(tickers=("SPY",), source=str(market)))
    got = ingest("NVDA", DataConfig(tickers=("NVDA",), source=str(market)))
    assert got.source.endswith("NVDA_2013-2023_yahoo-adjusted.csv")
    with pytest.raises(DataSourceError, match=r"no XYZ\.csv or XYZ\.parquet"):
        ingest("XYZ", DataConfig(tickers=("XYZ",), source=str(market)))
    with pytest.raises(DataSourceError, match="no such file or folder"):
        ingest("XYZ", DataConfig(tickers=("XYZ",), source=str(tmp_path / "nope.csv")))


def test_interval_mismatch_is_named() -> None:
    path = market_file("BTCUSD_2017-2019_coinbase-hourly_cdd.csv")
    with pytest.raises(DataFormatError, match="holds 1h bars but the run asks for interval 1d"):
        ingest("BTCUSD", DataConfig(tickers=("BTCUSD",), source=str(path), interval="1d"))


def test_unknown_layout_lists_layouts_understood() -> None:
    with pytest.raises(DataFormatError) as info:
        read_bars(b"when,price\n2020-01-01,3\n", "odd.csv")
    message = str(info.value)
    assert "odd.csv: unknown layout with columns when, price" in message
    for layout in ("yahoo_adjusted", "yahoo_classic", "alphavantage", "cryptodatadownload"):
        assert layout in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SPY_2010-2017_yahoo.csv", "SPY"),
        ("/x/y/BTCUSD_2014-2019_coinbase-daily_cdd.csv", "BTCUSD"),
        ("brk-b.parquet", "BRK-B"),
        ("^GSPC.csv", "^GSPC"),
        ("s3://bucket/data/AAPL.csv", "AAPL"),
    ],
)
def test_infer_ticker(name: str, expected: str) -> None:
    assert infer_ticker(name) == expected


# -- time zones: one per file; a daily bar is a calendar date of its exchange -------------------


def _aapl_with_dates(tmp_path: Path, name: str, stamp) -> Path:
    """AAPL's real bars with each Date cell rewritten by ``stamp(position, date)``."""
    table = pd.read_csv(market_file("AAPL_2013-2023_yahoo-adjusted.csv"), dtype=str)
    table["Date"] = [stamp(i, d) for i, d in enumerate(table["Date"])]
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def test_mixed_time_zones_are_an_error_naming_rows(tmp_path: Path) -> None:
    path = _aapl_with_dates(
        tmp_path, "AAPL.csv", lambda i, d: f"{d}T00:00:00-05:00" if i % 2 else d
    )
    with pytest.raises(DataFormatError) as info:
        _ingest_file(path)
    message = str(info.value)
    assert message.startswith("column 'date' mixes time zones: 1384 rows carry a UTC offset")
    assert "AAPL.csv line 3: '2013-01-03T00:00:00-05:00'" in message
    assert "1384 rows have none (AAPL.csv line 2: '2013-01-02'" in message


def test_offsets_no_single_zone_uses_are_an_error(tmp_path: Path) -> None:
    path = _aapl_with_dates(
        tmp_path, "AAPL.csv", lambda i, d: f"{d} 00:00:00{'+00:00' if i % 2 else '-05:00'}"
    )
    with pytest.raises(DataFormatError, match=r"UTC offsets .* change 2767 times") as info:
        _ingest_file(path)
    assert "1384 rows at +00:00: AAPL.csv line 3: '2013-01-03 00:00:00+00:00'" in str(info.value)


def test_daily_dates_with_an_offset_keep_their_calendar_day(tmp_path: Path) -> None:
    clean = _ingest_file(market_file("AAPL_2013-2023_yahoo-adjusted.csv")).frame
    tokyo = _aapl_with_dates(tmp_path, "AAPL.csv", lambda i, d: f"{d}T00:00:00+09:00")
    got = _ingest_file(tokyo)
    pd.testing.assert_frame_equal(got.frame, clean)  # not moved to the previous UTC day
    assert got.notes == ()


def test_daily_bars_stamped_at_the_close_are_dated_in_new_york(tmp_path: Path) -> None:
    clean = _ingest_file(market_file("AAPL_2013-2023_yahoo-adjusted.csv")).frame
    # 16:00 New York as a UTC instant is 20:00 or 21:00Z; 23:30Z would be the next UTC day
    # in a naive reading only if the zone were ignored.
    close = _aapl_with_dates(tmp_path, "AAPL.csv", lambda i, d: f"{d} 23:30:00+00:00")
    got = _ingest_file(close)
    pd.testing.assert_frame_equal(got.frame, clean)
    assert "each dated by its calendar day in America/New_York" in got.notes[-1]


def test_hourly_bars_across_daylight_saving_are_one_zone(tmp_path: Path) -> None:
    stamps = pd.date_range("2024-03-01 09:30", "2024-03-20 15:30", freq="h", tz="America/New_York")
    stamps = stamps[(stamps.hour >= 9) & (stamps.hour <= 15) & (stamps.dayofweek < 5)]
    text = [f"{t:%Y-%m-%d %H:%M:%S%z}"[:-2] + f"{t:%z}"[-2:] for t in stamps]
    text = [t[:-4] + t[-4:-2] + ":" + t[-2:] for t in text]  # -0500 -> -05:00
    table = pd.DataFrame(
        {"Datetime": text, "Open": 10.0, "High": 11.0, "Low": 9.0, "Close": 10.5, "Volume": 100}
    )
    path = tmp_path / "AAPL.csv"
    table.to_csv(path, index=False)
    got = ingest("AAPL", DataConfig(tickers=("AAPL",), source=str(path), interval="1h"))
    assert list(got.frame["timestamp"]) == list(stamps.tz_convert("UTC"))
    assert {"-05:00", "-04:00"} <= {t[-6:] for t in text}


def test_rows_out_of_order_in_a_csv_are_sorted_with_a_note(tmp_path: Path) -> None:
    src = market_file("AAPL_2013-2023_yahoo-adjusted.csv")
    table = pd.read_csv(src, dtype=str).sample(frac=1.0, random_state=7)
    path = tmp_path / "AAPL.csv"
    table.to_csv(path, index=False)
    got = _ingest_file(path)
    pd.testing.assert_frame_equal(got.frame, _ingest_file(src).frame)
    assert (
        "rows out of time order, sorted by time (AAPL.csv line 3: 2017-02-09 after 2022-09-26"
        in (got.notes[0])
    )
