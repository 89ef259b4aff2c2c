"""``run_episode``: one deterministic episode over a market's whole steppable range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.observation import observations_at
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
    """float32 (n,): position in each bar's observation (0 flat, 1 long); ``positions[0] == 0``.
    Equals ``actions`` shifted by one, except where ``min_hold`` kept a position."""
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


def greedy_actions(
    policy: Policy, market: MarketData, window: int, min_hold: int = 1
) -> np.ndarray:
    """The actions a greedy policy takes over the whole range, from one batched ``act`` call.

    An observation is a function of the bar and the position only, so the policy is asked about
    every bar in both positions at once; walking the bars then picks, at each one, the answer
    for the position the previous action left. This equals stepping the policy bar by bar for
    any policy whose ``act`` is a pure function of the observation (a greedy one). With
    ``min_hold`` > 1 the position follows the env's rule (no change before ``min_hold`` bars).
    """
    steps = market.num_steps
    t = np.arange(market.start, market.end - 1)
    both = observations_at(
        market.features,
        window,
        np.concatenate([t, t]),
        np.concatenate([np.zeros(steps), np.ones(steps)]),
    )
    answers = np.asarray(policy.act(both)).reshape(-1)
    if answers.shape != (2 * steps,) or not np.isin(answers, (0, 1)).all():
        raise ValueError(
            f"run_episode: policy.act returned {np.asarray(answers).shape} values for "
            f"{2 * steps} observations; expected one 0 or 1 per observation"
        )
    when_flat, when_long = answers[:steps], answers[steps:]
    actions = np.empty(steps, dtype=np.int8)
    position, held = 0, min_hold
    for i in range(steps):
        wanted = when_long[i] if position else when_flat[i]
        position, held = hold_rule(int(wanted), position, held, min_hold)
        actions[i] = position
    return actions


def hold_rule(wanted: int, position: int, held: int, min_hold: int) -> tuple[int, int]:
    """The position after wanting ``wanted`` while holding ``position`` for ``held`` steps.

    A position changed fewer than ``min_hold`` steps ago is kept (the env's rule); returns the
    new position and the new count of steps it has been held (1 right after a change). A fresh
    account starts with ``held = min_hold`` (free to trade at once). Shared by ``greedy_actions``
    and paper trading (``tradeforge.paper``), so both follow one rule.
    """
    if held >= min_hold and wanted != position:
        position, held = wanted, 0
    return position, held + 1


def run_episode(
    policy: Policy | np.ndarray, market: MarketData, config: EnvConfig
) -> EpisodeResult:
    """Step the whole range ``[market.start, market.end)`` with a policy or an action array.

    A policy object must be greedy (``act`` a pure function of the observation): its actions
    are computed in one batched call by ``greedy_actions``.
    """
    market.check_window(config.window)
    steps = market.num_steps
    actions = _as_actions(policy, steps)
    if actions is None:
        actions = greedy_actions(policy, market, config.window, config.min_hold)
    elif not np.isin(actions, (0, 1)).all():
        bad = int(np.flatnonzero(~np.isin(actions, (0, 1)))[0])
        raise ValueError(f"run_episode: step {bad}: action {actions[bad]!r} is not 0 or 1")
    acc = Accounts(market, config, 1)
    acc.reset(np.ones(1, dtype=bool), np.array([market.start]), np.array([market.end - 1]))
    net_worth = np.empty(steps + 1)
    rewards = np.empty(steps)
    positions = np.zeros(steps + 1, dtype=np.float32)
    net_worth[0] = acc.net_worth[0]
    for i in range(steps):
        reward, _ = acc.step(actions[i : i + 1])
        rewards[i] = reward[0]
        net_worth[i + 1] = acc.net_worth[0]
        positions[i + 1] = acc.position[0]  # differs from the action where min_hold locked it
    actions = actions.astype(np.int8)
    return EpisodeResult(
        timestamps=market.timestamps[market.start : market.end],
        net_worth=net_worth,
        positions=positions,
        actions=actions,
        rewards=rewards,
        trades=int(acc.trades[0]),
        turnover=float(acc.traded_value[0] / net_worth.mean()),
    )
