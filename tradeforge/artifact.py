"""The model artifact: what a published version holds, how it is written, checked and loaded.

A version holds ``model.keras`` (the Keras model, for training-side tools) and, since issue 13,
a TensorFlow-free policy: ``policy.npz`` (the Q-network's weights as plain float32 arrays, read
with ``allow_pickle=False``) plus ``policy.json`` (the architecture: layer names, widths,
activation, head; for a seed ensemble, one such entry per member and their Q-values averaged).
Neither can execute code when loaded. The registry's model card records the
sha256 of every file; loading checks them (and the card against the champion pointer) before
anything is parsed.

Acting prefers the numpy policy; versions published before it existed load through the Keras
path (safe mode, after the same checksum checks), which imports TensorFlow.

Publishing: ``policy_files(agent)`` gives the extra files to add to the ``files`` the registry
publishes (see ``tradeforge.pipeline.run_promotion``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from storage.registry import ModelRegistry
    from tradeforge.agents.network import NetworkSpec, NumpyQNetwork
    from tradeforge.agents.qagent import QAgent

KERAS_FILE = "model.keras"
POLICY_WEIGHTS = "policy.npz"
POLICY_SPEC = "policy.json"
POLICY_FORMAT = "tradeforge.q_network"
POLICY_FORMAT_VERSION = 1
#: Fixed zip timestamps: the same weights always give the same bytes (and sha256).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArtifactError(ValueError):
    """A model artifact is malformed (wrong spec, shapes or dtypes); the message names the file."""


# -- the model card ---------------------------------------------------------------------------


def card_features(card: dict[str, Any]) -> tuple[str, ...]:
    """The feature names the model was trained on, in observation order."""
    return tuple(_require(card, "features"))


def card_window(card: dict[str, Any]) -> int:
    """The look-back window (bars per observation)."""
    return int(_require(card, "window"))


def card_scaler(card: dict[str, Any]) -> dict[str, Any]:
    """The train-only scaler statistics the features are scaled with."""
    return dict(_require(card, "scaler"))


def card_source(card: dict[str, Any]) -> str | None:
    """The source the model was trained on, as ``--source`` takes it; None if not recorded.

    ``data.source`` records where the bars were read (``demo (gym-anytrading ...)``,
    ``yahoo SPY 1d (...)``, a file path, an ``s3://`` object); the run's configured source
    (``config.data.source``) is the fallback.
    """
    recorded = card.get("data", {}).get("source")
    if isinstance(recorded, str) and recorded:
        if recorded == "demo" or recorded.startswith("demo "):
            return "demo"
        if recorded == "yahoo" or recorded.startswith("yahoo "):
            return "yahoo"
        return recorded
    configured = card.get("config", {}).get("data", {}).get("source")
    return configured if isinstance(configured, str) and configured else None


def card_interval(card: dict[str, Any]) -> str:
    """The bar interval the model was trained on (``1d`` when not recorded)."""
    return str(card.get("config", {}).get("data", {}).get("interval") or "1d")


def card_start(card: dict[str, Any]) -> str | None:
    """The first date the model's training read (``config.data.start``); None = all history.

    Acting reads from the same date: EWM features (RSI, MACD) depend on where the history
    starts, so the same start gives the same features the model was evaluated on."""
    start = card.get("config", {}).get("data", {}).get("start")
    return str(start) if start else None


def has_numpy_policy(card: dict[str, Any]) -> bool:
    """True when the version carries the TensorFlow-free policy files."""
    files = card.get("files", {})
    return POLICY_WEIGHTS in files and POLICY_SPEC in files


def _require(card: dict[str, Any], key: str) -> Any:
    if key not in card:
        where = card.get("version_id", "model card")
        raise ArtifactError(f"{where}: the model card has no {key!r}")
    return card[key]


# -- writing ----------------------------------------------------------------------------------


def member_spec(spec: NetworkSpec, prefix: str = "") -> dict[str, Any]:
    """The JSON architecture of one Q-network: enough to run it with numpy and nothing else.

    Dropout layers (training only) are not part of it: at inference they are the identity.
    """
    layers = [
        {"name": f"hidden_{i}", "type": "dense", "units": int(w), "activation": "relu"}
        for i, w in enumerate(spec.hidden)
    ]
    head = (
        [("value", 1), ("advantage", spec.num_actions)]
        if spec.dueling
        else [("q", spec.num_actions)]
    )
    layers += [
        {"name": name, "type": "dense", "units": int(units), "activation": "linear"}
        for name, units in head
    ]
    return {
        "hidden": [int(w) for w in spec.hidden],
        "dueling": bool(spec.dueling),
        # Q = V + A - mean(A) (Wang et al. 2016, eq. 9) when dueling; else the "q" layer's output.
        "head": "dueling_mean" if spec.dueling else "linear",
        "layers": layers,
        "arrays": [f"{prefix}{layer['name']}/{p}" for layer in layers for p in ("kernel", "bias")],
    }


def policy_spec(specs: list[NetworkSpec]) -> dict[str, Any]:
    """The JSON of a policy: one Q-network, or a seed ensemble whose Q-values are averaged."""
    if not specs:
        raise ArtifactError("policy: no Q-network given")
    first = specs[0]
    for other in specs[1:]:
        if (other.obs_dim, other.num_actions) != (first.obs_dim, first.num_actions):
            raise ArtifactError(
                f"policy: ensemble members disagree on (obs_dim, num_actions): "
                f"{(first.obs_dim, first.num_actions)} vs {(other.obs_dim, other.num_actions)}"
            )
    single = len(specs) == 1
    return {
        "format": POLICY_FORMAT,
        "format_version": POLICY_FORMAT_VERSION,
        "obs_dim": int(first.obs_dim),
        "num_actions": int(first.num_actions),
        "dtype": "float32",
        "combine": "mean",
        "members": [member_spec(s, "" if single else f"member_{i}/") for i, s in enumerate(specs)],
    }


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (zip of ``.npy``) with fixed timestamps, so equal weights give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH), entry.getvalue())
    return buf.getvalue()


def policy_files_for(members: list[tuple[NetworkSpec, list[np.ndarray]]]) -> dict[str, bytes]:
    """``policy.npz`` + ``policy.json`` for Q-networks (spec and ordered weights of each)."""
    doc = policy_spec([spec for spec, _ in members])
    arrays: dict[str, np.ndarray] = {}
    for member, (_, weights) in zip(doc["members"], members, strict=True):
        if len(weights) != len(member["arrays"]):
            raise ArtifactError(
                f"policy: {len(weights)} weight arrays for a network of {len(member['arrays'])}"
            )
        for name, w in zip(member["arrays"], weights, strict=True):
            arrays[name] = np.asarray(w, np.float32)
    # Check the shapes now, so a mismatch fails at publish time rather than when serving.
    _check_shapes(doc, arrays, "policy")
    spec_bytes = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    return {POLICY_WEIGHTS: _npz_bytes(arrays), POLICY_SPEC: spec_bytes}


def keras_members(model: Any) -> list[Any]:
    """The Q-networks inside a Keras model: itself, or the ``member_<i>`` sub-models of a seed
    ensemble (whose output layer is named ``ensemble`` and averages theirs)."""
    names = [layer.name for layer in model.layers]
    if "ensemble" in names:
        return [model.get_layer(n) for n in names if n.startswith("member_")]
    return [model]


def policy_files(agent: QAgent | Any) -> dict[str, bytes]:
    """The TensorFlow-free policy files of a trained agent (or its Keras model), to publish
    beside ``model.keras``. The weights are read from the Keras model itself, so they are
    exactly what is saved."""
    from tradeforge.agents.network import ordered_weights, spec_of

    model = getattr(agent, "model", agent)
    return policy_files_for([(spec_of(m), ordered_weights(m)) for m in keras_members(model)])


def save_agent(agent: QAgent, directory: str | Path) -> dict[str, Path]:
    """Write ``model.keras``, ``policy.npz`` and ``policy.json`` into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {KERAS_FILE: agent.save(folder / KERAS_FILE)}
    for name, data in policy_files(agent).items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# -- reading ----------------------------------------------------------------------------------


class NumpyPolicy:
    """Greedy acting with numpy only: one Q-network, or the mean of a seed ensemble's."""

    def __init__(self, members: list[NumpyQNetwork]) -> None:
        if not members:
            raise ArtifactError("NumpyPolicy: no Q-network")
        self.members = members
        self.spec = members[0].spec

    @property
    def obs_dim(self) -> int:
        """Length of one observation vector."""
        return self.spec.obs_dim

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``(batch, num_actions)`` of observations ``(batch, obs_dim)``."""
        if len(self.members) == 1:
            return self.members[0].q_values(obs)
        return np.mean([m.q_values(obs) for m in self.members], axis=0)

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``(batch,)`` as int64 (ties go to the lowest action, i.e. flat)."""
        return np.argmax(self.q_values(obs), axis=-1).astype(np.int64)


def _check_shapes(doc: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    for member in doc["members"]:
        width = int(doc["obs_dim"])
        for layer, kernel_name in zip(member["layers"], member["arrays"][::2], strict=True):
            units = int(layer["units"])
            # The dueling value and advantage layers both read the last hidden layer's output.
            kernel, bias = arrays[kernel_name], arrays[kernel_name.replace("/kernel", "/bias")]
            if kernel.shape != (width, units) or bias.shape != (units,):
                raise ArtifactError(
                    f"{where}: layer {kernel_name.rsplit('/', 1)[0]} has kernel {kernel.shape} "
                    f"and bias {bias.shape}; the spec needs ({width}, {units}) and ({units},)"
                )
            if layer["activation"] == "relu":
                width = units


def _specs_from_json(data: bytes, where: str) -> tuple[list[NetworkSpec], dict[str, Any]]:
    from tradeforge.agents.network import NetworkSpec

    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != POLICY_FORMAT:
        raise ArtifactError(f"{where}: not a {POLICY_FORMAT} spec")
    if doc.get("format_version") != POLICY_FORMAT_VERSION:
        raise ArtifactError(
            f"{where}: format_version {doc.get('format_version')!r}; this code reads "
            f"{POLICY_FORMAT_VERSION} (upgrade tradeforge)"
        )
    try:
        specs = [
            NetworkSpec(
                obs_dim=int(doc["obs_dim"]),
                num_actions=int(doc["num_actions"]),
                hidden=tuple(int(w) for w in member["hidden"]),
                dueling=bool(member["dueling"]),
            )
            for member in doc["members"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: malformed spec ({exc})") from None
    expected = policy_spec(specs)
    if doc != expected:
        # Only the architectures network.py builds are understood; anything else is refused
        # rather than run with a guessed meaning.
        layers = [[layer.get("name") for layer in m.get("layers", [])] for m in doc["members"]]
        raise ArtifactError(
            f"{where}: layers {layers} (combine {doc.get('combine')!r}) are not the ones "
            "network.py builds for this spec"
        )
    return specs, expected


def numpy_policy(weights: bytes, spec: bytes, where: str = "policy") -> NumpyPolicy:
    """A numpy policy from the bytes of ``policy.npz`` and ``policy.json``.

    The ``.npz`` is read with ``allow_pickle=False``: object arrays are refused, so loading
    can never run code. Arrays must be finite float32 of the shapes the spec implies.
    """
    from tradeforge.agents.network import NumpyQNetwork

    specs, doc = _specs_from_json(spec, f"{where}/{POLICY_SPEC}")
    try:
        with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"{where}/{POLICY_WEIGHTS}: not a readable .npz ({exc})") from None
    names = [n for member in doc["members"] for n in member["arrays"]]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ArtifactError(f"{where}/{POLICY_WEIGHTS}: arrays {missing} are missing")
    for name in names:
        if arrays[name].dtype != np.float32:
            raise ArtifactError(
                f"{where}/{POLICY_WEIGHTS}: {name} is {arrays[name].dtype}, expected float32"
            )
        if not np.isfinite(arrays[name]).all():
            raise ArtifactError(f"{where}/{POLICY_WEIGHTS}: {name} holds NaN or infinity")
    _check_shapes(doc, arrays, f"{where}/{POLICY_WEIGHTS}")
    return NumpyPolicy(
        [
            NumpyQNetwork(spec, [arrays[n] for n in member["arrays"]])
            for spec, member in zip(specs, doc["members"], strict=True)
        ]
    )


def numpy_policy_of(model: Any) -> NumpyPolicy:
    """The numpy policy of a Keras Q-network or seed ensemble (the Keras path's last step)."""
    from tradeforge.agents.network import NumpyQNetwork, ordered_weights, spec_of

    return NumpyPolicy(
        [NumpyQNetwork(spec_of(m), ordered_weights(m)) for m in keras_members(model)]
    )


def keras_agent_from_bytes(data: bytes) -> QAgent:
    """A ``QAgent`` from the bytes of a ``.keras`` file (Keras safe mode; imports TensorFlow)."""
    from tradeforge.agents.qagent import QAgent

    return QAgent.from_bytes(data)


@dataclass(frozen=True)
class LoadedPolicy:
    """A verified version, ready to act: its card, its numpy Q-network and where it came from."""

    ticker: str
    agent: str
    version_id: str
    uri: str
    card: dict[str, Any]
    card_sha256: str
    network: NumpyPolicy
    loaded_from: str
    """``policy.npz`` (no TensorFlow) or ``model.keras`` (a version older than the numpy policy)."""
    etag: str | None = None
    """The champion pointer's ETag it was loaded under (None when loaded by version id)."""
    promoted_at: str = ""

    @property
    def obs_dim(self) -> int:
        """Length of one observation vector."""
        return self.network.spec.obs_dim

    @property
    def window(self) -> int:
        """Bars per observation."""
        return card_window(self.card)

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names, in observation order."""
        return card_features(self.card)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``(batch, num_actions)`` of observations ``(batch, obs_dim)``."""
        return self.network.q_values(obs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``(batch,)`` (ties go to flat)."""
        return self.network.greedy(obs)

    def describe(self) -> dict[str, Any]:
        """Plain facts for logs, ``/models`` and ``--json``."""
        return {
            "ticker": self.ticker,
            "agent": self.agent,
            "version_id": self.version_id,
            "uri": self.uri,
            "card_sha256": self.card_sha256,
            "loaded_from": self.loaded_from,
            "promoted_at": self.promoted_at,
            "source": card_source(self.card),
            "interval": card_interval(self.card),
            "window": self.window,
            "features": list(self.features),
            "obs_dim": self.obs_dim,
        }


def load_policy(
    registry: ModelRegistry,
    ticker: str,
    agent: str,
    version_id: str,
    *,
    expected_card_sha256: str | None = None,
    allow_keras: bool = True,
) -> LoadedPolicy:
    """Load a version's policy after checking its card and files against their sha256.

    Reads only the card and the policy files (not the plots). A version without the numpy
    policy is loaded from ``model.keras`` in Keras safe mode when ``allow_keras`` (this imports
    TensorFlow); otherwise ``ArtifactError`` says so.
    """
    head = registry.read_verified(
        ticker, agent, version_id, (), expected_card_sha256=expected_card_sha256
    )
    card, where = head.card, head.ref.uri
    if has_numpy_policy(card):
        got = registry.read_verified(
            ticker,
            agent,
            version_id,
            (POLICY_WEIGHTS, POLICY_SPEC),
            expected_card_sha256=head.card_sha256,
        )
        network = numpy_policy(got.files[POLICY_WEIGHTS], got.files[POLICY_SPEC], where)
        loaded_from = POLICY_WEIGHTS
    elif allow_keras:
        got = registry.read_verified(
            ticker, agent, version_id, (KERAS_FILE,), expected_card_sha256=head.card_sha256
        )
        network = numpy_policy_of(keras_agent_from_bytes(got.files[KERAS_FILE]).model)
        loaded_from = KERAS_FILE
    else:
        raise ArtifactError(
            f"{where}: published before the TensorFlow-free policy ({POLICY_WEIGHTS}); "
            "load it through the Keras path"
        )
    return LoadedPolicy(
        ticker=ticker,
        agent=agent,
        version_id=version_id,
        uri=head.ref.uri,
        card=card,
        card_sha256=got.card_sha256,
        network=network,
        loaded_from=loaded_from,
    )


def load_champion_policy(
    registry: ModelRegistry, ticker: str, *, allow_keras: bool = True
) -> LoadedPolicy | None:
    """The ticker's champion, verified (card against the pointer, files against the card);
    None when there is no champion."""
    champ = registry.champion(ticker)
    if champ is None:
        return None
    policy = load_policy(
        registry,
        ticker,
        champ.agent,
        champ.version_id,
        expected_card_sha256=champ.card_sha256,
        allow_keras=allow_keras,
    )
    return replace(policy, etag=champ.etag, promoted_at=champ.promoted_at)
