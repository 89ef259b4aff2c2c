"""``tradeforge validate`` / ``tradeforge ingest`` through Typer's runner (real files, fake Yahoo)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
import yfinance as yf
from typer.testing import CliRunner

from cli import data as data_cli
from tests.data.helpers import market_file
from tests.data.test_yahoo import FakeYahoo


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    data_cli.register(app)
    return app


def _run(app: typer.Typer, *args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_validate_good_file_exits_0_with_json(app, tmp_path: Path) -> None:
    path = market_file("TSLA_2010-2017_yahoo.csv")
    result = _run(app, "validate", path, "--json", "--docs", tmp_path / "docs")
    assert result.exit_code == 0, result.stdout
    assert "pre_listing_placeholder" in result.stdout
    out = _last_json(result.stdout)
    assert out["success"] is True
    (report,) = out["results"]
    assert report["ticker"] == "TSLA" and report["rows_kept"] == 1857
    assert Path(report["data_docs"]).is_file()


def test_validate_bad_file_exits_1_naming_rule_and_row(app, tmp_path: Path) -> None:
    table = pd.read_csv(market_file("AMZN_2013-2023_yahoo-adjusted.csv"), dtype=str)
    table.loc[table["Date"] == "2013-05-06", "High"] = "1.5"
    bad = tmp_path / "AMZN.csv"
    table.to_csv(bad, index=False)
    result = _run(app, "validate", bad, "--json")
    assert result.exit_code == 1
    assert "ohlc_consistency" in result.stdout and "2013-05-06 high=1.5" in result.stdout
    out = _last_json(result.stdout)
    assert out["success"] is False
    failed = [
        r for r in out["results"][0]["rules"] if not r["success"] and r["severity"] == "error"
    ]
    assert [r["rule"] for r in failed] == ["ohlc_consistency"]
    assert failed[0]["examples"][0]["timestamp"] == "2013-05-06"


def test_validate_folder_reports_each_file(app, tmp_path: Path) -> None:
    (tmp_path / "AAPL.csv").write_bytes(
        market_file("AAPL_2013-2023_yahoo-adjusted.csv").read_bytes()
    )
    (tmp_path / "ODD.csv").write_text("when,price\n2020-01-01,3\n")
    (tmp_path / "notes.txt").write_text("not data")
    result = _run(app, "validate", tmp_path, "--json")
    assert result.exit_code == 1
    out = _last_json(result.stdout)
    by_ticker = {r["ticker"]: r for r in out["results"]}
    assert set(by_ticker) == {"AAPL", "ODD"}
    assert by_ticker["AAPL"]["success"] is True
    assert "unknown layout" in by_ticker["ODD"]["error"]
    only = _last_json(_run(app, "validate", tmp_path, "--tickers", "AAPL", "--json").stdout)
    assert [r["ticker"] for r in only["results"]] == ["AAPL"]


def test_validate_hourly_file_infers_interval(app) -> None:
    path = market_file("BTCUSD_2017-2019_coinbase-hourly_cdd.csv")
    result = _run(app, "validate", path, "--start", "2019-01-01", "--json")
    assert result.exit_code == 0, result.stdout
    assert _last_json(result.stdout)["results"][0]["suite"] == "ohlcv.crypto.1h"


def test_validate_missing_path_exits_1(app, tmp_path: Path) -> None:
    result = _run(app, "validate", tmp_path / "nope.csv", "--json")
    assert result.exit_code == 1
    assert "no such file or folder" in _last_json(result.stdout)["results"][0]["error"]


def test_ingest_then_validate_offline_from_snapshots(app, tmp_path: Path, monkeypatch) -> None:
    fake = FakeYahoo()
    monkeypatch.setattr(yf.Ticker, "history", lambda self, *a, **k: fake.history(self, *a, **k))
    store = tmp_path / "store"
    span = ("--start", "2018-01-01", "--end", "2019-01-01")
    result = _run(app, "ingest", "--tickers", "AAPL,MSFT", *span, "--store", store, "--json")
    assert result.exit_code == 0, result.stdout
    snaps = _last_json(result.stdout)["snapshots"]
    assert {s["ticker"] for s in snaps} == {"AAPL", "MSFT"}
    assert all((store / s["key"]).is_file() for s in snaps)

    def no_network(*a, **k):
        raise AssertionError("offline run touched yfinance")

    monkeypatch.setattr(yf, "download", no_network)
    args = ("validate", "--source", "yahoo", "--tickers", "MSFT", *span, "--store", store)
    result = _run(app, *args, "--offline", "--json")
    assert result.exit_code == 0, result.stdout
    (report,) = _last_json(result.stdout)["results"]
    assert report["ticker"] == "MSFT" and report["rows_checked"] == 251
    assert report["sha256"] == next(s["sha256"] for s in snaps if s["ticker"] == "MSFT")


def _nvda_unadjusted(tmp_path: Path) -> Path:
    table = pd.read_csv(market_file("NVDA_2013-2023_yahoo-adjusted.csv"), dtype=str)
    before = table["Date"] < "2021-07-20"
    for col in ("Open", "High", "Low", "Close"):
        table.loc[before, col] = (table.loc[before, col].astype(float) * 2).astype(str)
    path = tmp_path / "NVDA.csv"
    table.to_csv(path, index=False)
    return path


def test_validate_unadjusted_split_fails_until_declared(app, tmp_path: Path) -> None:
    path = _nvda_unadjusted(tmp_path)
    failed = _run(app, "validate", path, "--json")
    assert failed.exit_code == 1
    (report,) = _last_json(failed.stdout)["results"]
    assert [
        r["rule"] for r in report["rules"] if not r["success"] and r["severity"] == "error"
    ] == ["unadjusted_split"]
    declared = _run(app, "validate", path, "--split", "NVDA:2021-07-20=2", "--json")
    assert declared.exit_code == 0, declared.stdout
    (report,) = _last_json(declared.stdout)["results"]
    assert any(n.startswith("declared 2:1 split on 2021-07-20") for n in report["notes"])
    warned = _run(app, "validate", path, "--suspected-splits", "warning")
    assert warned.exit_code == 0


def test_validate_bad_split_option_exits_2(app, tmp_path: Path) -> None:
    result = _run(app, "validate", _nvda_unadjusted(tmp_path), "--split", "NVDA:2021-07-20")
    assert result.exit_code == 2
    assert "is not TICKER:YYYY-MM-DD=RATIO" in result.output


def test_validate_declared_split_outside_the_bars_is_named(app, tmp_path: Path) -> None:
    result = _run(app, "validate", _nvda_unadjusted(tmp_path), "--split", "1990-01-02=2")
    assert result.exit_code == 1
    assert "splits: 1990-01-02 is not inside the bars" in result.stdout


def test_validate_long_stale_run_threshold_option(app, tmp_path: Path) -> None:
    table = pd.read_csv(market_file("AAPL_2013-2023_yahoo-adjusted.csv"), dtype=str)
    rows = table.index[1000:1031]
    for col in ("Open", "High", "Low", "Close"):
        table.loc[rows, col] = table.loc[rows[0], "Close"]
    table.loc[rows, "Volume"] = "0"
    path = tmp_path / "AAPL.csv"
    table.to_csv(path, index=False)
    failed = _run(app, "validate", path)
    assert failed.exit_code == 1 and "long_stale_feed" in failed.stdout
    assert _run(app, "validate", path, "--max-stale-bars", "31").exit_code == 0


def test_validate_mixed_time_zones_exits_1_naming_rows(app, tmp_path: Path) -> None:
    table = pd.read_csv(market_file("AAPL_2013-2023_yahoo-adjusted.csv"), dtype=str)
    odd = table.index % 2 == 1
    table.loc[odd, "Date"] = table.loc[odd, "Date"] + "T00:00:00-05:00"
    path = tmp_path / "AAPL.csv"
    table.to_csv(path, index=False)
    result = _run(app, "validate", path, "--json")
    assert result.exit_code == 1
    (report,) = _last_json(result.stdout)["results"]
    assert "mixes time zones" in report["error"] and "AAPL.csv line 3" in report["error"]


def test_ingest_writes_snapshots_to_an_s3_store(app, s3_uri: str, monkeypatch) -> None:
    """``tradeforge ingest --store s3://...``: the raw snapshots land on the (real SeaweedFS) S3
    store, byte for byte what the report's sha256 says, and serve an offline validate."""
    import hashlib

    from storage import open_store

    fake = FakeYahoo()
    monkeypatch.setattr(yf.Ticker, "history", lambda self, *a, **k: fake.history(self, *a, **k))
    span = ("--start", "2018-01-01", "--end", "2019-01-01")
    result = _run(app, "ingest", "--tickers", "AAPL,MSFT", *span, "--store", s3_uri, "--json")
    assert result.exit_code == 0, result.stdout
    snaps = _last_json(result.stdout)["snapshots"]
    assert {s["ticker"] for s in snaps} == {"AAPL", "MSFT"}
    store = open_store(s3_uri)  # a fresh client: what is on the server, not in a cache
    keys = set(store.list("raw/"))
    for snap in snaps:
        assert snap["key"] in keys, (snap["key"], keys)
        assert hashlib.sha256(store.get_bytes(snap["key"])).hexdigest() == snap["sha256"]

    monkeypatch.setattr(yf.Ticker, "history", lambda *a, **k: pytest.fail("went online"))
    args = ("validate", "--source", "yahoo", "--tickers", "AAPL", *span, "--store", s3_uri)
    result = _run(app, *args, "--offline", "--json")
    assert result.exit_code == 0, result.stdout
    (report,) = _last_json(result.stdout)["results"]
    assert report["sha256"] == next(s["sha256"] for s in snaps if s["ticker"] == "AAPL")
