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
from tests.predict.champions import SPY, WINDOW, publish
from tradeforge.config import DataConfig
from tradeforge.inference import (
    BarsError,
    NoChampionError,
    champion_info,
    check_bars,
    predict,
    predict_latest,
)


@pytest.fixture(scope="module")
def demo_frame():
    from tradeforge.data import ingest

    return ingest("GOOGL", DataConfig(source="demo")).frame


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory, demo_frame):
    """A local store whose GOOGL champion is a small (untrained, seeded) Q-network, published
    with its numpy policy files and the demo data as its recorded source."""
    root = tmp_path_factory.mktemp("predict")
    got = publish(str(root / "store"), demo_frame, "demo (gym-anytrading)", workdir=root)
    return got.store, got.agent, got.prepared


@pytest.fixture(scope="module")
def keras_only_store(tmp_path_factory, demo_frame):
    """A champion published before the numpy policy existed: ``model.keras`` only."""
    root = tmp_path_factory.mktemp("predict-keras")
    got = publish(str(root / "store"), demo_frame, "demo", numpy_policy=False, workdir=root)
    return got.store, got.agent


@pytest.fixture(scope="module")
def spy_store(tmp_path_factory):
    """A SPY champion trained (so its card says) on a local Yahoo file."""
    from tradeforge.data import ingest

    frame = ingest("SPY", DataConfig(source=str(SPY))).frame
    root = tmp_path_factory.mktemp("predict-spy")
    got = publish(str(root / "store"), frame, str(SPY), dueling=True, workdir=root)
    return got.store, got.agent, frame


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
    version = remote.publish("GOOGL", champ.agent, dict(loaded.files), card)
    assert remote.promote("GOOGL", version, {"promote": True, "reason": "copy"}, None)
    from_s3 = predict_latest(demo_frame, champion_info("GOOGL", s3_uri), s3_uri)
    from_local = predict_latest(demo_frame, champion_info("GOOGL", store), store)
    assert from_s3["version_uri"].startswith("s3://")
    assert from_s3["q_values"] == from_local["q_values"]
    assert from_s3["loaded_from"] == "policy.npz"


@pytest.mark.parametrize(
    ("which", "name"),
    [("champion_store", "policy.npz"), ("champion_store", "policy.json"), ("keras", "model.keras")],
)
def test_corrupted_champion_is_refused(
    which, name, champion_store, keras_only_store, tmp_path
) -> None:
    import shutil

    store = champion_store[0] if which == "champion_store" else keras_only_store[0]
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    champ = ModelRegistry(open_store(str(copy))).champion("GOOGL")
    target = copy / "models" / "GOOGL" / "dqn" / champ.version_id / name
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match=f"{name}: checksum mismatch"):
        champion_info("GOOGL", str(copy))


def test_a_version_published_before_the_numpy_policy_acts_through_keras(
    keras_only_store, champion_store, demo_frame
) -> None:
    store, _ = keras_only_store
    champ = champion_info("GOOGL", store)
    assert champ["loaded_from"] == "model.keras"
    out = predict_latest(demo_frame, champ, store, position="long")
    assert out["loaded_from"] == "model.keras"
    # Same seed and architecture as champion_store's numpy policy: the same Q-values.
    new_store = champion_store[0]
    new = predict_latest(demo_frame, champion_info("GOOGL", new_store), new_store, position="long")
    assert new["loaded_from"] == "policy.npz"
    assert out["q_values"] == pytest.approx(new["q_values"], abs=1e-5)


