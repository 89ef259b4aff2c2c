"""The TensorFlow-free policy: same Q-values as Keras, nothing executable, checksums enforced."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from storage import IntegrityError, open_store
from storage.registry import ModelRegistry
from tradeforge.artifact import (
    POLICY_SPEC,
    POLICY_WEIGHTS,
    ArtifactError,
    card_source,
    load_champion_policy,
    numpy_policy,
    policy_files,
    save_agent,
)

ROOT = Path(__file__).resolve().parents[2]


def _agent(hidden: tuple[int, ...], dueling: bool, obs_dim: int = 23, seed: int = 7):
    from tradeforge.agents import QAgent
    from tradeforge.agents.network import NetworkSpec, build_q_network

    return QAgent(build_q_network(NetworkSpec(obs_dim, 2, hidden, dueling), seed=seed))


@pytest.mark.parametrize(
    ("hidden", "dueling"), [((16,), False), ((32, 16), True), ((8, 8, 8), False), ((), True)]
)
def test_numpy_policy_gives_the_keras_q_values(hidden, dueling) -> None:
    agent = _agent(hidden, dueling)
    files = policy_files(agent)
    net = numpy_policy(files[POLICY_WEIGHTS], files[POLICY_SPEC])
    obs = np.random.default_rng(0).normal(size=(64, 23)).astype(np.float32)
    keras_q = np.asarray(agent.model(obs, training=False))
    np.testing.assert_allclose(net.q_values(obs), keras_q, atol=1e-5, rtol=1e-5)
    assert (net.greedy(obs) == np.argmax(keras_q, axis=1)).all()
    (member,) = json.loads(files[POLICY_SPEC])["members"]
    assert member["dueling"] is dueling and member["hidden"] == list(hidden)


def test_a_seed_ensemble_averages_its_members_q_values() -> None:
    """A Keras seed ensemble (members ``member_<i>``, output layer ``ensemble`` averaging them)
    is published as one policy whose numpy Q-values are the Keras model's."""
    import keras

    members = [_agent((16,), True, seed=1), _agent((8, 8), False, seed=2)]
    inputs = keras.Input(shape=(23,), name="obs", dtype="float32")
    outputs = [
        keras.Model(a.model.inputs, a.model.outputs[0], name=f"member_{i}")(inputs)
        for i, a in enumerate(members)
    ]
    ensemble = keras.Model(inputs, keras.layers.Average(name="ensemble")(outputs))
    files = policy_files(ensemble)
    net = numpy_policy(files[POLICY_WEIGHTS], files[POLICY_SPEC])
    assert len(net.members) == 2
    obs = np.random.default_rng(3).normal(size=(32, 23)).astype(np.float32)
    np.testing.assert_allclose(
        net.q_values(obs), np.asarray(ensemble(obs, training=False)), atol=1e-5, rtol=1e-5
    )
    assert json.loads(files[POLICY_SPEC])["members"][1]["arrays"][0] == "member_1/hidden_0/kernel"


def test_same_weights_give_the_same_bytes(tmp_path: Path) -> None:
    agent = _agent((16,), True)
    assert policy_files(agent) == policy_files(agent)
    paths = save_agent(agent, tmp_path / "v")
    assert sorted(paths) == ["model.keras", POLICY_SPEC, POLICY_WEIGHTS]
    assert paths[POLICY_WEIGHTS].read_bytes() == policy_files(agent)[POLICY_WEIGHTS]


def test_a_pickled_array_is_refused_not_run() -> None:
    files = policy_files(_agent((4,), False))
    buf = io.BytesIO()
    arrays = {"hidden_0/kernel": np.array([{"evil": 1}], dtype=object)}
    np.savez(buf, **arrays)  # an object array is stored as a pickle
    with pytest.raises(ArtifactError, match=r"policy.npz: not a readable .npz .*pickle"):
        numpy_policy(buf.getvalue(), files[POLICY_SPEC])


def test_malformed_specs_and_weights_are_refused() -> None:
    files = policy_files(_agent((4,), False))
    spec = json.loads(files[POLICY_SPEC])
    spec["members"][0]["layers"][0]["activation"] = "sigmoid"
    with pytest.raises(ArtifactError, match=r"are not the ones network\.py builds"):
        numpy_policy(files[POLICY_WEIGHTS], json.dumps(spec).encode())
    newer = {**json.loads(files[POLICY_SPEC]), "format_version": 99}
    with pytest.raises(ArtifactError, match="format_version 99"):
        numpy_policy(files[POLICY_WEIGHTS], json.dumps(newer).encode())
    with pytest.raises(ArtifactError, match="not valid JSON"):
        numpy_policy(files[POLICY_WEIGHTS], b"{")
    other = policy_files(_agent((5,), False))  # weights of another width
    with pytest.raises(ArtifactError, match=r"layer hidden_0 has kernel \(23, 5\)"):
        numpy_policy(other[POLICY_WEIGHTS], files[POLICY_SPEC])
    with zipfile.ZipFile(io.BytesIO(files[POLICY_WEIGHTS])) as zf:
        names = zf.namelist()
    assert names == [f"{n}.npy" for n in spec["members"][0]["arrays"]]


