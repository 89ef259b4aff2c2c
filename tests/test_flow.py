"""The train_pipeline flow end to end under prefect_test_harness, on real (demo) data, tiny sizes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.prefect_runs import artifacts_of, flow_run_where
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
    # The pooled validation returns paper trading is monitored against (issue 25): one per
    # validation step, chaining to the pooled total return.
    pooled = np.prod(1.0 + np.asarray(card["walk_forward"]["returns"])) - 1.0
    assert pooled == pytest.approx(card["walk_forward"]["pooled"]["total_return"], abs=1e-9)
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

    run = flow_run_where(lambda p: p.get("run", {}).get("store") == str(store))
    artifacts = artifacts_of(run.id)
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

    # Make the first version champion by hand; a second run re-scores it on the same pooled
    # validation bars (same features and window: same warm-up), and the gate compares it there.
    first = registry.versions("GOOGL")[0]
    assert registry.promote("GOOGL", first, decision={"promote": True}, expected_etag=None)
    again = train_pipeline(**tiny(run={"store": str(store), "seeds": [1], "agents": ["dqn"]}))
    (ticker2,) = again["tickers"]
    assert ticker2["champion_before"] == first.version_id
    _assert_gated_against_the_champion(ticker2, bars=gate["bars"])
    assert ticker2["version"] != ticker["version"]
    assert registry.champion("GOOGL").version_id == first.version_id  # not earned: unchanged


def _assert_gated_against_the_champion(ticker: dict, bars: int) -> None:
    """The champion was re-scored on ``bars`` common bars and is one of the gate's benchmarks."""
    rescored = ticker["champion_validation"]
    assert set(rescored) == set(ticker["challenger"]["validation"])  # the same metrics
    assert rescored != ticker["challenger"]["validation"]  # of another policy
    assert ticker["gate"]["bars"] == bars
    checks = {c["benchmark"]: c for c in ticker["gate"]["checks"]}
    assert set(checks) == {"cash", "buy_and_hold", "champion"}
    # The gate's champion benchmark is the re-scored champion on the common bars.
    assert checks["champion"]["benchmark_sharpe"] == pytest.approx(rescored["sharpe"], rel=1e-6)


def _pooled_buy_and_hold(frame: pd.DataFrame, split) -> list[float]:
    """Buy-and-hold's validation returns over the tiny run's folds (default features, window 5)."""
    from tradeforge.config import EnvConfig, EvalConfig, FeatureConfig
    from tradeforge.evaluation import periods_per_year
    from tradeforge.evaluation.stage import baseline_results
    from tradeforge.features import prepare

    prepared = prepare(frame, FeatureConfig(), split, 5)
    results = baseline_results(prepared, EnvConfig(window=5), EvalConfig(), periods_per_year("1d"))
    return list(results["buy_and_hold"].val_returns)


def _annual_sharpe(returns: list[float]) -> float:
    from tradeforge.evaluation import periods_per_year
    from tradeforge.evaluation.significance import moments

    return moments(returns).sharpe * math.sqrt(periods_per_year("1d"))


def test_a_champion_with_a_longer_warm_up_is_compared_on_the_common_bars(
    prefect_harness, tmp_path: Path
) -> None:
    """Two champions of the same challenger: one with its warm-up, one that needs 200 bars of
    history (sma_ratio_20_200, window 1) and so starts trading ~13 bars into the first
    validation fold. Against the second, every series is cut to the bars the champion has."""
    from flows.train import train_pipeline
    from tests.predict.champions import publish
    from tradeforge.config import DataConfig, FeatureConfig, SplitConfig
    from tradeforge.data import ingest
    from tradeforge.features import market_for_inference

    store = str(tmp_path / "store")
    split = SplitConfig(**tiny()["split"])
    history = ingest("GOOGL", DataConfig(source="demo", **tiny()["data"])).frame
    run = tiny(run={"store": store, "agents": ["dqn"]}, data={"start": "2014-10-01"})

    publish(store, history, "demo", workdir=tmp_path, split=split)  # default features, window 5
    same = train_pipeline(**run)["tickers"][0]
    bars = same["gate"]["bars"]
    _assert_gated_against_the_champion(same, bars)
    assert same["gate"]["challenger_sharpe"] == pytest.approx(
        same["challenger"]["validation"]["sharpe"], rel=1e-9
    )  # nothing cut

    slow = FeatureConfig(features=("logret_1", "sma_ratio_20_200"))
    champion = publish(
        store, history, "demo", workdir=tmp_path, features=slow, window=1, split=split
    )
    longer = train_pipeline(**run)["tickers"][0]
    assert longer["champion_before"] == champion.version.version_id
    # The bars of the challenger's data before the champion's first defined feature row.
    frame = ingest("GOOGL", DataConfig(source="demo", **run["data"])).frame
    first = market_for_inference(frame, slow, champion.prepared.scaler, 1).timestamps[0]
    val_start = pd.Timestamp(same["boundaries"]["folds"][0]["val_start"])
    stamps = frame["timestamp"].dt.tz_localize(None)
    missing = int(((stamps >= val_start) & (stamps < pd.Timestamp(first))).sum())
    assert 5 <= missing <= 30, (val_start, first)
    _assert_gated_against_the_champion(longer, bars - missing)
    # Buy-and-hold on the challenger's folds: the gate's benchmark is it without those first bars.
    hold = _pooled_buy_and_hold(frame, split)
    hold_sharpe = {
        name: next(c for c in r["gate"]["checks"] if c["benchmark"] == "buy_and_hold")[
            "benchmark_sharpe"
        ]
        for name, r in (("same", same), ("longer", longer))
    }
    assert hold_sharpe["same"] == pytest.approx(_annual_sharpe(hold), rel=1e-9)
    assert hold_sharpe["longer"] == pytest.approx(_annual_sharpe(hold[missing:]), rel=1e-9)
    # The same challenger (same seed, same bars) as against the first champion ...
    assert longer["challenger"]["validation"] == pytest.approx(same["challenger"]["validation"])
    # ... but the gate judged it on the champion's bars only.
    assert longer["gate"]["challenger_sharpe"] != pytest.approx(
        longer["challenger"]["validation"]["sharpe"], rel=1e-6
    )


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
    run = flow_run_where(lambda p: p.get("data", {}).get("source") == str(source))
    assert run.state.is_failed(), run.state
