"""Observations: a window of feature rows (oldest first), flattened, then the agent's position.

Observations are a pure function of ``(t, position)`` over a fixed feature matrix, so replay
buffers may store the two indices instead of the window and rebuild it with
``observations_at``.
"""

from __future__ import annotations

import numpy as np

# Above this many bytes the per-bar windows are gathered on the fly instead of precomputed.
_PRECOMPUTE_LIMIT = 256 * 1024 * 1024


def observations_at(
    features: np.ndarray, window: int, t: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """float32 ``(n, window * F + 1)`` observations of bars ``t`` with positions ``position``."""
    t = np.asarray(t, dtype=np.int64).reshape(-1)
    position = np.asarray(position, dtype=np.float32).reshape(-1)
    if t.shape != position.shape:
        raise ValueError(
            f"observations_at: {t.shape[0]} bar indices but {position.shape[0]} positions"
        )
    if t.size and (t.min() < window - 1 or t.max() >= len(features)):
        raise ValueError(
            f"observations_at: bar indices must lie in [{window - 1}, {len(features)}) for "
            f"window {window}; got [{t.min()}, {t.max()}]"
        )
    rows = t[:, None] + np.arange(1 - window, 1)[None, :]
    out = np.empty((t.size, window * features.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = features[rows].reshape(t.size, -1)
    out[:, -1] = position
    return out


class ObservationBuilder:
    """Builds batches of observations fast: one row gather from precomputed flat windows."""

    def __init__(self, features: np.ndarray, window: int) -> None:
        self.features = features
        self.window = window
        self.size = window * features.shape[1] + 1
        rows = len(features) - window + 1
        if rows * (self.size - 1) * 4 <= _PRECOMPUTE_LIMIT:
            # flat[i] = features[i : i + window] flattened, i.e. the window ending at bar i+window-1.
            view = np.lib.stride_tricks.sliding_window_view(features, window, axis=0)
            self._flat = np.ascontiguousarray(view.transpose(0, 2, 1)).reshape(rows, -1)
        else:
            self._flat = None

    def __call__(self, t: np.ndarray, position: np.ndarray) -> np.ndarray:
        if self._flat is None:
            return observations_at(self.features, self.window, t, position)
        out = np.empty((t.shape[0], self.size), dtype=np.float32)
        out[:, :-1] = self._flat[t - (self.window - 1)]
        out[:, -1] = position
        return out
