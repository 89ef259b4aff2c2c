"""The trained policy: a Keras Q-network saved as one ``.keras`` file, acting greedily in batches."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.agents.network import NumpyQNetwork, ordered_weights, spec_of

ENSEMBLE_LAYER = "ensemble"


#: Held while Keras / TensorFlow builds, trains or loads a model in this process. Keras 3's
#: global state (name uniquification, tf.function tracing, the default graph of the loader) is
#: not thread-safe, and Prefect's thread runner and Dask's in-process workers run several
#: trainings and evaluations as threads of one process: issue 14 saw such a run die with
#: SIGSEGV. Trainings in one process therefore take turns (TensorFlow's own kernels already
#: use every core); ParallelDQN's actors are separate processes and are not held back.
KERAS_LOCK = threading.RLock()


class QAgent:
    """Greedy policy over a Q-network built by :func:`tradeforge.agents.network.build_q_network`,
    or over a seed ensemble of them (:meth:`ensemble`: the mean of the members' Q-values).

    ``act``/``q_values`` run the numpy mirror of the network (no TensorFlow call per step, which
    makes step-by-step evaluation cheap); ``model`` is the Keras model that is saved.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        names = [layer.name for layer in model.layers]
        if ENSEMBLE_LAYER in names:
            members = [model.get_layer(n) for n in names if n.startswith("member_")]
        else:
            members = [model]
        self.spec = spec_of(members[0])
        self._nets = [NumpyQNetwork(spec_of(m), ordered_weights(m)) for m in members]

    @property
    def num_members(self) -> int:
        """Q-networks averaged by this agent (1 for a single network)."""
        return len(self._nets)

    @classmethod
    def ensemble(cls, agents: list[QAgent]) -> QAgent:
        """A seed ensemble: Q-values are the mean of the members' (one ``.keras`` file).

        Averaging Q-values of independently seeded networks cancels part of each one's fit to
        the noise of the training path (Osband et al. 2016 use such ensembles; Anschel et al.
        2017 average Q-estimates to cut their variance).
        """
        import keras

        if len(agents) < 2:
            raise ValueError(f"QAgent.ensemble: need at least 2 members, got {len(agents)}")
        dims = {a.obs_dim for a in agents}
        if len(dims) != 1:
            raise ValueError(f"QAgent.ensemble: members see different observations {dims}")
        inputs = keras.Input(shape=(agents[0].obs_dim,), name="obs", dtype="float32")
        outputs = []
        for i, agent in enumerate(agents):
            if agent.num_members != 1:
                raise ValueError("QAgent.ensemble: members must be single networks")
            member = keras.Model(agent.model.inputs, agent.model.outputs[0], name=f"member_{i}")
            outputs.append(member(inputs))
        q = keras.layers.Average(name=ENSEMBLE_LAYER)(outputs)
        return cls(keras.Model(inputs, q, name="q_ensemble"))

    @property
    def obs_dim(self) -> int:
        """Length of one observation vector."""
        return self.spec.obs_dim

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``(batch, num_actions)``; a single observation ``(obs_dim,)`` is also accepted."""
        obs = np.asarray(obs, np.float32)
        obs = obs[None] if obs.ndim == 1 else obs
        if len(self._nets) == 1:
            return self._nets[0].q_values(obs)
        return np.mean([net.q_values(obs) for net in self._nets], axis=0)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``(batch,)`` int64 (0 = flat, 1 = long)."""
        return np.argmax(self.q_values(obs), axis=-1).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the model as one ``.keras`` file; returns the path."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"QAgent.save: {path} must end in .keras")
        path.parent.mkdir(parents=True, exist_ok=True)
        with KERAS_LOCK:
            self.model.save(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QAgent:
        """Load a ``.keras`` file written by :meth:`save` (Keras safe mode: no arbitrary code)."""
        import keras

        from tradeforge.agents.network import _dueling_layer_class

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"QAgent.load: no model file at {path}")
        _dueling_layer_class()  # register the custom layer before deserialising
        try:
            with KERAS_LOCK:
                model = keras.models.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:
            raise ValueError(f"QAgent.load: {path} is not a loadable Q-network: {exc}") from exc
        return cls(model)

    @classmethod
    def from_bytes(cls, data: bytes) -> QAgent:
        """Load the bytes of a ``.keras`` file (Keras safe mode; never unpickled)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(data)
            return cls.load(path)


@dataclass
class TrainResult:
    """A trained agent and numbers about its training (steps, seconds, steps_per_s, ...)."""

    agent: QAgent
    stats: dict[str, Any] = field(default_factory=dict)
