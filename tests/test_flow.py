"""The train_pipeline flow end to end under prefect_test_harness, on real (demo) data, tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.tiny import tiny

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "market"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_flow_parameters_are_the_config_sections_with_choices() -> None:
    """The UI's run form: one group per section, dropdowns for every choice, field docs."""
    from prefect.utilities.callables import parameter_schema

    from flows.train import train_pipeline
    from tradeforge.config import SECTIONS

    schema = parameter_schema(train_pipeline).model_dump_for_openapi()
    assert list(schema["properties"]) == list(SECTIONS)
    defs = schema["definitions"]
    env = defs["EnvConfig"]["properties"]
    assert env["reward"]["enum"] == ["simple", "pbr", "risk_adjusted", "differential_sharpe"]
    assert env["execution"]["enum"] == ["next_open", "same_close"]
    assert env["action_scheme"]["enum"] == ["bsh", "managed_risk"]
    assert defs["DataConfig"]["properties"]["interval"]["enum"] == ["1d", "1h"]
    assert defs["RunConfig"]["properties"]["agents"]["items"]["enum"] == ["dqn", "parallel_dqn"]
    assert env["commission"]["description"].startswith("Commission")
    # Optional dates are plain date fields, not a "type None" chooser.
    assert defs["DataConfig"]["properties"]["start"] == {
        "default": None,
        "description": "First bar to use (inclusive, YYYY-MM-DD).",
        "format": "date",
        "title": "Start",
        "type": "string",
    }


def test_flow_publishes_a_version_and_refuses_noise(prefect_harness, tmp_path: Path) -> None:
    from flows.train import train_pipeline
    from storage import open_store
    from storage.registry import ModelRegistry

    store = tmp_path / "store"
    summary = train_pipeline(**tiny(run={"store": str(store)}))

    (ticker,) = summary["tickers"]
    assert ticker["ticker"] == "GOOGL"
    # Both agent kinds are trained by default and compared in the summary.
    assert {(c["agent"], c["seed"]) for c in ticker["candidates"]} == {
        ("dqn", 0),
        ("parallel_dqn", 0),
    }
    for c in ticker["candidates"]:  # two walk-forward folds, pooled
        assert len(c["folds"]) == 2
    assert len(ticker["boundaries"]["folds"]) == 2
    assert set(ticker["baselines"]) >= {"buy_and_hold", "cash", "random", "sma_crossover"}
    for split in ("validation", "test"):
        assert set(ticker["challenger"][split]) >= {"total_return", "sharpe", "max_drawdown"}
    gate = ticker["gate"]
    assert gate["trials"] == 2 and {c["benchmark"] for c in gate["checks"]} == {
        "cash",
        "buy_and_hold",
    }
    # 300 training steps learn nothing: the gate must not promote it, and says why.
    assert ticker["promoted"] is False and gate["promote"] is False
    assert ticker["reason"].startswith("no edge shown"), ticker["reason"]
    assert summary["promoted"] == []
    assert not (store / "models" / "GOOGL" / "champion.json").exists()

    version_dir = store / "models" / "GOOGL" / ticker["challenger"]["agent"] / ticker["version"]
    card = _read_json(version_dir / "model_card.json")
    assert (version_dir / "model.keras").is_file()
    assert card["data"]["sha256"] and card["features"] and card["scaler"]
    assert card["gate"]["promote"] is False and len(card["walk_forward"]["folds"]) == 2
    # Staged candidates are cleared once the run has published its version.
    assert not (store / "staging").exists()  # no files, and no empty folders either
    for png in ("equity-validation.png", "equity-test.png", "cost-sweep.png"):
        assert (version_dir / png).read_bytes().startswith(b"\x89PNG"), png
    sweep = ticker["cost_sweep_test"]
    assert [r["commission_bp"] for r in sweep] == [0, 5, 10, 20, 30, 40, 50]
    # Costs only ever take away: buy-and-hold's return falls as the commission rises.
    hold = [r["buy_and_hold"]["total_return"] for r in sweep]
    assert hold == sorted(hold, reverse=True) and hold[0] > hold[-1]
    registry = ModelRegistry(open_store(str(store)))
    (entry,) = registry.history("GOOGL")
    assert entry["outcome"] == "rejected" and "no edge shown" in json.dumps(entry)

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    keys = {a.key for a in artifacts}
    progress = [a for a in artifacts if a.key == "training-progress-googl-dqn-simple-seed0-fold1"]
    assert progress and progress[0].data == 100.0  # updated while training, to the end
    assert {
        "data-validation-googl",
        "training-googl-dqn-simple-seed0-fold0",
        "metrics-googl",
        "promotion-googl",
        "equity-googl",
    } <= keys

    # Make the first version champion by hand; a second run is judged against it on the
    # same pooled validation bars, and its figures are in the summary.
    first = registry.versions("GOOGL")[0]
    assert registry.promote("GOOGL", first, decision={"promote": True}, expected_etag=None)
    again = train_pipeline(**tiny(run={"store": str(store), "seeds": [1], "agents": ["dqn"]}))
    (ticker2,) = again["tickers"]
    assert ticker2["champion_before"] == first.version_id
    assert ticker2["champion_validation"] is not None
    assert "champion" in {c["benchmark"] for c in ticker2["gate"]["checks"]}
    assert ticker2["version"] != ticker["version"]
    assert registry.champion("GOOGL").version_id == first.version_id  # not earned: unchanged


