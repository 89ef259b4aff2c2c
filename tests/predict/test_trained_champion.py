"""A champion made by a real (tiny) training run acts without TensorFlow, from its own source."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.predict.champions import SPY
from tests.tiny import tiny_options

ROOT = Path(__file__).resolve().parents[2]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # ephemeral mode, as on a fresh machine
    return subprocess.run(
        [str(TRADEFORGE), *args], capture_output=True, text=True, env=env, timeout=900
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_train_then_predict_without_naming_the_source(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    options = tiny_options(
        data={"start": "2013-01-01", "end": "2016-01-01"},
        split={"val_start": "2015-01-01", "test_start": "2015-07-01"},
    )
    trained = _run(
        ["train", "--source", str(SPY), "--agents", "dqn", "--store", store, "--json", *options],
        tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    (summary,) = json.loads(trained.stdout.strip().splitlines()[-1])["tickers"]
    # A 300-step agent earns no promotion; make its published version champion by hand.
    assert summary["promoted"] is False
    from storage import open_store
    from storage.registry import ModelRegistry

    registry = ModelRegistry(open_store(store))
    (ref,) = registry.versions("SPY")
    assert registry.promote("SPY", ref, decision={"promote": True}, expected_etag=None)
    version = Path(summary["version_uri"])
    assert (version / "policy.npz").is_file() and (version / "policy.json").is_file()

    done = _run(["predict", "--ticker", "SPY", "--store", store, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded_from"] == "policy.npz" and out["version_id"] == summary["version"]
    assert out["source_recorded"] is True and Path(out["source"]) == SPY
    assert out["timestamp"] == "2017-03-29"  # the file's last bar, past the training's end
    shown = _run(["models", "show", "--ticker", "SPY", "--store", store, "--json"], tmp_path)
    card = json.loads(shown.stdout.strip().splitlines()[-1])
    assert card["policy"].startswith("policy.npz")
    assert {"policy.npz", "policy.json", "model.keras"} <= set(card["card"]["files"])
