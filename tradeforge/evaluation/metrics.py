"""Performance metrics of one net-worth curve, after costs.

Conventions (stated once, used everywhere):

- Returns are simple per-bar returns of net worth, ``r_t = V_t / V_{t-1} - 1``; the risk-free
  rate is 0 (the cash baseline's Sharpe is 0).
- Annualisation uses ``periods_per_year`` (see ``periods_per_year()``): Sharpe and Sortino scale by
  ``sqrt(periods_per_year)``; CAGR uses ``years = (number of returns) / periods_per_year``.
- Sharpe = mean(r) / std(r, ddof=1) * sqrt(P).
- Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(P) (downside deviation against a 0 target,
  over all periods, Sortino & Price 1994).
- Max drawdown is a positive fraction: 0.25 means the curve fell 25% below its running peak.
- Calmar = CAGR / max drawdown.
- A ratio whose denominator is 0 (flat curve, no losing bar, no drawdown) is reported as 0.0 so
  every metric is a finite float that JSON, tables and comparisons can carry.
- Turnover = traded notional / mean net worth over the episode (1.0 = the portfolio traded once);
  exposure = share of steps holding the asset; trades = position changes.
"""

from __future__ import annotations

import math

import numpy as np

METRIC_KEYS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "exposure",
    "trades",
)

# Trading periods per year by (interval, asset class). US equities trade 252 days a year and
# Yahoo's hourly bars cover 9:30-16:00 in 7 bars a day (the last one half an hour); crypto
# trades around the clock every day.
PERIODS_PER_YEAR = {
    ("1d", "stock"): 252,
    ("1d", "crypto"): 365,
    ("1h", "stock"): 252 * 7,
    ("1h", "crypto"): 365 * 24,
}


def asset_class(ticker: str) -> str:
    """``crypto`` or ``stock``, by the validation suite's rule (one definition project-wide)."""
    # Imported here: the validation package loads great-expectations.
    from tradeforge.validation.derived import asset_class_of

    return asset_class_of(ticker)


def periods_per_year(interval: str, ticker: str = "", *, asset: str | None = None) -> int:
    """Bars per year for annualising: 252 daily stocks, 365 daily crypto, 1764 hourly stocks
    (252 x 7 Yahoo bars), 8760 hourly crypto (365 x 24)."""
    cls = asset or asset_class(ticker)
    try:
        return PERIODS_PER_YEAR[(interval, cls)]
    except KeyError:
        known = sorted({i for i, _ in PERIODS_PER_YEAR})
        raise ValueError(
            f"periods_per_year: interval {interval!r} / asset class {cls!r} unknown "
            f"(intervals: {known}; asset classes: stock, crypto)"
        ) from None


def simple_returns(net_worth: np.ndarray) -> np.ndarray:
    """Per-bar simple returns of a net-worth curve."""
    nw = np.asarray(net_worth, dtype=np.float64)
    return nw[1:] / nw[:-1] - 1.0


def total_return(net_worth: np.ndarray) -> float:
    """Final over initial net worth, minus 1."""
    nw = np.asarray(net_worth, dtype=np.float64)
    return float(nw[-1] / nw[0] - 1.0)


def cagr(net_worth: np.ndarray, periods_per_year: int) -> float:
    """Compound annual growth rate over ``len(net_worth) - 1`` periods."""
    years = (len(net_worth) - 1) / periods_per_year
    growth = 1.0 + total_return(net_worth)
    if years <= 0:
        return 0.0
    if growth <= 0:
        return -1.0
    return float(growth ** (1.0 / years) - 1.0)


def sharpe(returns: np.ndarray, periods_per_year: int) -> float:
    """Annualised Sharpe ratio (risk-free rate 0); 0.0 when the returns do not vary."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    if sd <= 1e-15:
        return 0.0
    return float(np.mean(r) / sd * math.sqrt(periods_per_year))


def sortino(returns: np.ndarray, periods_per_year: int) -> float:
    """Annualised Sortino ratio (0 target); 0.0 when no period lost money."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) == 0:
        return 0.0
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside <= 1e-15:
        return 0.0
    return float(np.mean(r) / downside * math.sqrt(periods_per_year))


def drawdown(net_worth: np.ndarray) -> np.ndarray:
    """The drawdown curve: fraction below the running peak at each bar (0 at new highs)."""
    nw = np.asarray(net_worth, dtype=np.float64)
    return 1.0 - nw / np.maximum.accumulate(nw)


def max_drawdown(net_worth: np.ndarray) -> float:
    """Largest fall from a running peak, as a positive fraction."""
    return float(np.max(drawdown(net_worth))) if len(net_worth) else 0.0


def calmar(net_worth: np.ndarray, periods_per_year: int) -> float:
    """CAGR over max drawdown; 0.0 when there was no drawdown."""
    mdd = max_drawdown(net_worth)
    if mdd <= 1e-15:
        return 0.0
    return float(cagr(net_worth, periods_per_year) / mdd)


def compute_metrics(
    net_worth: np.ndarray,
    positions: np.ndarray,
    *,
    trades: int,
    turnover: float,
    periods_per_year: int,
) -> dict[str, float]:
    """Every metric of ``METRIC_KEYS`` for one episode (see the module docstring)."""
    nw = np.asarray(net_worth, dtype=np.float64)
    if nw.ndim != 1 or len(nw) < 2:
        raise ValueError(
            f"compute_metrics: need a 1-D net-worth curve of >= 2 bars, got {nw.shape}"
        )
    if not np.all(np.isfinite(nw)) or np.any(nw <= 0):
        bad = int(np.flatnonzero(~np.isfinite(nw) | (nw <= 0))[0])
        raise ValueError(f"compute_metrics: net worth at bar {bad} is {nw[bad]} (must be > 0)")
    if periods_per_year <= 0:
        raise ValueError(f"compute_metrics: periods_per_year {periods_per_year} <= 0")
    r = simple_returns(nw)
    held = np.asarray(positions, dtype=np.float64)[1:]  # position held over each step
    return {
        "total_return": total_return(nw),
        "cagr": cagr(nw, periods_per_year),
        "sharpe": sharpe(r, periods_per_year),
        "sortino": sortino(r, periods_per_year),
        "max_drawdown": max_drawdown(nw),
        "calmar": calmar(nw, periods_per_year),
        "turnover": float(turnover),
        "exposure": float(held.mean()) if len(held) else 0.0,
        "trades": float(trades),
    }
