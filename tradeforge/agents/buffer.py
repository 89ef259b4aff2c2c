"""Replay memory that stores indices into the feature matrix, and the n-step adder that fills it.

An observation is fully determined by ``(t, position)``: the window of feature rows ending at bar
``t`` plus the agent's position (see ``tradeforge.envs.observations_at``). Storing those two numbers
instead of the flattened window makes a transition 25 bytes whatever the window size, so 1M
transitions take 25 MB (a window of 10 x 5 features as float32 copies would take 400 MB).
Observations are rebuilt only for the sampled batch, by the env's own builder
(``tradeforge.envs.observation``), so replayed and live observations cannot diverge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: Builds observations ``(n, obs_dim)`` from bar indices ``t`` and positions.
ObsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Transitions(NamedTuple):
    """A chunk of n-step transitions as indices; what actors send to the learner."""

    t: np.ndarray  # int32 (n,) bar index of the observation
    position: np.ndarray  # float32 (n,) position in the observation
    action: np.ndarray  # int32 (n,)
    reward: np.ndarray  # float32 (n,) discounted sum of the n rewards
    discount: np.ndarray  # float32 (n,) gamma**k, or 0 where the episode terminated
    next_t: np.ndarray  # int32 (n,) bar index of the bootstrap observation
    next_position: np.ndarray  # float32 (n,)

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.t.shape[0])

    @staticmethod
    def empty() -> Transitions:
        """A chunk with no transitions."""
        i, f = np.zeros(0, np.int32), np.zeros(0, np.float32)
        return Transitions(i, f, i, f, f, i, f)

    @staticmethod
    def concat(chunks: list[Transitions]) -> Transitions:
        """One chunk holding all of ``chunks`` in order."""
        if not chunks:
            return Transitions.empty()
        return Transitions(*(np.concatenate(cols) for cols in zip(*chunks, strict=True)))


class Batch(NamedTuple):
    """One training batch, from buffer to learner."""

    obs: np.ndarray  # float32 (B, obs_dim)
    action: np.ndarray  # int32 (B,)
    reward: np.ndarray  # float32 (B,) n-step discounted reward
    discount: np.ndarray  # float32 (B,) multiplies the bootstrap value; 0 at terminal
    next_obs: np.ndarray  # float32 (B, obs_dim)
    rewards_all: np.ndarray | None = None
    """float32 (B, 2, 2) reward of every (position, action) on the sample's bar, when the
    buffer has a reward table (action augmentation, ``tradeforge.envs.counterfactual``)."""


class ReplayBuffer:
    """Preallocated circular buffer of index transitions with uniform sampling.

    With ``reward_table`` (``(T, 2, 2)``, see ``tradeforge.envs.counterfactual``) every sampled
    batch also carries the rewards of all positions and actions on its bars.
    """

    _FIELDS = Transitions._fields

    def __init__(
        self,
        capacity: int,
        obs_fn: ObsFn,
        *,
        seed: int,
        reward_table: np.ndarray | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"ReplayBuffer capacity {capacity} < 1")
        self.capacity = capacity
        self.obs_fn = obs_fn
        self.reward_table = reward_table
        self.rng = np.random.default_rng(seed)
        empty = Transitions.empty()
        self._data = {
            name: np.zeros(capacity, dtype=getattr(empty, name).dtype) for name in self._FIELDS
        }
        self._next = 0  # slot the next transition goes to
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Memory held by the preallocated arrays."""
        return sum(a.nbytes for a in self._data.values())

    def add(self, chunk: Transitions) -> None:
        """Append a chunk, overwriting the oldest transitions once full (wrap-around)."""
        n = len(chunk)
        if n == 0:
            return
        if n > self.capacity:  # only the newest `capacity` transitions can survive
            chunk = Transitions(*(c[-self.capacity :] for c in chunk))
            n = self.capacity
        slots = (self._next + np.arange(n)) % self.capacity
        for name in self._FIELDS:
            self._data[name][slots] = getattr(chunk, name)
        self._next = int((self._next + n) % self.capacity)
        self._size = min(self._size + n, self.capacity)

    def transitions(self, slots: np.ndarray) -> Transitions:
        """The stored index transitions at ``slots``."""
        return Transitions(*(self._data[name][slots] for name in self._FIELDS))

    def sample(self, batch_size: int, num_batches: int | None = None) -> Batch:
        """A uniform batch (with replacement), observations rebuilt from their indices.

        With ``num_batches`` the arrays are stacked ``(num_batches, batch_size, ...)``, one
        batch per learner update of a fused call.
        """
        if self._size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        k = 1 if num_batches is None else num_batches
        slots = self.rng.integers(0, self._size, size=k * batch_size)
        tr = self.transitions(slots)
        batch = Batch(
            obs=self.obs_fn(tr.t, tr.position),
            action=tr.action,
            reward=tr.reward,
            discount=tr.discount,
            next_obs=self.obs_fn(tr.next_t, tr.next_position),
            rewards_all=None if self.reward_table is None else self.reward_table[tr.t],
        )
        if num_batches is None:
            return batch
        return Batch(
            *(None if x is None else x.reshape(k, batch_size, *x.shape[1:]) for x in batch)
        )

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint (only the filled part)."""
        state = {f"buffer_{k}": v[: self._size].copy() for k, v in self._data.items()}
        state["buffer_meta"] = np.array([self._next, self._size], dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`state_dict`."""
        nxt, size = (int(x) for x in state["buffer_meta"])
        if size > self.capacity:
            raise ValueError(f"checkpoint holds {size} transitions > capacity {self.capacity}")
        for k in self._FIELDS:
            self._data[k][:size] = state[f"buffer_{k}"]
        self._next, self._size = nxt, size


