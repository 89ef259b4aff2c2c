"""The Python API (``import tradeforge as tf``): train, load_champion, validate, registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tradeforge as tf
from tests.predict.champions import SPY, publish
from tests.tiny import tiny
from tradeforge.config import DataConfig


@pytest.fixture(scope="module")
def demo_frame():
    from tradeforge.data import ingest

    return ingest("GOOGL", DataConfig(source="demo")).frame


@pytest.fixture(scope="module")
def champion(tmp_path_factory, demo_frame):
    """A local store whose GOOGL champion is a small seeded Q-network (the predict tests')."""
    root = tmp_path_factory.mktemp("api")
    return publish(str(root / "store"), demo_frame, "demo", workdir=root)


def test_train_returns_the_flows_summary_typed(prefect_harness, tmp_path: Path) -> None:
    store = tmp_path / "store"
    summary = tf.train(**tiny(run={"store": str(store), "agents": ["dqn"]}))
    assert isinstance(summary, tf.RunSummary)
    assert (summary.store, summary.agents, summary.seeds, summary.folds) == (
        str(store),
        ["dqn"],
        [0],
        2,
    )
    googl = summary.ticker("googl")
    assert isinstance(googl, tf.TickerResult)
    assert googl.outcome in ("promoted", "not_promoted") and googl.reason
    assert googl.promoted == (summary.promoted == ["GOOGL"])
    # The published version is where the summary says, and the registry lists it.
    assert (Path(googl.version_uri) / "model_card.json").is_file()
    reg = tf.registry(str(store))
    assert [v.version_id for v in reg.versions("GOOGL")] == [googl.version]
    assert len(reg.history("GOOGL")) == 1
    # The typed summary keeps the CLI's whole JSON entry (gate, candidates, baselines, ...).
    dumped = summary.model_dump(mode="json")
    assert dumped["tickers"][0]["gate"]["checks"] and dumped["tickers"][0]["seed_summary"]
    assert tf.RunSummary.model_validate(json.loads(json.dumps(dumped))) == summary
    with pytest.raises(KeyError, match="GOOGL"):
        summary.ticker("SPY")
    # The model card's format page lists every key a real card has.
    card = reg.card("GOOGL", "dqn", googl.version)
    formats = (Path(__file__).resolve().parents[1] / "docs/reference/formats.md").read_text()
    assert [key for key in card if f"| `{key}` |" not in formats] == []


def test_train_refuses_bad_settings_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dqn\.gamma"):
        tf.train(dqn={"gamma": 2.0}, run={"store": str(tmp_path)})
    with pytest.raises(ValueError, match="unknown section"):
        tf.train(dqm={"gamma": 0.9})
    from tradeforge.preflight import PreflightError

    with pytest.raises(PreflightError, match=r"nope\.csv"):
        tf.train(data={"source": str(tmp_path / "nope.csv"), "tickers": ["SPY"]})
    with pytest.raises(PreflightError, match=r"run\.resume nope: no checkpoints"):
        tf.train(run={"resume": "nope", "work_dir": str(tmp_path), "store": str(tmp_path)})
    assert not (tmp_path / "models").exists()


def test_config_sections_merge_and_a_file_names_its_ticker() -> None:
    from tradeforge.api import pipeline_config

    cfg = pipeline_config(
        {"dqn": {"gamma": 0.9}}, dqn={"total_steps": 1000}, data={"source": str(SPY)}
    )
    assert (cfg.dqn.gamma, cfg.dqn.total_steps, cfg.data.tickers) == (0.9, 1000, ("SPY",))
    again = pipeline_config(cfg, run=tf.PipelineConfig().run.replace(seeds=(4,)))
    assert again.dqn == cfg.dqn and again.run.seeds == (4,)


def test_load_champion_acts_as_predict_does(champion, demo_frame) -> None:
    from tradeforge.inference import champion_info, predict_latest

    policy = tf.load_champion(champion.store, "googl")
    assert isinstance(policy, tf.Policy)
    assert (policy.ticker, policy.version_id) == ("GOOGL", champion.version.version_id)
    expected = predict_latest(demo_frame, champion_info("GOOGL", champion.store), champion.store)
    for position in ("flat", "long"):
        action = policy.act(demo_frame, position)
        want = predict_latest(
            demo_frame, champion_info("GOOGL", champion.store), champion.store, position=position
        )
        assert isinstance(action, tf.Action)
        assert list(action.q_values) == pytest.approx(want["q_values"])
        assert (action.timestamp, action.action_name) == (want["timestamp"], want["action_name"])
    # Bars given as records (a JSON body's) give the same decision as the frame.
    records = [
        {k: (str(r["timestamp"].date()) if k == "timestamp" else r[k]) for k in r.index}
        for _, r in demo_frame.drop(columns="ticker").tail(200).iterrows()
    ]
    assert list(policy.act(records).q_values) == pytest.approx(expected["q_values"], rel=1e-4)
    # policy.bars() reads the source recorded in the card (the demo data).
    assert policy.bars()["timestamp"].iloc[-1] == demo_frame["timestamp"].iloc[-1]


def test_load_version_loads_any_published_version(champion, demo_frame) -> None:
    version = champion.version.version_id
    policy = tf.load_version(champion.store, "GOOGL", version)
    assert (policy.version_id, policy.agent) == (version, "dqn")
    assert policy.act(demo_frame) == tf.load_champion(champion.store, "GOOGL").act(demo_frame)
    with pytest.raises(LookupError, match=version):
        tf.load_version(champion.store, "GOOGL", "20200101T000000000000Z-abcd1234")


def test_load_champion_refuses_missing_and_bad_bars(champion, demo_frame, tmp_path) -> None:
    from tradeforge.inference import BarsError, NoChampionError

    with pytest.raises(NoChampionError, match="no champion for SPY"):
        tf.load_champion(champion.store, "SPY")
    bad = demo_frame.copy()
    bad.loc[bad.index[-3], "close"] = -1.0
    with pytest.raises(BarsError, match="not > 0"):
        tf.load_champion(champion.store, "GOOGL").act(bad)
    with pytest.raises(ValueError, match="position"):
        tf.load_champion(champion.store, "GOOGL").act(demo_frame, "short")


def test_registry_lists_versions_champion_and_history(champion) -> None:
    reg = tf.registry(champion.store)
    assert isinstance(reg, tf.Registry) and reg.tickers() == ["GOOGL"]
    assert reg.versions("GOOGL") == [champion.version]
    assert reg.champion("GOOGL").version_id == champion.version.version_id
    assert reg.champion("SPY") is None
    assert [(h["outcome"], h["decision"]["reason"]) for h in reg.history("GOOGL")] == [
        ("promoted", "test")
    ]
    assert reg.card("GOOGL", "dqn", champion.version.version_id)["seed"] == 3


def test_validate_a_file_and_a_frame(demo_frame, tmp_path: Path) -> None:
    report = tf.validate(SPY)
    assert isinstance(report, tf.Report) and report.success and report.ticker == "SPY"
    assert report.rows_checked > 1000
    bad = demo_frame.copy()
    bad.loc[bad.index[10], "high"] = bad["low"].iloc[10] / 2
    refused = tf.validate(bad)
    assert not refused.success
    assert "ohlc_consistency" in {r.rule for r in refused.errors}
    renamed = tmp_path / "prices.csv"
    renamed.write_bytes(SPY.read_bytes())
    named = tf.validate(renamed, ticker="spy")
    assert named.success and named.ticker == "SPY"
    from tradeforge.data import DataSourceError

    with pytest.raises(DataSourceError, match="name one CSV"):
        tf.validate(tmp_path)
