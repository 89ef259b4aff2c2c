"""Yahoo via yfinance 1.x, mocked only at yfinance's boundary (Ticker.history / download).

Patching ``Ticker.history`` lets yfinance's own ``download()`` build its (Price, Ticker)
MultiIndex frame, log per-ticker failures and swallow exceptions exactly as it does live.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yfinance as yf
from yfinance.exceptions import YFRateLimitError, YFTzMissingError

from storage import open_store
from tests.data.helpers import market_file
from tradeforge.config.data import DataConfig
from tradeforge.data import SnapshotNotFound, YahooNoData, YahooUnavailable, ingest
from tradeforge.data.yahoo import RetryPolicy, fetch_snapshots, fetch_yahoo

NO_WAIT = RetryPolicy(attempts=3, initial_wait=0.0)
FILES = {t: f"{t}_2013-2023_yahoo-adjusted.csv" for t in ("AAPL", "MSFT", "NVDA")}


def _bars(ticker: str, start: str, end: str) -> pd.DataFrame:
    """What Ticker.history returns for a daily request: exchange-tz midnight index."""
    table = pd.read_csv(market_file(FILES[ticker]), parse_dates=["Date"]).set_index("Date")
    table = table.loc[(table.index >= start) & (table.index < end)]
    table.index = table.index.tz_localize("America/New_York")
    return table


class FakeYahoo:
    """Stands in for Yahoo's servers behind ``yf.Ticker.history``; counts calls per ticker."""

    def __init__(self, failures: dict[str, list[Exception | str]] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[str] = []

    def history(self, ticker_obj, *args, **kwargs) -> pd.DataFrame:
        ticker = ticker_obj.ticker
        self.calls.append(ticker)
        queue = self.failures.get(ticker, [])
        if queue:
            failure = queue.pop(0) if len(queue) > 1 else queue[0]
            if failure == "empty":
                return pd.DataFrame()
            if failure != "ok":
                raise failure
        return _bars(ticker, kwargs["start"], kwargs["end"])


@pytest.fixture
def fake_yahoo(monkeypatch: pytest.MonkeyPatch):
    def install(failures=None) -> FakeYahoo:
        fake = FakeYahoo(failures)
        monkeypatch.setattr(yf.Ticker, "history", lambda self, *a, **k: fake.history(self, *a, **k))
        return fake

    return install


def test_several_tickers_multiindex_to_canonical_and_snapshots(fake_yahoo, tmp_path: Path) -> None:
    fake_yahoo()
    store = open_store(str(tmp_path / "store"))
    frames = fetch_yahoo(["AAPL", "msft"], "2020-01-01", "2020-03-01", "1d", store=store)
    assert set(frames) == {"AAPL", "MSFT"}
    for ticker, frame in frames.items():
        expected = _bars(ticker, "2020-01-01", "2020-03-01")
        assert list(frame.columns) == [
            "ticker",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
        ]
        assert (frame["ticker"] == ticker).all()
        # Daily bars keep their exchange date (midnight New York -> that date, UTC).
        assert frame["timestamp"].iloc[0] == pd.Timestamp("2020-01-02", tz="UTC")
        assert frame["close"].tolist() == pytest.approx(expected["Close"].tolist())
    keys = store.list("raw/yahoo/")
    assert len([k for k in keys if k.endswith(".parquet")]) == 2
    record_key = next(k for k in keys if k.startswith("raw/yahoo/AAPL/1d/") and k.endswith(".json"))
    record = json.loads(store.get_bytes(record_key))
    assert record["request"] == {
        "ticker": "AAPL",
        "interval": "1d",
        "start": "2020-01-01",
        "end": "2020-03-01",
        "auto_adjust": True,
    }
    assert record["key"] == f"raw/yahoo/AAPL/1d/{record['sha256']}.parquet"
    import hashlib

    assert hashlib.sha256(store.get_bytes(record["key"])).hexdigest() == record["sha256"]


def test_download_mock_hourly_tz_aware_multiindex(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame shaped as yfinance 1.7's download() returns it for 1h bars of two tickers."""
    index = pd.DatetimeIndex(
        ["2024-03-08 09:30", "2024-03-08 10:30", "2024-03-11 09:30"], name="Datetime"
    ).tz_localize("America/New_York")
    columns = pd.MultiIndex.from_product(
        [["Close", "High", "Low", "Open", "Volume"], ["AAA", "BBB"]], names=["Price", "Ticker"]
    )
    values = [[10.5, 20.5, 11.0, 21.0, 10.0, 20.0, 10.2, 20.2, 1000, 2000]] * 3
    table = pd.DataFrame(values, index=index, columns=columns)
    seen = {}

    def download(tickers, **kwargs):
        seen.update(kwargs, tickers=tickers)
        return table

    monkeypatch.setattr(yf, "download", download)
    frames = fetch_yahoo(["AAA", "BBB"], "2024-03-01", "2024-03-12", "1h", retry=NO_WAIT)
    assert seen["auto_adjust"] is True and seen["interval"] == "1h"
    bbb = frames["BBB"]
    # 09:30 New York is 14:30 UTC before the DST switch (EST) and 13:30 UTC after it (EDT).
    assert bbb["timestamp"].tolist() == [
        pd.Timestamp("2024-03-08 14:30", tz="UTC"),
        pd.Timestamp("2024-03-08 15:30", tz="UTC"),
        pd.Timestamp("2024-03-11 13:30", tz="UTC"),
    ]
    assert (bbb["open"].iloc[0], bbb["close"].iloc[0], bbb["volume"].iloc[0]) == (20.2, 20.5, 2000)


def test_rate_limit_is_retried_with_backoff(fake_yahoo) -> None:
    fake = fake_yahoo({"AAPL": [YFRateLimitError(), YFRateLimitError(), "ok"]})
    frames = fetch_yahoo(["AAPL", "MSFT"], "2020-01-01", "2020-02-01", retry=NO_WAIT)
    assert len(frames["AAPL"]) == len(_bars("AAPL", "2020-01-01", "2020-02-01"))
    # MSFT succeeded on the first try and is not fetched again; AAPL took three tries.
    assert fake.calls.count("AAPL") == 3 and fake.calls.count("MSFT") == 1


def test_rate_limit_that_persists_ends_with_clear_error(fake_yahoo) -> None:
    fake = fake_yahoo({"AAPL": [YFRateLimitError()]})
    with pytest.raises(YahooUnavailable, match=r"still failing after 3 attempts.*Rate limited"):
        fetch_yahoo(["AAPL"], "2020-01-01", "2020-02-01", retry=NO_WAIT)
    assert fake.calls.count("AAPL") == 3


def test_unknown_ticker_fails_at_once_with_yahoos_reason(fake_yahoo) -> None:
    fake = fake_yahoo({"NOPE": [YFTzMissingError("NOPE")]})
    with pytest.raises(YahooNoData, match=r"NOPE.*possibly delisted; no timezone found"):
        fetch_yahoo(["AAPL", "NOPE"], "2020-01-01", "2020-02-01", retry=NO_WAIT)
    assert fake.calls.count("NOPE") == 1  # not retried: waiting will not create a ticker


def test_empty_frame_is_a_clear_error(fake_yahoo) -> None:
    fake_yahoo({"AAPL": ["empty"]})
    with pytest.raises(
        YahooNoData, match=r"no 1d bars between start=2020-01-01 and end=2020-02-01"
    ):
        fetch_yahoo(["AAPL"], "2020-01-01", "2020-02-01", retry=NO_WAIT)


def test_network_error_raised_by_download_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    table_for_aapl = pd.concat({"AAPL": _bars("AAPL", "2021-01-01", "2021-02-01")}, axis=1)
    table_for_aapl = table_for_aapl.swaplevel(0, 1, axis=1)
    table_for_aapl.columns.names = ["Price", "Ticker"]

    def download(tickers, **kwargs):
        calls.append(tickers)
        if len(calls) == 1:
            raise ConnectionError("connection reset by peer")
        return table_for_aapl

    monkeypatch.setattr(yf, "download", download)
    frames = fetch_yahoo(["AAPL"], "2021-01-01", "2021-02-01", retry=NO_WAIT)
    assert len(calls) == 2 and len(frames["AAPL"]) == 19


def test_offline_serves_latest_covering_snapshot(fake_yahoo, tmp_path: Path, monkeypatch) -> None:
    fake_yahoo()
    store = open_store(str(tmp_path / "store"))
    cfg = DataConfig(tickers=("NVDA",), source="yahoo", start="2019-01-01", end="2020-01-01")
    online = ingest("NVDA", cfg, snapshot_store=store)
    assert online.snapshot_key and online.snapshot_key.startswith("raw/yahoo/NVDA/1d/")

    def no_network(*a, **k):
        raise AssertionError("offline mode touched yfinance")

    monkeypatch.setattr(yf, "download", no_network)
    offline = ingest("NVDA", DataConfig(**{**cfg.__dict__, "offline": True}), snapshot_store=store)
    pd.testing.assert_frame_equal(offline.frame, online.frame)
    assert offline.sha256 == online.sha256 and "offline snapshot" in offline.source

    narrower = DataConfig(**{**cfg.__dict__, "offline": True, "start": "2019-06-01"})
    part = ingest("NVDA", narrower, snapshot_store=store).frame
    assert part["timestamp"].iloc[0] == pd.Timestamp("2019-06-03", tz="UTC")

    wider = DataConfig(**{**cfg.__dict__, "offline": True, "start": "2018-01-01"})
    with pytest.raises(SnapshotNotFound, match=r"covers start=2018-01-01.*stored: 2019-01-01"):
        ingest("NVDA", wider, snapshot_store=store)
    with pytest.raises(SnapshotNotFound, match=r"stored: none"):
        fetch_snapshots(["AAPL"], "2019-01-01", "2020-01-01", store=store, offline=True)


def test_offline_refuses_a_corrupted_snapshot(fake_yahoo, tmp_path: Path) -> None:
    fake_yahoo()
    store = open_store(str(tmp_path / "store"))
    (snap,) = fetch_snapshots(["AAPL"], "2020-01-01", "2020-02-01", store=store).values()
    store.put_bytes(snap.key, snap.data[:-10] + b"0123456789")
    with pytest.raises(Exception, match="does not match its record"):
        fetch_snapshots(["AAPL"], "2020-01-01", "2020-02-01", store=store, offline=True)


def test_yfinance_to_csv_and_parquet_files_load(fake_yahoo, tmp_path: Path) -> None:
    """Files users save from ``yf.download(...)``: (Price, Ticker) header rows / columns."""
    fake_yahoo()
    table = yf.download(["AAPL", "MSFT"], start="2020-01-01", end="2020-04-01", progress=False)
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    csv_path = tmp_path / "csv" / "MAG.csv"
    table.to_csv(csv_path)
    assert csv_path.read_text().splitlines()[1].startswith("Ticker,")  # the real 1.x layout
    table.to_parquet(tmp_path / "pq" / "MAG.parquet")
    want = _bars("MSFT", "2020-01-01", "2020-04-01")
    for path in (csv_path, tmp_path / "pq" / "MAG.parquet"):
        got = ingest("MSFT", DataConfig(tickers=("MSFT",), source=str(path)))
        assert got.layout == "yahoo_adjusted"
        assert (got.frame["ticker"] == "MSFT").all()
        assert got.frame["close"].tolist() == pytest.approx(want["Close"].tolist())
        assert got.frame["timestamp"].iloc[0] == pd.Timestamp("2020-01-02", tz="UTC")
        with pytest.raises(Exception, match="holds tickers AAPL, MSFT; it has no NVDA"):
            ingest("NVDA", DataConfig(tickers=("NVDA",), source=str(path)))


def test_yahoo_down_points_at_offline_snapshots(fake_yahoo, tmp_path: Path) -> None:
    fake_yahoo()
    store = open_store(str(tmp_path / "store"))
    fetch_snapshots(["AAPL"], "2020-01-01", "2020-02-01", store=store)
    fake_yahoo({"AAPL": [YFRateLimitError()]})
    with pytest.raises(
        YahooUnavailable, match=r"cover this request for AAPL .*rerun with --offline"
    ):
        fetch_snapshots(["AAPL"], "2020-01-01", "2020-02-01", store=store, retry=NO_WAIT)