def test_the_registry_records_and_checks_the_policy_files(tmp_path: Path) -> None:
    agent = _agent((16,), True)
    paths = save_agent(agent, tmp_path / "model")
    registry = ModelRegistry(open_store(str(tmp_path / "store")))
    card = {"features": ["logret_1"], "window": 1, "scaler": {}, "data": {"source": "demo (x)"}}
    version = registry.publish("SPY", "dqn", paths, card)
    stored = registry.card("SPY", "dqn", version.version_id)
    assert {POLICY_WEIGHTS, POLICY_SPEC, "model.keras"} <= set(stored["files"])
    assert registry.promote("SPY", version, {"promote": True}, None)
    policy = load_champion_policy(registry, "SPY")
    assert policy is not None and policy.loaded_from == POLICY_WEIGHTS
    assert policy.etag == registry.champion_etag("SPY") and card_source(policy.card) == "demo"
    obs = np.random.default_rng(1).normal(size=(4, 23)).astype(np.float32)
    np.testing.assert_allclose(policy.q_values(obs), agent.q_values(obs), atol=1e-6)
    npz = Path(version.uri) / POLICY_WEIGHTS
    npz.write_bytes(npz.read_bytes().replace(b"NUMPY", b"NUMPZ", 1))
    with pytest.raises(IntegrityError, match=r"policy\.npz: checksum mismatch"):
        load_champion_policy(registry, "SPY")


def test_loading_the_numpy_policy_never_imports_tensorflow(tmp_path: Path) -> None:
    paths = save_agent(_agent((8,), True), tmp_path / "model")
    registry = ModelRegistry(open_store(str(tmp_path / "store")))
    version = registry.publish("SPY", "dqn", paths, {"features": [], "window": 1, "scaler": {}})
    assert registry.promote("SPY", version, {"promote": True}, None)
    probe = (
        "import sys\n"
        "from storage import open_store\n"
        "from storage.registry import ModelRegistry\n"
        "from tradeforge.artifact import load_champion_policy\n"
        f"p = load_champion_policy(ModelRegistry(open_store({str(tmp_path / 'store')!r})), 'SPY')\n"
        "assert p.loaded_from == 'policy.npz'\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_card_that_differs_from_the_pointer_is_refused(tmp_path: Path) -> None:
    paths = save_agent(_agent((4,), False), tmp_path / "model")
    registry = ModelRegistry(open_store(str(tmp_path / "store")))
    version = registry.publish("SPY", "dqn", paths, {"features": [], "window": 1, "scaler": {}})
    assert registry.promote("SPY", version, {"promote": True}, None)
    raw, etag = registry.store.get_with_etag("models/SPY/champion.json")
    pointer = json.loads(raw)
    pointer["card_sha256"] = "0" * 64
    registry.store.put_bytes(
        "models/SPY/champion.json", json.dumps(pointer).encode(), if_match=etag
    )
    with pytest.raises(IntegrityError, match="checksum mismatch with the champion pointer"):
        load_champion_policy(registry, "SPY")
    with pytest.raises(ArtifactError, match="published before the TensorFlow-free policy"):
        old = registry.publish("SPY", "dqn", {"model.keras": paths["model.keras"]}, {})
        from tradeforge.artifact import load_policy

        load_policy(registry, "SPY", "dqn", old.version_id, allow_keras=False)


def test_keras_safe_mode_refuses_a_model_with_a_lambda_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``.keras`` file can carry Python bytecode in a Lambda layer; loading a champion
    (a version from before the numpy policy) must refuse it rather than run it."""
    import keras

    from tradeforge.agents.qagent import QAgent
    from tradeforge.artifact import load_policy

    marker = tmp_path / "code-ran"
    monkeypatch.setenv("LAMBDA_MARKER", str(marker))  # no closure: Keras stores only the code
    inputs = keras.Input(shape=(23,), name="obs")
    # Runs whenever the layer is called, e.g. while a loader rebuilds the model's graph.
    hidden = keras.layers.Lambda(
        lambda x: (open(__import__("os").environ["LAMBDA_MARKER"], "w").close(), x)[1]
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="q")(hidden))
    path = tmp_path / "unsafe.keras"
    model.save(path)
    marker.unlink()  # building the model above ran it once

    with pytest.raises(ValueError, match=r"(?s)not a loadable Q-network.*safe_mode"):
        QAgent.load(path)
    assert not marker.exists()
    registry = ModelRegistry(open_store(str(tmp_path / "store")))
    version = registry.publish("SPY", "dqn", {"model.keras": path}, {"window": 1})
    with pytest.raises(ValueError, match="safe_mode"):
        load_policy(registry, "SPY", "dqn", version.version_id)
    assert not marker.exists()
