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

    The last bar has no next bar: its row is NaN (no transition starts there).
    """
    reason = counterfactual_supported(config)
    if reason is not None:
        raise ValueError(f"no reward table: {reason}")
    close = market.close
    n = len(close)
    fill = np.append(market.open[1:], np.nan) if config.execution == "next_open" else close
    table = np.full((n, 2, 2), np.nan)
    c_now, c_next, price = close[:-1], close[1:], fill[:-1]
    price_ret = c_next / c_now - 1.0
    if config.reward == "simple":
        buy = (1.0 - config.commission) / (1.0 + config.slippage)
        sell = (1.0 - config.slippage) * (1.0 - config.commission)
        table[:-1, 0, 0] = 0.0
        table[:-1, 0, 1] = buy * c_next / price - 1.0
        table[:-1, 1, 0] = sell * price / c_now - 1.0
        table[:-1, 1, 1] = price_ret
    else:  # pbr: +price return when long after the action, -price return when flat
        table[:-1, :, 0] = -price_ret[:, None]
        table[:-1, :, 1] = price_ret[:, None]
    if config.reward_clip > 0:
        table = np.clip(table, -config.reward_clip, config.reward_clip)
    if config.turnover_penalty:
        table[:, 0, 1] -= config.turnover_penalty
        table[:, 1, 0] -= config.turnover_penalty
    return table.astype(np.float32)
