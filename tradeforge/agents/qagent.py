"""The trained policy: a Keras Q-network saved as one ``.keras`` file, acting greedily in batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.agents.network import NumpyQNetwork, ordered_weights, spec_of


class QAgent:
    """Greedy policy over a Q-network built by :func:`tradeforge.agents.network.build_q_network`.

    ``act``/``q_values`` run the numpy mirror of the network (no TensorFlow call per step, which
    makes step-by-step evaluation cheap); ``model`` is the Keras model that is saved.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.spec = spec_of(model)
        self._net = NumpyQNetwork(self.spec, ordered_weights(model))

    @property
    def obs_dim(self) -> int:
        """Length of one observation vector."""
        return self.spec.obs_dim

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``(batch, num_actions)``; a single observation ``(obs_dim,)`` is also accepted."""
        obs = np.asarray(obs, np.float32)
        return self._net.q_values(obs[None] if obs.ndim == 1 else obs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``(batch,)`` int64 (0 = flat, 1 = long)."""
        return np.argmax(self.q_values(obs), axis=-1).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the model as one ``.keras`` file; returns the path."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"QAgent.save: {path} must end in .keras")
        path.parent.mkdir(parents=True, exist_ok=True)
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
