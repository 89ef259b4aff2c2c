"""A vectorised numpy trading env (gymnasium vector API, same-step autoreset), and a single env.

Episodes: with ``random_start`` each episode starts on a random bar of the market's steppable
range and lasts ``episode_length`` steps (or until the range ends); without it every episode
covers the whole range from ``market.start``. An episode never *terminates* (long/flat with no
leverage has no ruin state); it is *truncated* at its last bar, so learners should bootstrap
from ``info["final_obs"]``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.observation import ObservationBuilder
from tradeforge.envs.simulator import Accounts


def _episode_bounds(
    market: MarketData, length: int, count: int, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """First observed bar and last bar of ``count`` new episodes (random starts if ``rng``)."""
    first, last = market.start, market.end - 1
    if rng is None or last - first <= length:
        # Fixed starts, or a range no longer than one episode: run the whole range.
        return np.full(count, first, dtype=np.int64), np.full(count, last, dtype=np.int64)
    starts = rng.integers(first, last - length + 1, size=count, dtype=np.int64)
    return starts, starts + length


def _check_actions(actions: Any, num_envs: int) -> np.ndarray:
    a = np.asarray(actions)
    if a.shape != (num_envs,):
        a = a.reshape(-1)
        if a.shape != (num_envs,):
            raise ValueError(f"actions: expected {num_envs} actions, got shape {np.shape(actions)}")
    if ((a != 0) & (a != 1)).any():
        raise ValueError(f"actions must be 0 (flat) or 1 (long), got {np.unique(a).tolist()}")
    return a


class VectorTradingEnv(VectorEnv):
    """``num_envs`` long/flat trading episodes over one market, stepped together in numpy."""

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_modes": [],
    }

    def __init__(
        self,
        market: MarketData,
        config: EnvConfig,
        num_envs: int,
        *,
        random_start: bool = True,
        seed: int | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs: {num_envs} < 1")
        market.check_window(config.window)
        self.market = market
        self.config = config
        self.num_envs = num_envs
        self.window = config.window
        self.feature_matrix = market.features
        self.random_start = random_start
        self._observe = ObservationBuilder(market.features, config.window)
        self._accounts = Accounts(market, config, num_envs)
        self._rng = np.random.default_rng(seed)
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (self._observe.size,), dtype=np.float32
        )
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._all = np.ones(num_envs, dtype=bool)
        self._started = False

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode in every env; ``seed`` re-seeds the episode-start generator."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._begin(self._all)
        self._started = True
        return self._observe(self._accounts.t, self._accounts.position), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One bar for every env; finished envs restart at once (same-step autoreset)."""
        if not self._started:
            raise RuntimeError("VectorTradingEnv.step called before reset")
        acc = self._accounts
        rewards, done = acc.step(_check_actions(actions, self.num_envs))
        obs = self._observe(acc.t, acc.position)
        info: dict[str, Any] = {}
        if done.any():
            info = self._finish(done, obs)
            obs[done] = self._observe(acc.t[done], acc.position[done])
        terminated = np.zeros(self.num_envs, dtype=bool)
        return obs, rewards, terminated, done, info

    # -- index-based replay ----------------------------------------------------------------------

    def state_index(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, position)`` of the current observations (rebuild with ``observations_at``)."""
        return self._accounts.t.copy(), self._accounts.position.copy()

    @property
    def net_worth(self) -> np.ndarray:
        """Net worth of each env at the current bar's close."""
        return self._accounts.net_worth.copy()

    # -- internals -------------------------------------------------------------------------------

    def _begin(self, mask: np.ndarray) -> None:
        rng = self._rng if self.random_start else None
        starts, ends = _episode_bounds(
            self.market, self.config.episode_length, int(mask.sum()), rng
        )
        self._accounts.reset(mask, starts, ends)

    def _finish(self, done: np.ndarray, obs: np.ndarray) -> dict[str, Any]:
        """Record the terminal observations of finished envs, then restart them."""
        acc = self._accounts
        info = {
            "final_obs": obs.copy(),
            "_final_obs": done.copy(),
            "final_state_index": (acc.t.copy(), acc.position.copy()),
            "_final_state_index": done.copy(),
            "final_net_worth": acc.net_worth.copy(),
            "_final_net_worth": done.copy(),
        }
        self._begin(done)
        return info


class TradingEnv(gym.Env):
    """One trading episode at a time (gymnasium ``Env``), with the vector env's accounting."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, market: MarketData, config: EnvConfig, *, random_start: bool = True) -> None:
        market.check_window(config.window)
        self.market = market
        self.config = config
        self.random_start = random_start
        self._observe = ObservationBuilder(market.features, config.window)
        self._accounts = Accounts(market, config, 1)
        self._mask = np.ones(1, dtype=bool)
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, (self._observe.size,), dtype=np.float32
        )
        self.action_space = gym.spaces.Discrete(2)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random if self.random_start else None
        starts, ends = _episode_bounds(self.market, self.config.episode_length, 1, rng)
        self._accounts.reset(self._mask, starts, ends)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        rewards, done = self._accounts.step(_check_actions(action, 1))
        info = {"net_worth": float(self._accounts.net_worth[0])}
        return self._obs(), float(rewards[0]), False, bool(done[0]), info

    def _obs(self) -> np.ndarray:
        return self._observe(self._accounts.t, self._accounts.position)[0]
