"""The universe (issue 27): N validated tickers on one calendar, fixed at its first date, and
each bad universe refused with a clear error and exit 2 before anything is trained."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.synthetic import random_walk
from tradeforge.portfolio import UniverseError, align_universe

TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def _walk(ticker: str, seed: int, n: int = 300) -> pd.DataFrame:
    return random_walk(seed, n).assign(ticker=ticker)


def _csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.assign(Date=frame["timestamp"].dt.strftime("%Y-%m-%d"))
    out = out.rename(
        columns={c: c.capitalize() for c in ("open", "high", "low", "close", "volume")}
    )
    out[["Date", "Open", "High", "Low", "Close", "Volume"]].to_csv(path, index=False)


def _train(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # ephemeral mode, as on a fresh machine
    return subprocess.run(
        [str(TRADEFORGE), "train", "--store", str(tmp_path / "store"), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_aligned_universe_shares_one_calendar_and_reports_missing_bars() -> None:
    a, b = _walk("A", 1), _walk("B", 2)
    b = b.drop(index=[40, 41]).iloc[:-5].reset_index(drop=True)
    universe = align_universe({"A": a, "B": b})
    assert universe.tickers == ("A", "B")
    assert len(universe.frames["A"]) == len(universe.frames["B"]) == 300 - 2 - 5
    assert (universe.frames["A"]["timestamp"] == universe.frames["B"]["timestamp"]).all()
    missing = [str(d.date()) for d in a["timestamp"].iloc[[40, 41]]]
    assert universe.missing == {"B": missing}
    assert universe.prices("close").shape == (293, 2)
    assert any("universe ends" in n and "B" in n for n in universe.notes)
    assert [r["missing_bars"] for r in universe.report()] == [0, 2]


def test_no_overlapping_dates_is_refused_naming_each_span() -> None:
    a, b = _walk("A", 1, 200), _walk("B", 2, 500).iloc[300:].reset_index(drop=True)
    with pytest.raises(UniverseError, match=r"0 date\(s\) every ticker traded on.*B 20"):
        align_universe({"A": a, "B": b})


def test_a_ticker_without_bars_on_the_first_date_is_refused_by_name() -> None:
    a, late = _walk("A", 1), _walk("LATE", 2).iloc[20:].reset_index(drop=True)
    with pytest.raises(UniverseError) as err:
        align_universe({"A": a, "LATE": late})
    first = str(late["timestamp"].iloc[0].date())
    assert f"LATE has no bar then (its first is {first})" in str(err.value)
    assert f"--start {first}" in str(err.value) and "survivorship" in str(err.value)


def test_crypto_beside_stocks_is_refused_unless_aligned_on_sessions() -> None:
    stock = _walk("SPY", 1)
    days = pd.date_range(stock["timestamp"].iloc[0], stock["timestamp"].iloc[-1], freq="D")
    crypto = _walk("BTC-USD", 2, len(days)).assign(timestamp=days)
    with pytest.raises(UniverseError, match=r"24/7 crypto \(BTC-USD\).*exchange_sessions"):
        align_universe({"SPY": stock, "BTC-USD": crypto})
    universe = align_universe({"SPY": stock, "BTC-USD": crypto}, align="exchange_sessions")
    assert (universe.frames["BTC-USD"]["timestamp"] == stock["timestamp"]).all()
    assert universe.missing == {}  # weekends are not missing bars of the stock
    assert any(n.startswith("BTC-USD: ") and "off the exchange" in n for n in universe.notes)


@pytest.mark.parametrize(
    ("universe", "expected"),
    [
        ("AAPL", "a universe of one ticker"),
        ("AAPL,MSFT,AAPL", "names AAPL twice"),
        ("AAPL,msft,MSFT", "names MSFT twice"),
        # 30 tickers joined by '-' make a default name longer than the registry allows
        (",".join(f"T{i:03d}" for i in range(30)), "1 to 128 characters"),
    ],
)
def test_bad_universe_options_exit_2_before_anything_runs(
    universe: str, expected: str, tmp_path: Path
) -> None:
    done = _train(["--portfolio", universe], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--portfolio" in done.stderr and expected in done.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    "name", ["mega7", "BRK.B-^GSPC", "x" * 128, "x" * 129, "a/b", "a..b", "-lead", "ok_=^.-"]
)
def test_the_config_accepts_exactly_the_universe_names_the_registry_accepts(name: str) -> None:
    from storage.errors import InvalidKey
    from storage.registry import check_portfolio_name
    from tradeforge.config import PortfolioConfig

    try:
        check_portfolio_name(name)
        registry_ok = True
    except InvalidKey:
        registry_ok = False
    try:
        PortfolioConfig(tickers=("A", "B"), name=name)
        config_ok = True
    except ValueError:
        config_ok = False
    assert config_ok == registry_ok, name


def test_tickers_beside_portfolio_is_refused(tmp_path: Path) -> None:
    done = _train(["--portfolio", "AAPL,MSFT", "--tickers", "SPY"], tmp_path)
    assert done.returncode == 2 and "not both" in done.stderr


def test_one_ticker_failing_its_contract_is_named_and_nothing_trained(tmp_path: Path) -> None:
    source = tmp_path / "bars"
    source.mkdir()
    _csv(_walk("GOOD", 1), source / "GOOD.csv")
    bad = _walk("BAD", 2)
    bad.loc[100, "high"] = bad.loc[100, "low"] / 2  # high below low: the contract's error
    _csv(bad, source / "BAD.csv")
    done = _train(["--portfolio", "GOOD,BAD", "--source", str(source)], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "1 of 2 ticker(s) failed" in done.stderr and "BAD: DataValidationError" in done.stderr
    assert "GOOD:" not in done.stderr
    assert not list((tmp_path / "store").glob("models/**/*.keras"))


def test_no_overlapping_dates_exits_2_from_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "bars"
    source.mkdir()
    _csv(_walk("EARLY", 1, 200), source / "EARLY.csv")
    _csv(_walk("LATER", 2, 600).iloc[400:], source / "LATER.csv")
    done = _train(["--portfolio", "EARLY,LATER", "--source", str(source)], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "overlapping dates" in done.stderr and "LATER 20" in done.stderr
