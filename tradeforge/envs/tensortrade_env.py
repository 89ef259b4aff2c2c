"""TensorTrade's own environment for any ticker: the reference semantics of a trade.

TensorTrade 1.0.4 ships instruments for currencies and a few coins, not for SPY or AAPL, so
the builder creates the instrument. The env is TensorTrade's default ``TradingEnv``: a
``Portfolio`` of a cash and an asset ``Wallet`` on a simulated ``Exchange`` (with commission;
TensorTrade models no slippage), BSH or managed-risk actions, a reward scheme, and an observer
whose feed carries the market's scaled features plus the agent's position.

Timing is TensorTrade's: the order placed on a bar fills at that bar's price (the close), as in
``VectorTradingEnv(execution="same_close")``. Rewards come from the same scheme objects as the
numpy env (``tradeforge.envs.rewards``), adapted to TensorTrade's ``RewardScheme`` interface, so
``risk_adjusted`` is the fixed rolling Sharpe (minimum window, floored deviation) rather than
TensorTrade's ``RiskAdjustedReturns``, which explodes at its default window of 1.

Importing this module imports TensorTrade (several seconds): import it only where needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tensortrade.env import default
from tensortrade.env.default.actions import BSH, ManagedRiskOrders
from tensortrade.env.default.rewards import TensorTradeRewardScheme
from tensortrade.env.generic import TradingEnv
from tensortrade.feed.core import DataFeed, Stream
from tensortrade.oms.exchanges import Exchange, ExchangeOptions
from tensortrade.oms.instruments import USD, Instrument
from tensortrade.oms.services.execution.simulated import execute_order
from tensortrade.oms.wallets import Portfolio, Wallet

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.rewards import make_reward

#: Precision of the created asset instrument (fractional units, as the numpy env trades).
ASSET_PRECISION = 8


@dataclass
class TensorTradeEnv:
    """The built env and the parts a caller may want to inspect."""

    env: TradingEnv
    portfolio: Portfolio
    cash: Wallet
    asset: Wallet
    action_scheme: Any
    instrument: Instrument

    @property
    def net_worth(self) -> float:
        """The portfolio's net worth at the current bar (in the quote currency)."""
        return float(self.portfolio.net_worth)


class PositionReward(TensorTradeRewardScheme):
    """Adapts a ``tradeforge.envs.rewards`` scheme to TensorTrade's reward interface."""

    def __init__(self, config: EnvConfig, asset: Wallet, close: np.ndarray) -> None:
        super().__init__()
        self._config = config
        self._asset = asset
        # close[i] is the price of the i-th bar of the feed; the first observation is bar
        # window-1 (after the warm-up), so step k moves from bar window-2+k to window-1+k.
        self._close = close
        self.reset()

    def reset(self) -> None:
        self._scheme = make_reward(self._config, 1)
        self._last_worth = self._config.initial_cash
        self._bar = self._config.window - 1

    def get_reward(self, portfolio: Portfolio) -> float:
        worth = float(portfolio.net_worth)
        price_ret = self._close[self._bar + 1] / self._close[self._bar] - 1.0
        position = np.array([1.0 if self._asset.total_balance.as_float() > 0 else 0.0])
        reward = self._scheme(
            np.array([worth / self._last_worth - 1.0]), np.array([price_ret]), position
        )
        self._last_worth = worth
        self._bar += 1
        return float(reward[0])


def make_instrument(ticker: str) -> Instrument:
    """A TensorTrade instrument for ``ticker`` (TensorTrade has none for most equities)."""
    if not ticker or not ticker.replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"ticker {ticker!r} is not a symbol TensorTrade can trade")
    return Instrument(ticker, ASSET_PRECISION, ticker)


def build_tensortrade_env(
    market: MarketData,
    config: EnvConfig,
    *,
    ticker: str | None = None,
    stop_loss: tuple[float, ...] = (0.02, 0.04),
    take_profit: tuple[float, ...] = (0.01, 0.03),
    max_allowed_loss: float | None = None,
    reward_scheme: TensorTradeRewardScheme | None = None,
    quote_precision: int = 2,
) -> TensorTradeEnv:
    """TensorTrade's env over ``market``'s range ``[start, end)`` with its look-back bars.

    ``config.action_scheme`` picks BSH (action 0 = cash, 1 = asset, as in the numpy env) or
    TensorTrade's ``ManagedRiskOrders`` with the given stop-loss / take-profit grid.
    An episode terminates on the last bar of the range, or earlier once the net worth has
    lost more than ``max_allowed_loss`` (a fraction; None = never).
    ``reward_scheme`` replaces the ``config.reward`` scheme (e.g. to study TensorTrade's own).
    ``quote_precision``: TensorTrade rounds cash balances *and prices* to the quote currency's
    decimals (2 for its ``USD``); a higher value uses a ``USD<n>`` instrument with n decimals,
    which removes that rounding (for sub-cent adjusted prices).
    """
    market.check_window(config.window)
    if config.slippage:
        raise ValueError(
            f"slippage {config.slippage}: TensorTrade's simulated exchange has no slippage model"
        )
    symbol = ticker or market.ticker or "ASSET"
    instrument = make_instrument(symbol)
    lo, hi = market.start - (config.window - 1), market.end
    close = market.close[lo:hi]
    quote = USD if quote_precision == 2 else Instrument(f"USD{quote_precision}", quote_precision)
    price = Stream.source(list(close), dtype="float").rename(f"{quote.symbol}-{symbol}")
    exchange = Exchange(
        "exchange", service=execute_order, options=ExchangeOptions(commission=config.commission)
    )(price)
    cash = Wallet(exchange, config.initial_cash * quote)
    asset = Wallet(exchange, 0 * instrument)
    portfolio = Portfolio(quote, [cash, asset])
    scheme = _action_scheme(config, cash, asset, stop_loss, take_profit)
    reward = reward_scheme or PositionReward(config, asset, close)
    feed = DataFeed(_feature_streams(market, lo, hi, asset))
    env = default.create(
        portfolio=portfolio,
        action_scheme=scheme,
        reward_scheme=reward,
        feed=feed,
        window_size=config.window,
        # Warm-up pushes the look-back bars through the feed, so the first observation is
        # bar ``market.start`` with a full window (as in the numpy env).
        min_periods=config.window - 1,
        # TensorTrade's MaxLossStopper also stops on the last bar; a loss can't exceed 100%.
        max_allowed_loss=1.0 if max_allowed_loss is None else max_allowed_loss,
    )
    return TensorTradeEnv(env, portfolio, cash, asset, scheme, instrument)


def _action_scheme(
    config: EnvConfig,
    cash: Wallet,
    asset: Wallet,
    stop_loss: tuple[float, ...],
    take_profit: tuple[float, ...],
) -> Any:
    if config.action_scheme == "bsh":
        return BSH(cash=cash, asset=asset)
    return ManagedRiskOrders(stop=list(stop_loss), take=list(take_profit), trade_sizes=[1.0])


def _feature_streams(market: MarketData, lo: int, hi: int, asset: Wallet) -> list[Stream]:
    """The scaled features of bars [lo, hi), then the agent's position (1 when holding asset).

    ``total_balance`` counts units locked by a pending stop/take-profit order as held.
    """
    streams = [
        Stream.source(market.features[lo:hi, j].astype(float).tolist(), dtype="float").rename(name)
        for j, name in enumerate(market.feature_names)
    ]
    position = Stream.sensor(
        asset, lambda w: 1.0 if w.total_balance.as_float() > 0 else 0.0, dtype="float"
    ).rename("position")
    return [*streams, position]
