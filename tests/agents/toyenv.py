"""A tiny long/flat vector env following the Environment contract, for agent unit tests only.

The learning tests use the real ``VectorTradingEnv``; this one keeps the agent tests independent of
its details (and is what a dying actor is built from).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData


class ToyVectorEnv:
    """Same-step-autoreset vector env: reward = position * next return - cost of changes."""

    def __init__(self, market: MarketData, config: EnvConfig, num_envs: int, seed: int = 0) -> None:
        self.market, self.config, self.num_envs = market, config, num_envs
        self.feature_matrix = market.features
        self.window = config.window
        dim = self.window * market.features.shape[1] + 1
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self.rng = np.random.default_rng(seed)
        self.t = np.zeros(num_envs, np.int64)
        self.pos = np.zeros(num_envs, np.float32)
        self.steps = np.zeros(num_envs, np.int64)

    def _obs(self, t: np.ndarray, pos: np.ndarray) -> np.ndarray:
        rows = self.feature_matrix[t[:, None] + np.arange(-self.window + 1, 1)]
        return np.concatenate([rows.reshape(len(t), -1), pos[:, None]], axis=1).astype(np.float32)

    def _starts(self, n: int) -> np.ndarray:
        last = max(self.market.start + 1, self.market.end - self.config.episode_length)
        return self.rng.integers(self.market.start, last, size=n)

    def reset(self, seed: int | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = self._starts(self.num_envs)
        self.pos[:] = 0.0
        self.steps[:] = 0
        return self._obs(self.t, self.pos), {}

    def state_index(self):
        return self.t.copy(), self.pos.copy()

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.isin(actions, (0, 1)).all():
            raise ValueError(f"bad actions {actions!r}")
        new_pos = actions.astype(np.float32)
        close = self.market.close
        ret = close[self.t + 1] / close[self.t] - 1.0
        reward = new_pos * ret - self.config.commission * np.abs(new_pos - self.pos)
        self.t = self.t + 1
        self.pos = new_pos
        self.steps += 1
        terminated = self.t >= self.market.end - 1
        truncated = (self.steps >= self.config.episode_length) & ~terminated
        done = terminated | truncated
        info = {}
        if done.any():
            info["final_obs"] = self._obs(self.t, self.pos)
            info["final_state_index"] = (self.t.copy(), self.pos.copy())
            k = int(done.sum())
            self.t[done] = self._starts(k)
            self.pos[done] = 0.0
            self.steps[done] = 0
        return self._obs(self.t, self.pos), reward.astype(np.float64), terminated, truncated, info


def toy_env_factory(market, config, num_envs, seed):
    """Picklable factory (spawned actors import this module)."""
    return ToyVectorEnv(market, config, num_envs, seed)


class ExplodingEnv(ToyVectorEnv):
    """Raises after a few steps: the actor-failure path."""

    def step(self, actions):
        if self.steps.max() >= 5:
            raise RuntimeError("simulated crash inside the actor's env")
        return super().step(actions)


def exploding_env_factory(market, config, num_envs, seed):
    return ExplodingEnv(market, config, num_envs, seed)


class SuicidalEnv(ToyVectorEnv):
    """Kills its own process without a word: the silent-death path."""

    def step(self, actions):
        if self.steps.max() >= 5:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        return super().step(actions)


def suicidal_env_factory(market, config, num_envs, seed):
    return SuicidalEnv(market, config, num_envs, seed)


def sine_market(
    n: int = 1200, period: int = 40, window: int = 4, start: int | None = None
) -> MarketData:
    """A noiseless sine price with two causal features: last log return and the one before."""
    idx = np.arange(n)
    close = 100.0 + 10.0 * np.sin(2 * np.pi * idx / period)
    logret = np.zeros(n)
    logret[1:] = np.diff(np.log(close))
    feats = np.stack([logret, np.roll(logret, 1)], axis=1)
    feats[0, 1] = 0.0
    feats = (feats / feats.std(axis=0)).astype(np.float32)
    ts = np.arange(n).astype("datetime64[D]").astype("datetime64[ns]")
    return MarketData(
        timestamps=ts,
        features=feats,
        open=np.r_[close[0], close[:-1]],
        close=close,
        feature_names=("logret_1", "logret_1_lag"),
        start=start if start is not None else window,
        end=n,
        ticker="SINE",
    )