def test_bad_file_stops_before_training(prefect_harness, tmp_path: Path) -> None:
    from flows.train import train_pipeline

    frame = pd.read_csv(SHARED / "SPY_2010-2017_yahoo.csv")
    row = 412
    frame.loc[row, "High"] = frame.loc[row, "Low"] - 1.0  # high < low: impossible bar
    bad = tmp_path / "SPY.csv"
    frame.to_csv(bad, index=False)
    store = tmp_path / "store"

    with pytest.raises(Exception, match="ohlc") as info:
        train_pipeline(
            run={"store": str(store)},
            data={"tickers": ["SPY"], "source": str(bad)},
            dqn={"total_steps": 200},
        )
    assert str(frame.loc[row, "Date"]) in str(info.value)  # the error shows the offending bar
    # The failed report and its Data Docs are kept; nothing was trained, staged or published.
    (folder,) = (store / "validation").iterdir()
    report = json.loads((folder / "SPY" / "report.json").read_text())
    assert report["success"] is False
    assert "<html" in (folder / "SPY" / "data-docs.html").read_text().lower()
    assert not (store / "staging").exists()
    assert not (store / "models").exists()


def test_one_bad_ticker_fails_the_run_after_the_others_are_decided(
    prefect_harness, tmp_path: Path
) -> None:
    """Three tickers from a folder, one with a row whose high is below its low: the other two
    are trained and decided on their own evidence, the bad one is named with its task and rule,
    its staged files are removed, and the flow run ends Failed (issue 26)."""
    from prefect.client.orchestration import get_client

    from flows.train import TickersFailed, train_pipeline

    source = tmp_path / "market"
    source.mkdir()
    for ticker in ("AAPL", "MSFT", "AMZN"):
        text = (SHARED / f"{ticker}_2013-2023_yahoo-adjusted.csv").read_text()
        (source / f"{ticker}.csv").write_text(text)
    bad = pd.read_csv(source / "MSFT.csv")
    row = int(bad.index[bad["Date"] == "2015-03-02"][0])
    bad.loc[row, "High"] = bad.loc[row, "Low"] / 2
    bad.to_csv(source / "MSFT.csv", index=False)
    store = tmp_path / "store"
    params = tiny(
        run={"store": str(store), "agents": ["dqn"], "tickers_in_flight": 2},
        data={"source": str(source), "tickers": ["AAPL", "MSFT", "AMZN"]},
    )
    with pytest.raises(TickersFailed) as raised:
        train_pipeline(**params)

    summary = raised.value.summary
    assert [t["ticker"] for t in summary["tickers"]] == ["AAPL", "MSFT", "AMZN"]
    outcomes = {t["ticker"]: t["outcome"] for t in summary["tickers"]}
    assert outcomes["MSFT"] == "failed" and summary["failed"] == ["MSFT"]
    assert outcomes["AAPL"] in ("promoted", "not_promoted")
    assert outcomes["AMZN"] in ("promoted", "not_promoted")
    (msft,) = [t for t in summary["tickers"] if t["ticker"] == "MSFT"]
    assert msft["failures"][0].startswith("validate-MSFT: DataValidationError")
    assert "high" in msft["reason"].lower(), msft["reason"]
    assert "MSFT" in str(raised.value) and "validate-MSFT" in str(raised.value)
    for good in ("AAPL", "AMZN"):  # each decided and recorded as a version, as a lone run would be
        (entry,) = [t for t in summary["tickers"] if t["ticker"] == good]
        assert Path(entry["version_uri"], "model_card.json").is_file()
    assert not list((store / "models").glob("MSFT*"))
    assert not [p for p in store.rglob("*") if "staging" in p.parts and "MSFT" in p.parts]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        (run,) = [r for r in runs if r.parameters["data"].get("source") == str(source)]
        assert run.state.is_failed(), run.state
