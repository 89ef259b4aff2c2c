"""Seeded synthetic markets with a known causal structure, and each one's simple reference rule.

Every generator returns a canonical OHLCV frame (``ticker, timestamp (UTC, XNYS sessions), open,
high, low, close, volume``), the same shape ``tradeforge.data`` produces, so the project's own
features, split and env run on it unchanged. Close-to-close log returns carry the structure;
the open sits a little noise away from the previous close (``open_t = close_{t-1} e^{u_t}``,
``close_t = open_t e^{r_t - u_t}``), so a trade filled at the next open (the env's default)
still captures the structured part of the return.

Markets (``MARKETS``):

- ``regimes``: Markov-switching drift (Hamilton 1989): a hidden up/down state that persists for
  ``1 / (1 - stay)`` bars on average. Rule: long while SMA10 > SMA50 (``sma_ratio_10_50 > 0``).
- ``momentum``: AR(1) daily returns, ``r_t = phi r_{t-1} + e_t``. Rule: long after an up day.
- ``mean_reversion``: log price = trend + an AR(1) deviation (an Ornstein-Uhlenbeck process
  around a drifting line). Rule: long while the close is below its 10-bar SMA.
- ``random_walk``: i.i.d. returns with a small drift; no rule can earn anything out of sample.

The rules use bars <= t for the decision on bar t, as the agents do; ``rule_actions`` maps a
rule's positions onto a ``MarketData`` window so they are scored by the same ``run_episode`` /
``evaluate`` as agents and baselines (fills, commission, slippage identical).

The strengths (``phi``, drifts, reversion speed) are the knob: the defaults were tuned so each
rule earns clearly after 10 bp commission on the last 15% of bars for the default seeds, without
being a free lunch (Sharpe ~1-2.5, not 10). No TensorFlow or Prefect import here: tests use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.validation.derived import stock_sessions

N_BARS = 2_500
START = "2010-01-04"


def _frame(log_returns: np.ndarray, rng: np.random.Generator, ticker: str) -> pd.DataFrame:
    """Canonical OHLCV bars from close-to-close log returns (first close 100)."""
    n = len(log_returns)
    log_close = np.log(100.0) + np.cumsum(log_returns)
    close = np.exp(log_close)
    prev_close = np.exp(np.r_[np.log(100.0), log_close[:-1]])
    gap = rng.normal(0.0, 0.002, n)  # overnight noise, not structure
    open_ = prev_close * np.exp(gap)
    spread = np.abs(rng.normal(0.0, 0.006, (2, n)))
    high = np.maximum(open_, close) * np.exp(spread[0])
    low = np.minimum(open_, close) * np.exp(-spread[1])
    volume = np.round(rng.lognormal(np.log(1e6), 0.3, n))
    timestamps = stock_sessions(START, n)  # exchange sessions: no bar on a holiday
    return pd.DataFrame(
        {
            "ticker": ticker,
            "timestamp": timestamps,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


# -- generators ---------------------------------------------------------------------------------


def regimes(
    seed: int, n: int = N_BARS, *, drift: float = 0.004, stay: float = 0.985, vol: float = 0.012
) -> pd.DataFrame:
    """Up/down regimes: daily drift ``+drift`` or ``-drift``, each kept with probability ``stay``."""
    rng = np.random.default_rng([seed, 1])
    state = np.empty(n, dtype=np.int8)
    state[0] = 1
    switch = rng.random(n) > stay
    for t in range(1, n):
        state[t] = -state[t - 1] if switch[t] else state[t - 1]
    r = drift * state + rng.normal(0.0, vol, n)
    return _frame(r, rng, f"REGIME{seed}")


def momentum(
    seed: int, n: int = N_BARS, *, phi: float = 0.3, vol: float = 0.01, drift: float = 0.0
) -> pd.DataFrame:
    """AR(1) returns: ``r_t = drift + phi (r_{t-1} - drift) + e_t``, stationary sd ``vol``."""
    rng = np.random.default_rng([seed, 2])
    return _frame(ar1_returns(rng, n, phi=phi, vol=vol, drift=drift), rng, f"MOMENTUM{seed}")


def ar1_returns(
    rng: np.random.Generator, n: int, *, phi: float, vol: float, drift: float = 0.0
) -> np.ndarray:
    """``n`` AR(1) log returns around ``drift`` with stationary sd ``vol`` (``momentum``'s)."""
    e = rng.normal(0.0, vol * np.sqrt(1.0 - phi**2), n)
    r = np.empty(n)
    r[0] = drift + e[0]
    for t in range(1, n):
        r[t] = drift + phi * (r[t - 1] - drift) + e[t]
    return r


def mean_reversion(
    seed: int,
    n: int = N_BARS,
    *,
    trend: float = 0.0002,
    rho: float = 0.85,
    dev_vol: float = 0.012,
    noise: float = 0.004,
) -> pd.DataFrame:
    """Log price = ``trend * t`` + AR(1) deviation (``rho``, shock sd ``dev_vol``) + white noise."""
    rng = np.random.default_rng([seed, 3])
    shocks = rng.normal(0.0, dev_vol, n)
    dev = np.empty(n)
    dev[0] = shocks[0]
    for t in range(1, n):
        dev[t] = rho * dev[t - 1] + shocks[t]
    log_price = trend * np.arange(n) + dev + rng.normal(0.0, noise, n)
    r = np.diff(np.r_[0.0, log_price])
    return _frame(r, rng, f"MEANREV{seed}")


def random_walk(
    seed: int, n: int = N_BARS, *, drift: float = 0.0003, vol: float = 0.012
) -> pd.DataFrame:
    """I.i.d. Gaussian log returns: nothing to learn."""
    rng = np.random.default_rng([seed, 4])
    return _frame(rng.normal(drift, vol, n), rng, f"RW{seed}")


# -- reference rules (positions per bar of the frame: 1 long, 0 flat; decided at the close) --------


def _sma(close: pd.Series, n: int) -> pd.Series:
    return close.rolling(n, min_periods=n).mean()


def sma_trend_rule(frame: pd.DataFrame, fast: int = 10, slow: int = 50) -> np.ndarray:
    """Long while SMA_fast > SMA_slow (the default feature ``sma_ratio_10_50`` > 0)."""
    close = frame["close"]
    return (_sma(close, fast) > _sma(close, slow)).to_numpy(np.int8)


def last_return_rule(frame: pd.DataFrame) -> np.ndarray:
    """Long after an up day (the sign of ``logret_1``)."""
    return (frame["close"].diff() > 0).to_numpy(np.int8)


def below_sma_rule(frame: pd.DataFrame, n: int = 10) -> np.ndarray:
    """Long while the close is below its ``n``-bar SMA (below the trend band: expect a bounce)."""
    close = frame["close"]
    return (close < _sma(close, n)).to_numpy(np.int8)


@dataclass(frozen=True)
class SyntheticMarket:
    """A generator and the reference rule that exploits its structure (None for random walks)."""

    name: str
    generate: Callable[..., pd.DataFrame]
    rule: Callable[[pd.DataFrame], np.ndarray] | None
    rule_name: str


MARKETS: dict[str, SyntheticMarket] = {
    "regimes": SyntheticMarket("regimes", regimes, sma_trend_rule, "SMA10 > SMA50"),
    "momentum": SyntheticMarket("momentum", momentum, last_return_rule, "last return > 0"),
    "mean_reversion": SyntheticMarket(
        "mean_reversion", mean_reversion, below_sma_rule, "close < SMA10"
    ),
    "random_walk": SyntheticMarket("random_walk", random_walk, None, "none"),
}
STRUCTURED = ("regimes", "momentum", "mean_reversion")


def make(name: str, seed: int, **params: float) -> pd.DataFrame:
    """The frame of market ``name`` for ``seed`` (``params`` override the generator's knobs)."""
    try:
        market = MARKETS[name]
    except KeyError:
        raise ValueError(f"synthetic market {name!r} is not one of {', '.join(MARKETS)}") from None
    return market.generate(seed, **params)


def rule_actions(positions: np.ndarray, frame: pd.DataFrame, market) -> np.ndarray:
    """The rule's actions for each step of ``market``'s window (a ``MarketData`` built from
    ``frame``): the position decided on each bar ``market.start .. market.end - 2``."""
    ts = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    rows = np.searchsorted(ts, market.timestamps[market.start : market.end - 1])
    if not np.array_equal(ts[rows], market.timestamps[market.start : market.end - 1]):
        raise ValueError("rule_actions: the market's bars are not bars of the frame")
    return np.asarray(positions, np.int8)[rows]
