"""Inference on the champion: verified load, the card's scaler, the latest bar; CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from storage import IntegrityError, open_store
from storage.registry import ModelRegistry
from tradeforge.config import DataConfig, FeatureConfig, SplitConfig
from tradeforge.inference import NoChampionError, champion_info, predict_latest

WINDOW = 5


@pytest.fixture(scope="module")
def demo_frame():
    from tradeforge.data import ingest

    return ingest("GOOGL", DataConfig(source="demo")).frame


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory, demo_frame):
    """A local store whose GOOGL champion is a small (untrained, seeded) Q-network."""
    from tradeforge.agents import QAgent
    from tradeforge.agents.network import NetworkSpec, build_q_network
    from tradeforge.features import prepare

    prepared = prepare(demo_frame, FeatureConfig(), SplitConfig(), WINDOW)
    n_features = len(prepared.feature_names)
    spec = NetworkSpec(obs_dim=WINDOW * n_features + 1, num_actions=2, hidden=(16,))
    agent = QAgent(build_q_network(spec, seed=3))
    root = tmp_path_factory.mktemp("predict")
    model = agent.save(root / "model.keras")
    store = str(root / "store")
    registry = ModelRegistry(open_store(store))
    card = {
        "features": list(prepared.feature_names),
        "window": WINDOW,
        "scaler": prepared.scaler,
        "data": {"boundaries": prepared.boundaries, "sha256": "test"},
        "metrics": {"validation": {"sharpe": 0.5, "max_drawdown": 0.1}},
        "seed": 3,
    }
    version = registry.publish("GOOGL", "dqn", {"model.keras": model}, card)
    assert registry.promote("GOOGL", version, {"promote": True, "reason": "test"}, None)
    return store, agent, prepared


def test_prediction_matches_the_training_features(champion_store, demo_frame) -> None:
    from tradeforge.envs.observation import observations_at

    store, agent, prepared = champion_store
    champ = champion_info("GOOGL", store)
    out = predict_latest(demo_frame, champ, store, position="flat")
    last = demo_frame["timestamp"].iloc[-1]
    assert out["timestamp"] == last.strftime("%Y-%m-%d")
    assert out["close"] == pytest.approx(demo_frame["close"].iloc[-1])
    # The same bar seen through the training pipeline's test window gives the same Q-values:
    # inference rebuilt the features with the card's scaler, not a refitted one.
    test = prepared.test
    obs = observations_at(test.features, WINDOW, np.array([test.end - 1]), np.array([0.0]))
    assert out["q_values"] == pytest.approx(agent.q_values(obs)[0].tolist(), rel=1e-5)
    assert out["action"] == int(np.argmax(out["q_values"])) and out["action_name"] in (
        "flat",
        "long",
    )
    long = predict_latest(demo_frame, champ, store, position="long")
    assert long["position"] == "long" and long["q_values"] != out["q_values"]


def test_prediction_is_for_the_latest_bar_given(champion_store, demo_frame) -> None:
    store, _, _ = champion_store
    earlier = demo_frame.iloc[:-30].reset_index(drop=True)
    out = predict_latest(earlier, champion_info("GOOGL", store), store)
    assert out["timestamp"] == earlier["timestamp"].iloc[-1].strftime("%Y-%m-%d")


def test_predict_from_an_s3_registry(champion_store, demo_frame, s3_uri, tmp_path) -> None:
    store, _, _ = champion_store
    local = ModelRegistry(open_store(store))
    champ, loaded = local.load_champion("GOOGL", tmp_path / "champion")
    card = {k: v for k, v in loaded.card.items() if k not in ("files", "version_id", "created_at")}
    remote = ModelRegistry(open_store(s3_uri))
    version = remote.publish("GOOGL", champ.agent, {"model.keras": loaded.model_path}, card)
    assert remote.promote("GOOGL", version, {"promote": True, "reason": "copy"}, None)
    from_s3 = predict_latest(demo_frame, champion_info("GOOGL", s3_uri), s3_uri)
    from_local = predict_latest(demo_frame, champion_info("GOOGL", store), store)
    assert from_s3["version_uri"].startswith("s3://")
    assert from_s3["q_values"] == from_local["q_values"]


def test_corrupted_champion_is_refused(champion_store, tmp_path) -> None:
    import shutil

    store, _, _ = champion_store
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    champ = ModelRegistry(open_store(str(copy))).champion("GOOGL")
    model = copy / "models" / "GOOGL" / "dqn" / champ.version_id / "model.keras"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        champion_info("GOOGL", str(copy))


def test_no_champion_says_how_to_get_one(tmp_path) -> None:
    with pytest.raises(NoChampionError, match="tradeforge train --tickers SPY"):
        champion_info("SPY", str(tmp_path / "empty"))


def test_models_cli_lists_and_shows(champion_store) -> None:
    from cli.main import app

    store, _, _ = champion_store
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--store", store, "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output.strip().splitlines()[-1])["versions"]
    assert row["ticker"] == "GOOGL" and row["champion"] is True
    assert row["validation_sharpe"] == 0.5
    shown = runner.invoke(app, ["models", "show", "--ticker", "GOOGL", "--store", store, "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output.strip().splitlines()[-1])
    assert detail["version_id"] == row["version_id"] and detail["verified"] is True
    assert [h["outcome"] for h in detail["history"]] == ["promoted"]
    text = runner.invoke(app, ["models", "show", "--ticker", "GOOGL", "--store", store])
    assert "match their sha256" in text.output and "promoted" in text.output
    missing = runner.invoke(app, ["models", "show", "--ticker", "SPY", "--store", store])
    assert missing.exit_code == 1 and "no champion for SPY" in missing.output


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_predict_command_end_to_end(champion_store, demo_frame, tmp_path: Path) -> None:
    """The real console script, its own ephemeral Prefect, the flow, ``--json`` last line."""
    store, _, _ = champion_store
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "tradeforge"),
            "predict",
            "--ticker",
            "GOOGL",
            "--store",
            store,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ticker"] == "GOOGL" and out["action_name"] in ("flat", "long")
    assert out["timestamp"] == demo_frame["timestamp"].iloc[-1].strftime("%Y-%m-%d")
    expected = predict_latest(demo_frame, champion_info("GOOGL", store), store)
    assert out["q_values"] == pytest.approx(expected["q_values"])
    assert out["version_id"] == ModelRegistry(open_store(store)).champion("GOOGL").version_id