class NStepAdder:
    """Turns per-step experience of a vector of envs into n-step transitions (Acme's NStepAdder).

    For each env it keeps the last ``n`` steps. Once ``n`` are held, every new step emits the
    transition that starts ``n`` steps back, with the discounted reward sum and the bootstrap state
    ``n`` steps later. When an episode ends all pending steps are flushed: on termination the
    bootstrap discount is 0, on truncation (time limit) it is ``gamma**k`` so the value of the
    final observation is still used (Pardo et al. 2018).
    """

    def __init__(self, num_envs: int, n: int, gamma: float) -> None:
        self.num_envs, self.n, self.gamma = num_envs, n, gamma
        self._t = np.zeros((num_envs, n), np.int32)
        self._pos = np.zeros((num_envs, n), np.float32)
        self._act = np.zeros((num_envs, n), np.int32)
        self._rew = np.zeros((num_envs, n), np.float32)
        self._len = np.zeros(num_envs, np.int64)
        self._powers = (gamma ** np.arange(n)).astype(np.float64)

    def reset(self) -> None:
        """Drop pending steps (e.g. after the envs were reset)."""
        self._len[:] = 0

    def add(
        self,
        t: np.ndarray,
        position: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_t: np.ndarray,
        next_position: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        """Record one vector step; return the transitions it completes."""
        full = self._len == self.n
        if full.any():  # their oldest step was emitted last time: drop it
            for arr in (self._t, self._pos, self._act, self._rew):
                arr[full] = np.roll(arr[full], -1, axis=1)
            self._len[full] -= 1
        rows = np.arange(self.num_envs)
        col = self._len
        self._t[rows, col] = t
        self._pos[rows, col] = position
        self._act[rows, col] = action
        self._rew[rows, col] = reward
        self._len += 1

        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        ready = (self._len == self.n) & ~done
        chunks = []
        if ready.any():
            idx = np.flatnonzero(ready)
            ret = self._rew[idx] @ self._powers
            chunks.append(
                Transitions(
                    self._t[idx, 0],
                    self._pos[idx, 0],
                    self._act[idx, 0],
                    ret.astype(np.float32),
                    np.full(idx.size, self.gamma**self.n, np.float32),
                    np.asarray(next_t, np.int32)[idx],
                    np.asarray(next_position, np.float32)[idx],
                )
            )
        for e in np.flatnonzero(done):
            chunks.append(self._flush(e, next_t[e], next_position[e], bool(terminated[e])))
        return Transitions.concat(chunks) if len(chunks) != 1 else chunks[0]

    def _flush(self, e: int, next_t: int, next_pos: float, terminated: bool) -> Transitions:
        k = int(self._len[e])
        rew = self._rew[e, :k].astype(np.float64)
        # steps remaining from each pending start j: k - j
        remaining = k - np.arange(k)
        ret = np.array([rew[j:] @ self._powers[: k - j] for j in range(k)], np.float64)
        disc = np.zeros(k) if terminated else self.gamma**remaining
        self._len[e] = 0
        return Transitions(
            self._t[e, :k].copy(),
            self._pos[e, :k].copy(),
            self._act[e, :k].copy(),
            ret.astype(np.float32),
            disc.astype(np.float32),
            np.full(k, next_t, np.int32),
            np.full(k, next_pos, np.float32),
        )
