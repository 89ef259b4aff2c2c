"""The S3 source against a real SeaweedFS server (tests/conftest.py starts it on 127.0.0.1)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from storage import open_store
from tests.data.helpers import market_file
from tradeforge.config.data import DataConfig
from tradeforge.data import DataSourceError, ingest

pytestmark = pytest.mark.e2e


def _local(ticker: str, path: Path) -> object:
    return ingest(ticker, DataConfig(tickers=(ticker,), source=str(path)))


def test_s3_folder_of_csv_and_parquet(s3_uri: str) -> None:
    store = open_store(s3_uri)
    spy = market_file("SPY_2010-2017_yahoo.csv")
    store.put_bytes("SPY.csv", spy.read_bytes())
    msft = pd.read_csv(market_file("MSFT_2013-2023_yahoo-adjusted.csv"), parse_dates=["Date"])
    buffer = io.BytesIO()
    msft.set_index("Date").to_parquet(buffer)
    store.put_bytes("MSFT.parquet", buffer.getvalue())
    store.put_bytes("nested/AAPL.csv", b"ignored: only top-level objects are tickers")

    got = ingest("SPY", DataConfig(tickers=("SPY",), source=s3_uri + "/"))
    want = _local("SPY", spy)
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert got.sha256 == want.sha256
    assert got.source == f"{s3_uri}/SPY.csv"

    parquet = ingest("MSFT", DataConfig(tickers=("MSFT",), source=s3_uri, start="2020-01-01"))
    assert parquet.frame["timestamp"].iloc[0] == pd.Timestamp("2020-01-02", tz="UTC")
    assert parquet.layout == "yahoo_adjusted"


def test_s3_single_object_uri(s3_uri: str) -> None:
    store = open_store(s3_uri)
    path = market_file("BTCUSD_2014-2019_coinbase-daily_cdd.csv")
    store.put_bytes("daily/BTCUSD_2014-2019_coinbase-daily_cdd.csv", path.read_bytes())
    uri = f"{s3_uri}/daily/BTCUSD_2014-2019_coinbase-daily_cdd.csv"
    got = ingest("BTCUSD", DataConfig(tickers=("BTCUSD",), source=uri))
    pd.testing.assert_frame_equal(got.frame, _local("BTCUSD", path).frame)


def test_s3_missing_key_lists_what_is_there(s3_uri: str) -> None:
    open_store(s3_uri).put_bytes("SPY.csv", market_file("SPY_2010-2017_yahoo.csv").read_bytes())
    with pytest.raises(DataSourceError, match=r"no QQQ\.csv or QQQ\.parquet \(found: SPY\.csv\)"):
        ingest("QQQ", DataConfig(tickers=("QQQ",), source=s3_uri))
    with pytest.raises(DataSourceError, match=r"QQQ\.csv: no such object"):
        ingest("QQQ", DataConfig(tickers=("QQQ",), source=f"{s3_uri}/QQQ.csv"))


def test_s3_missing_bucket(s3_env) -> None:
    with pytest.raises(DataSourceError, match=r"bucket 'no-such-bucket-tf' does not exist"):
        ingest("SPY", DataConfig(tickers=("SPY",), source="s3://no-such-bucket-tf/data"))


def test_s3_denied_access(s3_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(s3_uri).put_bytes("SPY.csv", market_file("SPY_2010-2017_yahoo.csv").read_bytes())
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(DataSourceError) as info:
        ingest("SPY", DataConfig(tickers=("SPY",), source=s3_uri))
    message = str(info.value).lower()
    assert s3_uri.lower() in message and ("denied" in message or "refused" in message)
    assert "not-the-secret" not in message


def test_cli_validate_s3_prefix(s3_uri: str) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from cli import data as data_cli

    store = open_store(s3_uri)
    store.put_bytes("AAPL.csv", market_file("AAPL_2013-2023_yahoo-adjusted.csv").read_bytes())
    store.put_bytes("TSLA.csv", market_file("TSLA_2010-2017_yahoo.csv").read_bytes())
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    data_cli.register(app)
    result = CliRunner().invoke(app, ["validate", s3_uri, "--json"])
    assert result.exit_code == 0, result.stdout
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert {r["ticker"]: r["source"] for r in out["results"]} == {
        "AAPL": f"{s3_uri}/AAPL.csv",
        "TSLA": f"{s3_uri}/TSLA.csv",
    }
