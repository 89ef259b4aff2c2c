"""Is a Sharpe ratio an edge or luck? The probabilistic and deflated Sharpe ratios.

- Probabilistic Sharpe ratio (Bailey & Lopez de Prado, "The Sharpe Ratio Efficient Frontier",
  2012): the probability that the true Sharpe ratio exceeds a benchmark ``SR*``, given the
  estimate's sample length, skewness and kurtosis::

      PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

  with SR the per-period (not annualised) Sharpe ratio of T returns, g3 their skewness and g4
  their raw (not excess) kurtosis, 3 for normal returns.
- Deflated Sharpe ratio (Bailey & Lopez de Prado, "The Deflated Sharpe Ratio", 2014): the best
  of N candidates is biased upwards, so the benchmark becomes the Sharpe ratio the best of N
  skill-less candidates would be expected to show::

      SR0 = sqrt(V) * E[max of N independent standard normals]

  computed exactly (a one-dimensional integral, for any real N >= 1; the paper's closed form
  ``(1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))`` approximates it, within 1% at
  N = 100 but poorly below about five trials, and negative just above one). V is the variance of
  the candidates' Sharpe estimates, taken as the larger of their observed variance and 1/(T-1),
  the variance of a skill-less candidate's estimate: with a handful of candidates their own
  variance is itself too noisy to trust, and an estimate can never be more precise than that.
- Correlated candidates are fewer independent trials: a seed ensemble trades much like its
  members. M candidates whose estimates have average pairwise correlation ``rho`` are modelled
  as equicorrelated, ``sqrt(rho) Z + sqrt(1 - rho) e_i``; the common part has mean 0, so their
  expected best is exactly ``sqrt(1 - rho)`` times that of M independent ones. N is the number
  of independent trials with the same expected best (1 for M copies of one strategy, M for
  independent ones). Bailey & Lopez de Prado's interpolation ``rho + (1 - rho) M`` agrees at
  moderate correlation and deflates too little near rho = 1 (at rho 0.95, M 8: 1.35 trials,
  whose expected best is 0.26 sd, against the equicorrelated model's 0.32; the paper's closed
  form at 1.35 trials gives 0.07).

A challenger must beat a benchmark's Sharpe ``SR_b`` (cash: 0; buy-and-hold; the champion on the
same bars) by the deflation: ``PSR(SR_b + SR0) >= confidence``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats


@dataclass(frozen=True)
class SharpeMoments:
    """What PSR needs of one return series (per period, not annualised)."""

    sharpe: float
    skew: float
    kurtosis: float
    """Raw (Pearson) kurtosis: 3 for normal returns."""
    n: int


def moments(returns: Sequence[float] | np.ndarray) -> SharpeMoments:
    """Per-period Sharpe ratio (ddof=1), skewness and raw kurtosis of ``returns``."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or len(r) < 3:
        raise ValueError(f"moments: need at least 3 returns, got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("moments: returns contain NaN or inf")
    sd = float(r.std(ddof=1))
    if sd == 0.0:  # a flat series (cash): no edge, and no dispersion to measure one by
        return SharpeMoments(0.0, 0.0, 3.0, len(r))
    return SharpeMoments(
        sharpe=float(r.mean()) / sd,
        skew=float(stats.skew(r, bias=True)),
        kurtosis=float(stats.kurtosis(r, fisher=False, bias=True)),
        n=len(r),
    )


def probabilistic_sharpe(m: SharpeMoments, benchmark: float) -> float:
    """PSR: probability that the true per-period Sharpe exceeds ``benchmark`` (per period)."""
    var = 1.0 - m.skew * m.sharpe + (m.kurtosis - 1.0) / 4.0 * m.sharpe**2
    # Extreme skew can make the variance term non-positive; the estimate is then unusable.
    var = max(var, 1e-12)
    z = (m.sharpe - benchmark) * math.sqrt(m.n - 1) / math.sqrt(var)
    return float(stats.norm.cdf(z))


@functools.lru_cache(maxsize=256)
def expected_max_normal(trials: float) -> float:
    """E[max of ``trials`` independent standard normals], by numerical integration.

    Real ``trials`` >= 1 are allowed (the maximum's CDF ``Phi(x)^N`` is a CDF for any N >= 1), so
    an effective number of trials has an expected best too; 0 for one trial.
    """
    if not trials >= 1:
        raise ValueError(f"expected_max_normal: trials={trials} < 1")
    if trials == 1:
        return 0.0

    def density_times_x(x: float) -> float:
        return x * trials * stats.norm.pdf(x) * stats.norm.cdf(x) ** (trials - 1.0)

    value, _ = integrate.quad(density_times_x, -12.0, 12.0, limit=200)
    return float(value)


def expected_max_sharpe(trials: float, variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe of ``trials`` skill-less candidates.

    ``trials`` may be an effective (fractional) number of independent trials.
    """
    return math.sqrt(variance) * expected_max_normal(float(trials))


def effective_trials(returns: Sequence[Sequence[float]]) -> tuple[float, float]:
    """``(N, rho)``: the independent trials worth as much luck as candidates with these returns.

    ``rho`` is the mean pairwise correlation of the series, clipped to [0, 1]; a flat series
    (cash-like, no correlation defined) counts as independent of the others. N solves
    ``E[max of N] = sqrt(1 - rho) * E[max of M]`` (equicorrelated candidates, module docstring).
    Series of unequal length cannot be compared bar by bar: they count as independent (N = M).
    """
    m = len(returns)
    if m < 2 or len({len(r) for r in returns}) != 1:
        return float(max(m, 1)), 0.0
    x = np.asarray(returns, dtype=np.float64)
    sd = x.std(axis=1)
    live = sd > 0
    corr = np.zeros((m, m))
    if live.sum() >= 2:
        corr[np.ix_(live, live)] = np.corrcoef(x[live])
    pairs = corr[~np.eye(m, dtype=bool)]
    rho = float(np.clip(pairs.mean(), 0.0, 1.0))
    return independent_equivalent(m, rho), rho


def independent_equivalent(m: int, rho: float) -> float:
    """N independent trials whose expected best equals that of ``m`` candidates at correlation
    ``rho``: ``E[max of N] = sqrt(1 - rho) * E[max of m]``."""
    if m < 1 or not 0.0 <= rho <= 1.0:
        raise ValueError(f"independent_equivalent: m={m}, rho={rho}")
    if m == 1 or rho >= 1.0:
        return 1.0
    if rho == 0.0:
        return float(m)
    target = math.sqrt(1.0 - rho) * expected_max_normal(float(m))
    return float(optimize.brentq(lambda n: expected_max_normal(n) - target, 1.0, float(m)))


def trial_variance(trial_sharpes: Sequence[float], n: int) -> float:
    """V for SR0: the candidates' Sharpe variance, never below a skill-less estimate's 1/(n-1)."""
    floor = 1.0 / max(n - 1, 1)
    if len(trial_sharpes) < 2:
        return floor
    return max(float(np.var(trial_sharpes, ddof=1)), floor)


def deflated_sharpe(
    m: SharpeMoments, trial_sharpes: Sequence[float], benchmark: float = 0.0
) -> float:
    """DSR: PSR against ``benchmark`` raised by the expected best of ``len(trial_sharpes)``."""
    sr0 = expected_max_sharpe(max(len(trial_sharpes), 1), trial_variance(trial_sharpes, m.n))
    return probabilistic_sharpe(m, benchmark + sr0)
