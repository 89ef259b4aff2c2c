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

Issue 28's capture study adds two families (``CAPTURE_STUDY``; not in the learning suite's
``STRUCTURED``), for information the default features do not carry, each different from the
held-out families of ``benchmarks/heldout_markets.py`` (which no choice may use):

- ``weekday``: a day-of-week effect: +0.3% a day on Tuesday and Wednesday sessions, -0.1%
  elsewhere. Rule: long over the next bar when it is a Tuesday or a Wednesday (the exchange
  calendar is known ahead).
- ``crash_drift``: a diffusion (daily vol 0.8%, drift +0.16%) with downside crashes (2% of
  bars, -3% +- 0.5%) after which selling goes on (a drift of -1.5% decaying by 0.8 a bar); no
  upside jumps. Rule: flat for 10 bars after a fall of more than 2.5 times the 20-bar realised
  vol, long otherwise.

Their strengths were set so the rules earn after costs on most paths (rule test return, seeds
0-5: weekday +32%, +34%, +26%, +40%, +0%, +28%; crash_drift +12%, +6%, +40%, +37%, -13%,
+22%), checked on the rules only, never on an agent.

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
from scipy import signal

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


def weekday(
    seed: int,
    n: int = N_BARS,
    *,
    vol: float = 0.01,
    bonus: float = 0.003,
    drift: float = -0.001,
    days: tuple[int, ...] = (2, 3),
) -> pd.DataFrame:
    """Daily drift ``bonus`` on sessions of the ISO weekdays ``days`` (1 = Monday), ``drift``
    elsewhere."""
    rng = np.random.default_rng([seed, 5])
    mask = np.isin(stock_sessions(START, n).dayofweek + 1, days)
    r = np.where(mask, bonus, drift) + rng.normal(0.0, vol, n)
    return _frame(r, rng, f"WEEKDAY{seed}")


def crash_drift(
    seed: int,
    n: int = N_BARS,
    *,
    vol: float = 0.008,
    drift: float = 0.0016,
    crash_prob: float = 0.02,
    crash: float = 0.03,
    crash_sd: float = 0.005,
    follow: float = 0.015,
    decay: float = 0.8,
) -> pd.DataFrame:
    """Diffusion with drift and downside crashes; after a crash a drift ``-follow * decay^k``."""
    rng = np.random.default_rng([seed, 6])
    crashes = rng.random(n) < crash_prob
    sizes = -np.abs(rng.normal(crash, crash_sd, n)) * crashes
    diffusion = rng.normal(0.0, vol, n)
    # The selling left by past crashes: carry_{t+1} = decay carry_t - follow decay [crash at t].
    impulse = np.where(crashes, -follow * decay, 0.0)
    carry = signal.lfilter([0.0, 1.0], [1.0, -decay], impulse)
    r = drift + carry + diffusion + sizes
    return _frame(r, rng, f"CRASH{seed}")


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


def weekday_rule(frame: pd.DataFrame, days: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Long at bar t when bar t + 1 falls on one of the ISO weekdays ``days``."""
    ts = frame["timestamp"].dt.tz_convert("UTC")
    mask = np.isin(ts.dt.dayofweek.to_numpy() + 1, days)
    return np.r_[mask[1:], False].astype(np.int8)


def after_crash_rule(
    frame: pd.DataFrame, window: int = 20, sigmas: float = 2.5, hold: int = 10
) -> np.ndarray:
    """Flat for ``hold`` bars after a 1-bar fall beyond ``sigmas`` times the ``window``-bar
    realised vol before it (the crash bar included), long otherwise."""
    r = np.log(frame["close"]).diff()
    before = r.rolling(window, min_periods=window).std(ddof=0).shift(1)
    crash = (r < -sigmas * before).to_numpy()
    out = np.ones(len(r), np.int8)
    for t in np.flatnonzero(crash):
        out[t : t + hold] = 0
    return out


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
    "weekday": SyntheticMarket("weekday", weekday, weekday_rule, "next bar is Tue/Wed"),
    "crash_drift": SyntheticMarket(
        "crash_drift", crash_drift, after_crash_rule, "flat 10 bars after a 2.5-sigma fall"
    ),
}
STRUCTURED = ("regimes", "momentum", "mean_reversion")
#: Issue 28's capture-study families (information the default features lack).
CAPTURE_STUDY = ("weekday", "crash_drift")


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
