"""The vectorised portfolio env (gymnasium vector API, same-step autoreset), and the mapping
from per-asset long/flat decisions to weights.

Split like the single-asset env: ``simulator`` (accounts), the observation builder and the
allocation here. An observation is one row per asset: that asset's window of scaled features,
whether it is held, and the portfolio's cash weight, ``(N, window * F + 2)``; a shared network
scores every row alike (EIIE's parameter sharing, Jiang et al. 2017), so its size does not grow
with N. An action is one long/flat decision per asset; each asset has a slot of the capital,
``1 / N`` (``equal``) or its inverse-volatility share (``inverse_vol``): a held asset fills its
slot, a flat one leaves it in cash. All held is exactly 1/N (or inverse volatility), all flat
is cash, and the action space is linear in N (2 actions per asset, not 2^N).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tradeforge.config import EnvConfig
from tradeforge.portfolio.market import PortfolioMarket
from tradeforge.portfolio.simulator import PortfolioAccounts


def slot_weights(market: PortfolioMarket, allocation: str, vol_lookback: int = 20) -> np.ndarray:
    """``(T, N)`` capital slot of each asset on each bar (rows sum to 1), from bars <= t only.

    ``equal``: 1/N. ``inverse_vol``: 1 / std of the last ``vol_lookback`` close-to-close log
    returns, normalised; 1/N until ``vol_lookback`` returns exist.
    """
    t, n = market.close.shape
    slots = np.full((t, n), 1.0 / n)
    if allocation == "equal":
        return slots
    if allocation != "inverse_vol":
        raise ValueError(f"allocation: {allocation!r} is not 'equal' or 'inverse_vol'")
    logret = np.diff(np.log(market.close), axis=0)
    if len(logret) >= vol_lookback:
        windows = np.lib.stride_tricks.sliding_window_view(logret, vol_lookback, axis=0)
        vol = windows.std(axis=2)  # row j: returns j .. j+lookback-1, known at bar j+lookback
        inv = 1.0 / np.maximum(vol, 1e-8)
        slots[vol_lookback:] = inv / inv.sum(axis=1, keepdims=True)
    return slots


class PortfolioObservation:
    """Builds ``(E, N, window * F + 2)`` observations from ``(t, held, cash weight)``."""

    def __init__(self, features: np.ndarray, window: int) -> None:
        self.window = window
        t, n, f = features.shape
        self.size = window * f + 2
        # flat[i, a] = asset a's features over bars i .. i+window-1, oldest first.
        view = np.lib.stride_tricks.sliding_window_view(features, window, axis=0)
        self._flat = np.ascontiguousarray(view.transpose(0, 1, 3, 2)).reshape(
            t - window + 1, n, window * f
        )

    def __call__(self, t: np.ndarray, held: np.ndarray, cash: np.ndarray) -> np.ndarray:
        e, n = held.shape
        out = np.empty((e, n, self.size), dtype=np.float32)
        out[:, :, :-2] = self._flat[t - (self.window - 1)]
        out[:, :, -2] = held
        out[:, :, -1] = cash[:, None]
        return out


class PortfolioVectorEnv(VectorEnv):
    """``num_envs`` portfolio episodes over one universe, stepped together in numpy.

    ``step(actions)`` takes one 0/1 decision per asset, ``(E, N)``. Episodes are truncated at
    their last bar (never terminated); ``info["final_obs"]`` holds the last observation.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_modes": [],
    }

    def __init__(
        self,
        market: PortfolioMarket,
        config: EnvConfig,
        num_envs: int,
        *,
        allocation: str = "equal",
        vol_lookback: int = 20,
        random_start: bool = True,
        seed: int | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs: {num_envs} < 1")
        if market.start < config.window - 1 or market.num_steps < 1:
            raise ValueError(
                f"PortfolioVectorEnv: range [{market.start}, {market.end}) leaves no step with "
                f"{config.window - 1} bars of look-back"
            )
        self.market = market
        self.config = config
        self.num_envs = num_envs
        self.random_start = random_start
        self.slots = slot_weights(market, allocation, vol_lookback)
        self._observe = PortfolioObservation(market.features, config.window)
        self._accounts = PortfolioAccounts(market, config, num_envs)
        self._rng = np.random.default_rng(seed)
        n = market.num_assets
        self.held = np.zeros((num_envs, n), dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (n, self._observe.size), dtype=np.float32
        )
        self.single_action_space = gym.spaces.MultiBinary(n)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._all = np.ones(num_envs, dtype=bool)
        self._started = False

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode (all cash) in every env; ``seed`` re-seeds the start generator."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._begin(self._all)
        self._started = True
        return self._obs(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One bar for every env; finished envs restart at once (same-step autoreset)."""
        if not self._started:
            raise RuntimeError("PortfolioVectorEnv.step called before reset")
        a = np.asarray(actions)
        if a.shape != self.held.shape or not np.isin(a, (0, 1)).all():
            raise ValueError(
                f"actions: expected 0/1 of shape {self.held.shape}, got {a.shape} "
                f"{np.unique(a)[:5].tolist()}"
            )
        acc = self._accounts
        weights = a * self.slots[acc.t]
        rewards, turnover, done = acc.step(weights)
        self.held = a.astype(np.float32)
        obs = self._obs()
        info: dict[str, Any] = {"turnover": turnover}
        if done.any():
            info |= {
                "final_obs": obs.copy(),
                "_final_obs": done.copy(),
                "final_net_worth": acc.net_worth.copy(),
                "_final_net_worth": done.copy(),
            }
            self._begin(done)
            obs[done] = self._obs()[done]
        terminated = np.zeros(self.num_envs, dtype=bool)
        return obs, rewards, terminated, done, info

    @property
    def net_worth(self) -> np.ndarray:
        """Net worth of each env at the current bar's close."""
        return self._accounts.net_worth.copy()

    def _obs(self) -> np.ndarray:
        acc = self._accounts
        cash = 1.0 - acc.weights.sum(axis=1)
        return self._observe(acc.t, self.held, cash)

    def _begin(self, mask: np.ndarray) -> None:
        first, last = self.market.start, self.market.end - 1
        count = int(mask.sum())
        length = self.config.episode_length
        if self.random_start and last - first > length:
            starts = self._rng.integers(first, last - length + 1, size=count, dtype=np.int64)
            ends = starts + length
        else:
            starts = np.full(count, first, dtype=np.int64)
            ends = np.full(count, last, dtype=np.int64)
        self._accounts.reset(mask, starts, ends)
        self.held[mask] = 0.0
