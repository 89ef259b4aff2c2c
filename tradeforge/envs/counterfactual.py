"""Every action's reward on every bar, from prices alone: the table behind action augmentation.

The long/flat agent trades too little to move the market, so what the action *not* taken would
have earned on a bar is known exactly from that bar's prices and costs. For rewards that depend
only on the bar, the position held before the action and the action (``simple`` and ``pbr``, with
``min_hold`` 1) this module tabulates them: ``table[t, p, a]`` is the reward of taking action
``a`` at bar ``t`` while holding ``p`` (0 flat, 1 long), the same number ``Accounts.step`` returns
(fills, commission, slippage, clip and turnover penalty included; a test holds them equal).

A learner can then fit Q(s, a) for both actions and both positions from every replayed bar
("action augmentation", Huang 2018, *Financial Trading as a Game: A Deep Reinforcement Learning
Approach*): four targets per sample instead of one, and no exploration noise in which of them
gets learned. Rewards with memory (``risk_adjusted``, ``differential_sharpe``) depend on the
path of earlier returns, so they have no such table and are learned the ordinary way.
"""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.simulator import Accounts

#: Rewards whose value is a function of (bar, position, action) only.
STATELESS_REWARDS = ("simple", "pbr")


def counterfactual_supported(config: EnvConfig) -> str | None:
    """None when a reward table exists for ``config``, else the reason it does not."""
    if config.reward not in STATELESS_REWARDS:
        return f"reward {config.reward!r} depends on earlier returns"
    if config.min_hold > 1:
        return f"min_hold {config.min_hold} makes an action depend on when the position changed"
    if config.action_scheme != "bsh":
        return f"action_scheme {config.action_scheme!r} is not long/flat"
    return None


def reward_table(market: MarketData, config: EnvConfig) -> np.ndarray:
    """float32 ``(T, 2, 2)``: reward of action ``a`` at bar ``t`` from position ``p``.

    Each entry is one step of the simulator itself (``Accounts.step``), taken from bar ``t``
    holding ``p``: the table cannot drift from what the env pays. The last bar has no next bar:
    its row is NaN (no transition starts there).
    """
    reason = counterfactual_supported(config)
    if reason is not None:
        raise ValueError(f"no reward table: {reason}")
    n = len(market.close)
    # every (bar, position, action) of bars 0 .. n-2, in table order
    t = np.repeat(np.arange(n - 1), 4)
    position = np.tile([0, 0, 1, 1], n - 1)
    action = np.tile([0, 1, 0, 1], n - 1)
    accounts = Accounts(market, config, len(t))
    accounts.place(t, position)
    rewards, _ = accounts.step(action)
    table = np.full((n, 2, 2), np.nan, dtype=np.float32)
    table[:-1] = rewards.reshape(n - 1, 2, 2)
    return table