def test_predict_reads_the_source_recorded_in_the_champions_card(spy_store) -> None:
    store, _, frame = spy_store
    out = predict("SPY", store)
    assert out["source"] == str(SPY) and out["source_recorded"] is True
    assert out["timestamp"] == frame["timestamp"].iloc[-1].strftime("%Y-%m-%d")
    assert out["position"] == "flat" and out["position_assumed"] is True
    held = predict("SPY", store, position="long")
    assert held["position"] == "long" and held["position_assumed"] is False
    assert held["q_values"] != out["q_values"]
    earlier = predict("SPY", store, source=str(SPY), end="2016-01-01")
    assert earlier["source_recorded"] is False and earlier["timestamp"] < "2016-01-01"
    with pytest.raises(NoChampionError, match="no champion for GOOGL"):
        predict("GOOGL", store)


def test_bad_bars_are_refused_naming_the_row(demo_frame) -> None:
    bad = demo_frame.copy()
    bad.loc[40, "high"] = bad.loc[40, "low"] - 1.0
    with pytest.raises(BarsError, match=r"GOOGL bars row 40 .*high < max\(open, close\)"):
        check_bars(bad, "GOOGL")
    unordered = demo_frame.copy()
    unordered.loc[7, "timestamp"] = unordered.loc[3, "timestamp"]
    with pytest.raises(BarsError, match=r"row 7 .*timestamp not after the previous"):
        check_bars(unordered, "GOOGL")
    with pytest.raises(BarsError, match=r"they are for \['GOOGL'\], not SPY"):
        check_bars(demo_frame, "SPY")
    assert len(check_bars(demo_frame, "GOOGL")) == len(demo_frame)


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
    assert detail["policy"].startswith("policy.npz") and row["policy"] == detail["policy"]
    assert [h["outcome"] for h in detail["history"]] == ["promoted"]
    text = runner.invoke(app, ["models", "show", "--ticker", "GOOGL", "--store", store])
    assert "match their sha256" in text.output and "promoted" in text.output
    missing = runner.invoke(app, ["models", "show", "--ticker", "SPY", "--store", store])
    assert missing.exit_code == 1 and "no champion for SPY" in missing.output


ROOT = Path(__file__).resolve().parents[2]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"
HEAVY = ("tensorflow", "keras", "prefect", "great_expectations")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [str(TRADEFORGE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_predict_command_needs_no_prefect_nor_tensorflow(spy_store, tmp_path: Path) -> None:
    """The real console script: the champion's recorded source, ``--json`` last line; and the
    same command in a fresh interpreter never imports TensorFlow, Prefect or GX."""
    store, _, frame = spy_store
    done = _run(["predict", "--ticker", "SPY", "--store", store, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ticker"] == "SPY" and out["action_name"] in ("flat", "long")
    assert out["timestamp"] == frame["timestamp"].iloc[-1].strftime("%Y-%m-%d")
    assert out["q_values"] == pytest.approx(predict("SPY", store)["q_values"])
    assert out["version_id"] == ModelRegistry(open_store(store)).champion("SPY").version_id
    text = _run(["predict", "--ticker", "SPY", "--store", store], tmp_path)
    assert text.returncode == 0 and "assuming the account is flat" in text.stdout
    probe = (
        "import json, sys\n"
        "from cli.main import app\n"
        "try:\n"
        f"    app(['predict', '--ticker', 'SPY', '--store', {store!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    modules = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert modules.returncode == 0, modules.stderr[-3000:]
    assert json.loads(modules.stdout.strip().splitlines()[-1]) == []


def test_predict_command_errors_name_the_input(spy_store, tmp_path: Path) -> None:
    store, _, _ = spy_store
    missing = _run(["predict", "--ticker", "QQQ", "--store", store], tmp_path)
    assert missing.returncode == 1 and "no champion for QQQ" in missing.stderr
    bad = _run(["predict", "--ticker", "SPY", "--store", store, "--position", "short"], tmp_path)
    assert bad.returncode == 2 and "'short': use flat or long" in bad.stderr
    gone = _run(["predict", "--ticker", "SPY", "--store", store, "--source", "nope.csv"], tmp_path)
    assert gone.returncode == 1 and "'nope.csv': no such file or folder" in gone.stderr
