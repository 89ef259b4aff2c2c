"""``run_episode``: one deterministic episode over a market's whole steppable range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.observation import ObservationBuilder
from tradeforge.envs.simulator import Accounts


class Policy(Protocol):
    """Anything with batched greedy actions: ``act(obs (n, D)) -> int array (n,)``."""

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class EpisodeResult:
    """What happened, bar by bar, in one episode of ``n`` bars (``n - 1`` steps)."""

    timestamps: np.ndarray
    """datetime64[ns] of the observed bars, shape (n,)."""
    net_worth: np.ndarray
    """float64 (n,): net worth at each bar's close; ``net_worth[0] == initial_cash``."""
    positions: np.ndarray
    """float32 (n,): position in each bar's observation (0 flat, 1 long); ``positions[0] == 0``."""
    actions: np.ndarray
    """int8 (n - 1,): the action taken on each bar but the last."""
    rewards: np.ndarray
    """float64 (n - 1,): the env's reward for each step."""
    trades: int
    """Number of position changes."""
    turnover: float
    """Traded notional divided by the mean net worth (1.0 = the portfolio traded once)."""

    @property
    def returns(self) -> np.ndarray:
        """Per-step relative net-worth changes (after costs)."""
        return self.net_worth[1:] / self.net_worth[:-1] - 1.0


def _as_actions(policy: Any, steps: int) -> np.ndarray | None:
    """The precomputed action array if ``policy`` is one (checked), else None."""
    if hasattr(policy, "act"):
        return None
    actions = np.asarray(policy)
    if actions.shape != (steps,):
        raise ValueError(
            f"run_episode: expected {steps} actions (one per step of the episode), "
            f"got shape {actions.shape}"
        )
    return actions


def run_episode(
    policy: Policy | np.ndarray, market: MarketData, config: EnvConfig
) -> EpisodeResult:
    """Step the whole range ``[market.start, market.end)`` with a policy or an action array."""
    market.check_window(config.window)
    steps = market.num_steps
    fixed = _as_actions(policy, steps)
    acc = Accounts(market, config, 1)
    mask = np.ones(1, dtype=bool)
    acc.reset(mask, np.array([market.start]), np.array([market.end - 1]))
    observe = None if fixed is not None else ObservationBuilder(market.features, config.window)
    net_worth = np.empty(steps + 1)
    positions = np.empty(steps + 1, dtype=np.float32)
    actions = np.empty(steps, dtype=np.int8)
    rewards = np.empty(steps)
    net_worth[0], positions[0] = acc.net_worth[0], acc.position[0]
    for i in range(steps):
        if fixed is None:
            action = np.asarray(policy.act(observe(acc.t, acc.position))).reshape(-1)
        else:
            action = fixed[i : i + 1]
        if action.shape != (1,) or action[0] not in (0, 1):
            raise ValueError(f"run_episode: step {i}: action {action!r} is not 0 or 1")
        reward, _ = acc.step(action)
        actions[i], rewards[i] = action[0], reward[0]
        net_worth[i + 1], positions[i + 1] = acc.net_worth[0], acc.position[0]
    return EpisodeResult(
        timestamps=market.timestamps[market.start : market.end],
        net_worth=net_worth,
        positions=positions,
        actions=actions,
        rewards=rewards,
        trades=int(acc.trades[0]),
        turnover=float(acc.traded_value[0] / net_worth.mean()),
    )
