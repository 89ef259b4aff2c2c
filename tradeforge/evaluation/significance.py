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

  computed exactly (a one-dimensional integral, for any real N >= 1, by the trapezoid rule; the paper's closed form
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

- Sharpe-difference test (Ledoit & Wolf, "Robust performance hypothesis testing with the Sharpe
  ratio", 2008, the HAC version): a benchmark's Sharpe on the same bars is an estimate too, and
  its returns move with the challenger's. The difference ``SR_a - SR_b`` is a smooth function of
  the means of ``y_t = (a_t, b_t, a_t^2, b_t^2)``; its standard error by the delta method is
  ``sqrt(grad' Psi grad / T)``, with ``Psi`` the long-run covariance of ``y_t`` estimated by a
  Bartlett (Newey-West) kernel, so the correlation of the two series, their fat tails and their
  autocorrelation all enter. With no lags and normal returns it reduces to Memmel's (2003)
  corrected Jobson-Korkie variance ``(2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / T``.

A challenger must beat cash by the deflated PSR, ``PSR(SR0) > confidence`` (cash has no Sharpe
estimate to be unsure of), and a benchmark that moves (buy-and-hold, the champion on the same
bars) by the deflated Sharpe difference: ``Phi((SR_a - SR_b - SR0) / se) > confidence``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special, stats

_GRID = np.linspace(-12.0, 12.0, 4_801)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


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

    # x times the maximum's density, N phi(x) Phi(x)^(N-1), on a fine grid: the integrand is
    # smooth and negligible beyond +-12, where the trapezoid rule converges exponentially fast
    # (and is vectorised: the gate solves for effective trials with many of these).
    x = _GRID
    density = trials * np.exp(-0.5 * x**2 + (trials - 1.0) * special.log_ndtr(x)) / _SQRT_2PI
    return float(integrate.trapezoid(x * density, x))


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


@dataclass(frozen=True)
class SharpeDifference:
    """``SR_a - SR_b`` of two return series on the same bars and its HAC standard error (per
    period, not annualised)."""

    difference: float
    se: float
    correlation: float
    lags: int
    n: int

    def probability(self, bar: float) -> float:
        """Probability that the true difference exceeds ``bar`` (per period): ``Phi(z)``.

        Two series that differ by nothing measurable (``se`` 0: a re-run of the same model) are
        never an edge: 0.5 at the bar, 0 or 1 away from it."""
        excess = self.difference - bar
        if self.se == 0.0:
            return 0.5 if excess == 0.0 else float(excess > 0.0)
        return float(stats.norm.cdf(excess / self.se))


def newey_west_lags(n: int) -> int:
    """The usual Newey-West lag count, ``floor(4 (n / 100)^(2/9))`` (6 for 750 bars)."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))


def long_run_covariance(y: np.ndarray, lags: int) -> np.ndarray:
    """Bartlett-kernel (Newey-West) long-run covariance of the rows of ``y`` (T x k):
    ``Gamma_0 + sum_{j=1..lags} (1 - j / (lags + 1)) (Gamma_j + Gamma_j')``, each
    ``Gamma_j = sum_t u_t u_{t-j}' / T`` of the demeaned rows."""
    u = y - y.mean(axis=0)
    t = len(u)
    cov = u.T @ u / t
    for j in range(1, min(lags, t - 1) + 1):
        gamma = u[j:].T @ u[:-j] / t
        cov += (1.0 - j / (lags + 1.0)) * (gamma + gamma.T)
    return cov


def sharpe_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, lags: int | None = None
) -> SharpeDifference:
    """Ledoit-Wolf (2008) HAC inference on ``SR_a - SR_b`` for paired returns ``a``, ``b``.

    Sharpe ratios here use the population standard deviation, as in the paper. ``lags`` is the
    Bartlett kernel's (default ``newey_west_lags(T)``; 0 assumes serially independent returns).
    A flat ``b`` has no Sharpe estimate to difference (use ``probabilistic_sharpe`` for cash).
    """
    x = np.asarray(a, dtype=np.float64)
    z = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != z.shape or len(x) < 3:
        raise ValueError(
            f"sharpe_difference: need two equal series of >= 3, got {x.shape}, {z.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(z))):
        raise ValueError("sharpe_difference: returns contain NaN or inf")
    n = len(x)
    lags = newey_west_lags(n) if lags is None else lags
    if lags < 0:
        raise ValueError(f"sharpe_difference: lags={lags} < 0")
    y = np.column_stack([x, z, x**2, z**2])
    mu_a, mu_b, g_a, g_b = y.mean(axis=0)
    var_a, var_b = g_a - mu_a**2, g_b - mu_b**2
    if var_b <= 0.0:
        raise ValueError("sharpe_difference: the benchmark is flat (compare with PSR instead)")
    if var_a <= 0.0:  # a flat challenger (it never traded): Sharpe 0, all uncertainty is b's
        y, mu_a, g_a, var_a = y[:, [1, 3]], 0.0, 0.0, 0.0
        grad = np.array([-g_b / var_b**1.5, mu_b / (2.0 * var_b**1.5)])
        diff = -mu_b / math.sqrt(var_b)
    else:
        grad = np.array(
            [
                g_a / var_a**1.5,
                -g_b / var_b**1.5,
                -mu_a / (2.0 * var_a**1.5),
                mu_b / (2.0 * var_b**1.5),
            ]
        )
        diff = mu_a / math.sqrt(var_a) - mu_b / math.sqrt(var_b)
    psi = long_run_covariance(y, lags)
    variance = max(float(grad @ psi @ grad) / n, 0.0)
    corr = float(np.corrcoef(x, z)[0, 1]) if var_a > 0.0 else 0.0
    return SharpeDifference(float(diff), math.sqrt(variance), corr, lags, n)
