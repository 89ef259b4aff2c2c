"""Fail early: tickers, source and store are checked in seconds, before any expensive work.

S3 checks run against the real SeaweedFS of tests/conftest.py (enforced credentials).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from storage import open_store
from storage.preflight import StoreCheckError, check_store
from tests.data.helpers import market_file
from tradeforge.preflight import (
    BadTicker,
    PreflightError,
    SourceNotFound,
    StoreNotUsable,
    check_source,
    check_tickers,
    preflight,
)
from tradeforge.preflight import check_store as check_model_store

#: Hang guard for the store checks (their own timeout is 3 s); benchmarks/failure_times.py
#: measures how many seconds they take.
HANG_GUARD = pytest.mark.timeout(60)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- tickers ------------------------------------------------------------------------------------


def test_tickers_are_normalised() -> None:
    assert check_tickers(["spy", "BTC-USD", "SPY", "^GSPC"]) == ["SPY", "BTC-USD", "^GSPC"]


@pytest.mark.parametrize("bad", ["A/B", "../etc", "", "SPY AAPL", "X" * 40])
def test_bad_ticker_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(BadTicker, match=r"ticker .*: not a ticker symbol") as info:
        check_tickers(["SPY", bad])
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_no_tickers() -> None:
    with pytest.raises(BadTicker, match="none given"):
        check_tickers([])


def test_yahoo_symbols_are_checked_for_yahoo() -> None:
    check_source("yahoo", ["SPY", "BRK-B", "^GSPC"])
    with pytest.raises(BadTicker, match=r"'BAD_ONE' not Yahoo symbols"):
        check_source("yahoo", ["SPY", "BAD_ONE"])


# -- local sources ------------------------------------------------------------------------------


def test_local_file_and_folder_sources(tmp_path: Path) -> None:
    spy = market_file("SPY_2010-2017_yahoo.csv")
    check_source(str(spy), ["SPY"])
    shutil.copy(spy, tmp_path / "SPY.csv")
    shutil.copy(market_file("AAPL_2013-2023_yahoo-adjusted.csv"), tmp_path / "AAPL_2013.csv")
    check_source(str(tmp_path), ["SPY", "AAPL"])
    with pytest.raises(SourceNotFound, match=r"no MSFT\.csv or MSFT\.parquet \(found: "):
        check_source(str(tmp_path), ["SPY", "MSFT"])


def test_missing_local_source_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "SPY.csv"
    with pytest.raises(SourceNotFound, match=rf"source '{missing}': no such file or folder"):
        check_source(str(missing), ["SPY"])


def test_folder_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no bars here")
    with pytest.raises(SourceNotFound, match=r"holds no \.csv or \.parquet files"):
        check_source(str(tmp_path), ["SPY"])


def test_demo_source_holds_only_googl() -> None:
    check_source("demo", ["GOOGL"])
    with pytest.raises(SourceNotFound, match="holds only GOOGL, not SPY"):
        check_source("demo", ["SPY"])


# -- local store --------------------------------------------------------------------------------


def test_local_store_ok_and_not_created(tmp_path: Path) -> None:
    check_store(str(tmp_path / "new" / "store"))
    assert not (tmp_path / "new").exists()  # a check creates nothing


def test_store_path_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("I am a file")
    for uri in (blocker, blocker / "models"):
        with pytest.raises(StoreCheckError, match=rf"{blocker} is a file, not a directory"):
            check_store(str(uri))
    with pytest.raises(StoreNotUsable, match=rf"store '{blocker}'"):
        check_model_store(str(blocker))


def test_store_scheme_and_bucket_name() -> None:
    with pytest.raises(StoreCheckError, match="unsupported scheme"):
        check_store("gs://bucket/x")
    with pytest.raises(StoreCheckError, match=r"'Bad_Bucket' is not a valid S3 bucket name"):
        check_store("s3://Bad_Bucket/models")


# -- S3 store and sources (real SeaweedFS) -------------------------------------------------------


def test_s3_store_ok_leaves_nothing(s3_uri: str) -> None:
    check_store(s3_uri)
    assert open_store(s3_uri).list() == []  # the write probe was deleted


def test_s3_missing_bucket(s3_env) -> None:
    with pytest.raises(StoreCheckError, match=r"bucket 'no-such-bucket-x1' does not exist on"):
        check_store("s3://no-such-bucket-x1/models")


@HANG_GUARD
def test_s3_wrong_credentials(s3_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(StoreCheckError, match="access denied") as info:
        check_store(s3_uri)
    assert "wrong-secret" not in str(info.value)
    assert s3_uri.split("/")[2] in str(info.value)


@HANG_GUARD
def test_s3_unreachable_endpoint_is_reported(s3_env) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreCheckError, match=r"unreachable") as info:
        check_store(f"s3://{s3_env.bucket}/models", endpoint_url=endpoint)
    assert endpoint in str(info.value)


def test_s3_endpoint_that_is_not_a_url(s3_env) -> None:
    with pytest.raises(StoreCheckError, match=r"endpoint '127\.0\.0\.1:8333' is not an http"):
        check_store(f"s3://{s3_env.bucket}/m", endpoint_url="127.0.0.1:8333")


def test_s3_sources(s3_uri: str) -> None:
    store = open_store(s3_uri)
    store.put_bytes("SPY.csv", market_file("SPY_2010-2017_yahoo.csv").read_bytes())
    check_source(s3_uri, ["SPY"])
    check_source(f"{s3_uri}/SPY.csv", ["SPY"])
    with pytest.raises(SourceNotFound, match=rf"source '{s3_uri}/QQQ.csv': no such object"):
        check_source(f"{s3_uri}/QQQ.csv", ["QQQ"])
    with pytest.raises(SourceNotFound, match=r"no AAPL\.csv or AAPL\.parquet \(found: SPY\.csv\)"):
        check_source(s3_uri, ["AAPL"])


def test_s3_source_in_a_missing_bucket(s3_env) -> None:
    with pytest.raises(
        SourceNotFound, match=r"source 's3://absent-bucket-x2/daily'.*does not exist"
    ):
        check_source("s3://absent-bucket-x2/daily", ["SPY"])


# -- all at once --------------------------------------------------------------------------------


def test_preflight_reports_every_problem_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("file")
    with pytest.raises(PreflightError) as info:
        preflight(["SPY", "A/B"], str(tmp_path / "missing.csv"), str(blocker))
    assert len(info.value.problems) == 3
    text = str(info.value)
    assert "ticker 'A/B'" in text and "missing.csv" in text and "is a file" in text


def test_preflight_passes_good_inputs(tmp_path: Path) -> None:
    got = preflight(["spy"], str(market_file("SPY_2010-2017_yahoo.csv")), str(tmp_path / "s"))
    assert got == ["SPY"]
