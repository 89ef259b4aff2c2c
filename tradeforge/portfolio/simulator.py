"""The portfolio simulator: accounts of many envs over N assets and cash, changed only by ``step``.

A step takes target weights ``w`` (E, N), long only, ``sum(w) <= 1`` (the rest is cash). The
decision on bar t fills at ``open[t+1]`` (``next_open``, the default: bar t's close has been
seen) or at ``close[t]`` (``same_close``). At the fill the holdings are worth ``V`` and weigh
``h``; every unit of turnover ``sum |w - h|`` pays commission plus slippage:
``V' = V (1 - (commission + slippage) sum |w - h|)`` (the cost on the traded notional at the fill
price, Jiang et al. 2017's first-order form), then ``units = w V' / price``, ``cash = (1 - sum w) V'``.
The reward is the net portfolio log return ``log(NW[t+1] / NW[t])`` of the closes. FinRL's
``StockPortfolioEnv`` accepts a cost and never charges it; here it is charged on every step,
rebalancing the drift of held weights included (as a rebalanced 1/N pays it).
"""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.portfolio.market import PortfolioMarket

#: Slack on ``sum(w) <= 1`` for float rounding of weights computed elsewhere (skfolio's).
WEIGHT_TOLERANCE = 1e-6


def check_weights(weights: np.ndarray, num_envs: int, num_assets: int) -> np.ndarray:
    """``weights`` as float64 (E, N), or ``ValueError`` naming the first problem."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (num_envs, num_assets):
        raise ValueError(f"weights: expected shape ({num_envs}, {num_assets}), got {w.shape}")
    if not np.isfinite(w).all() or (w < -WEIGHT_TOLERANCE).any():
        raise ValueError("weights must be finite and >= 0 (long only; the rest is cash)")
    total = w.sum(axis=1)
    if (total > 1.0 + WEIGHT_TOLERANCE).any():
        raise ValueError(f"weights sum to {total.max():.6f} > 1 (no leverage)")
    return np.clip(w, 0.0, None)


class PortfolioAccounts:
    """Cash, units, net worth and bar index of ``num_envs`` portfolio envs, stepped together."""

    def __init__(self, market: PortfolioMarket, config: EnvConfig, num_envs: int) -> None:
        self.market = market
        self.config = config
        self.num_envs = num_envs
        n = market.num_assets
        self._close = market.close
        if config.execution == "next_open":
            self._fill = np.vstack([market.open[1:], np.full((1, n), np.nan)])
        else:
            self._fill = market.close
        self.cost = config.commission + config.slippage
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.last_t = np.zeros(num_envs, dtype=np.int64)
        self.cash = np.zeros(num_envs)
        self.units = np.zeros((num_envs, n))
        self.net_worth = np.zeros(num_envs)
        self.weights = np.zeros((num_envs, n))
        """Weight of each asset at the current close (after the last step's drift)."""
        self.traded_value = np.zeros(num_envs)

    def reset(self, mask: np.ndarray, starts: np.ndarray, last: np.ndarray) -> None:
        """New episodes for the envs in ``mask``: all cash, observe ``starts``, end on ``last``."""
        self.t[mask] = starts
        self.last_t[mask] = last
        self.cash[mask] = self.config.initial_cash
        self.units[mask] = 0.0
        self.net_worth[mask] = self.config.initial_cash
        self.weights[mask] = 0.0
        self.traded_value[mask] = 0.0

    def place(self, t: np.ndarray, weights: np.ndarray) -> None:
        """Put each env on bar ``t`` holding ``weights`` (``(E, N)``, the rest cash) of a net
        worth of 1 at that bar's close: the state a step from ``t`` starts from. Paper trading
        (``tradeforge.paper.portfolio``) settles one recorded decision this way; the accounts
        are linear in net worth, so the step's return is the one a whole episode earns."""
        self.t = np.asarray(t, dtype=np.int64).copy()
        self.last_t = self.t + 1
        self.units = weights / self._close[self.t]
        self.cash = 1.0 - weights.sum(axis=1)
        self.net_worth = self.cash + (self.units * self._close[self.t]).sum(axis=1)
        self.weights = self.units * self._close[self.t] / self.net_worth[:, None]
        self.traded_value = np.zeros(self.num_envs)

    def fill_prices(self, t: int) -> np.ndarray:
        """``(N,)``: the prices a decision on bar ``t`` fills at (next open, or that close)."""
        return self._fill[t].copy()

    def step(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rebalance to ``target`` weights (checked by the caller) and move to the next bar.

        Returns the log-return rewards, each env's turnover this step, and the mask of envs
        whose episode has reached its last bar.
        """
        t = self.t
        price = self._fill[t]
        held = self.units * price
        worth = self.cash + held.sum(axis=1)
        turnover = np.abs(target - held / worth[:, None]).sum(axis=1)
        after = worth * (1.0 - self.cost * turnover)
        self.units = target * after[:, None] / price
        self.cash = after * (1.0 - target.sum(axis=1))
        self.traded_value += turnover * worth
        t = t + 1
        self.t = t
        value = self.units * self._close[t]
        new_worth = self.cash + value.sum(axis=1)
        rewards = np.log(new_worth / self.net_worth)
        self.net_worth = new_worth
        self.weights = value / new_worth[:, None]
        return rewards, turnover, t >= self.last_t


class PortfolioEpisode:
    """One deterministic episode of ``n`` bars: net worth, weights and turnover bar by bar."""

    def __init__(
        self,
        timestamps: np.ndarray,
        net_worth: np.ndarray,
        weights: np.ndarray,
        turnover: np.ndarray,
    ) -> None:
        self.timestamps = timestamps
        """datetime64[ns] (n,) of the observed bars."""
        self.net_worth = net_worth
        """float64 (n,): net worth at each close; ``net_worth[0] == initial_cash``."""
        self.weights = weights
        """float64 (n - 1, N): target weights decided on each bar but the last."""
        self.turnover = turnover
        """float64 (n - 1,): turnover of each step (sum of |weight changes| at the fill)."""

    @property
    def returns(self) -> np.ndarray:
        """Per-step relative net-worth changes (after costs)."""
        return self.net_worth[1:] / self.net_worth[:-1] - 1.0


def run_weights(
    weights: np.ndarray, market: PortfolioMarket, config: EnvConfig
) -> PortfolioEpisode:
    """Step the whole range ``[market.start, market.end)`` with one row of target weights per
    step (``(num_steps, N)``); baselines and agents are scored by this same accounting."""
    steps, n = market.num_steps, market.num_assets
    w = check_weights(weights, steps, n)
    acc = PortfolioAccounts(market, config, 1)
    acc.reset(np.ones(1, dtype=bool), np.array([market.start]), np.array([market.end - 1]))
    net_worth = np.empty(steps + 1)
    turnover = np.empty(steps)
    net_worth[0] = acc.net_worth[0]
    for i in range(steps):
        _, turned, _ = acc.step(w[i : i + 1])
        turnover[i] = turned[0]
        net_worth[i + 1] = acc.net_worth[0]
    return PortfolioEpisode(market.timestamps[market.start : market.end], net_worth, w, turnover)


def _names(keys: list[str], most: int = 5, width: int = 32) -> str:
    """A client's keys as an error shows them: at most ``most``, each cut to ``width``
    characters, so a hostile request (1,000 keys of any length) is named, not echoed back."""
    shown = [k if len(k) <= width else f"{k[:width]}..." for k in keys[:most]]
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(shown) + more


def current_weights(
    weights: dict[str, float], tickers: tuple[str, ...], *, tolerance: float = 1e-4
) -> np.ndarray:
    """A client's current holdings, ticker -> weight with ``"cash"`` for the rest, as ``(N,)``
    in ``tickers`` order; ``ValueError`` naming the problem (what ``predict --portfolio`` and
    ``POST /predict`` are to check before deciding; issue 27).

    Refused: a ticker outside the universe, a negative or non-finite weight, weights (cash
    included) that do not sum to one within ``tolerance``. A ticker left out weighs 0.
    """
    outside = sorted(k for k in weights if k != "cash" and k not in tickers)
    if outside:
        raise ValueError(
            f"weights: {_names(outside)} not in the universe ({', '.join(tickers)}, cash)"
        )
    values = {k: float(v) for k, v in weights.items()}
    bad = [k for k, v in values.items() if not np.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"weights: {_names(bad)} must be finite and >= 0 (long only)")
    total = sum(values.values())
    if abs(total - 1.0) > tolerance:
        raise ValueError(
            f"weights sum to {total:.6f}, not 1 (give every asset's weight and cash's)"
        )
    return np.array([values.get(t, 0.0) for t in tickers])
