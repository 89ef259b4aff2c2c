"""The train_pipeline flow end to end under prefect_test_harness, on real (demo) data, tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.tiny import TINY

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "market"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_flow_writes_version_and_champion(prefect_harness, tmp_path: Path) -> None:
    from flows.train import train_pipeline

    store = tmp_path / "store"
    summary = train_pipeline(store=str(store), **TINY)

    (ticker,) = summary["tickers"]
    assert ticker["ticker"] == "GOOGL"
    # Both agent kinds are trained by default and compared in the summary.
    assert {(c["agent"], c["seed"]) for c in ticker["candidates"]} == {
        ("dqn", 0),
        ("parallel_dqn", 0),
    }
    assert set(ticker["seed_summary"]) == {"dqn", "parallel_dqn"}
    assert ticker["promoted"] is True, ticker["reason"]  # first model for a ticker: no champion yet
    assert set(ticker["baselines"]) >= {"buy_and_hold", "cash", "random", "sma_crossover"}
    for split in ("validation", "test"):
        assert set(ticker["challenger"][split]) >= {"total_return", "sharpe", "max_drawdown"}

    champion = _read_json(store / "models" / "GOOGL" / "champion.json")
    version_dir = store / "models" / "GOOGL" / ticker["challenger"]["agent"] / ticker["version"]
    assert ticker["version"] in json.dumps(champion)
    card = _read_json(version_dir / "model_card.json")
    assert (version_dir / "model.keras").is_file()
    assert card["data"]["sha256"] and card["features"] and card["scaler"]
    # Staged candidates are cleared once the run has published its version.
    assert not [p for p in (store / "staging").rglob("*") if p.is_file()]
    for png in ("equity-validation.png", "equity-test.png", "cost-sweep.png"):
        assert (version_dir / png).read_bytes().startswith(b"\x89PNG"), png
    sweep = ticker["cost_sweep_test"]
    assert [r["commission_bp"] for r in sweep] == [0, 5, 10, 20, 30, 40, 50]
    # Costs only ever take away: buy-and-hold's return falls as the commission rises.
    hold = [r["buy_and_hold"]["total_return"] for r in sweep]
    assert hold == sorted(hold, reverse=True) and hold[0] > hold[-1]

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    keys = {a.key for a in artifacts}
    progress = [a for a in artifacts if a.key == "training-progress-googl-dqn-seed0"]
    assert progress and progress[0].data == 100.0  # updated while training, to the end
    assert {
        "data-validation-googl",
        "training-googl-dqn-seed0",
        "training-progress-googl-dqn-seed0",
        "metrics-googl",
        "promotion-googl",
        "equity-googl",
    } <= keys

    # A second run on the same windows: the challenger meets a champion and is judged against it.
    again = train_pipeline(store=str(store), seeds=[1], agents=["dqn"], **TINY)
    (ticker2,) = again["tickers"]
    assert ticker2["champion_before"] == ticker["version"]
    assert ticker2["champion_validation"] is not None
    assert ticker2["version"] != ticker["version"]


def test_bad_file_stops_before_training(prefect_harness, tmp_path: Path) -> None:
    from flows.train import train_pipeline

    frame = pd.read_csv(SHARED / "SPY_2010-2017_yahoo.csv")
    row = 412
    frame.loc[row, "High"] = frame.loc[row, "Low"] - 1.0  # high < low: impossible bar
    bad = tmp_path / "SPY.csv"
    frame.to_csv(bad, index=False)
    store = tmp_path / "store"

    with pytest.raises(Exception, match="ohlc") as info:
        train_pipeline(tickers=["SPY"], source=str(bad), store=str(store), steps=200)
    assert str(frame.loc[row, "Date"]) in str(info.value)  # the error shows the offending bar
    # The failed report and its Data Docs are kept; nothing was trained, staged or published.
    (folder,) = (store / "validation").iterdir()
    report = json.loads((folder / "SPY" / "report.json").read_text())
    assert report["success"] is False
    assert "<html" in (folder / "SPY" / "data-docs.html").read_text().lower()
    assert not (store / "staging").exists()
    assert not (store / "models").exists()
