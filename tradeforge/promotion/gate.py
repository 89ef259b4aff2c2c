"""The promotion gate: promote only a measured edge over cash, buy-and-hold and the champion.

All figures are on the validation returns pooled over the walk-forward folds, after costs. SR0
is the expected best Sharpe of the run's N skill-less candidates (the deflation; 0 for N = 1).

- Against cash (a flat benchmark) the challenger needs ``PSR(SR0) > confidence``, the deflated
  Sharpe ratio.
- Against a benchmark that moves (buy-and-hold, the champion) it needs the Sharpe difference on
  the paired returns to clear ``SR0`` (+ the champion margin): ``Phi((SR - SR_b - SR0) / se) >
  confidence``, with ``se`` the Ledoit-Wolf HAC standard error of the difference, which counts
  the benchmark's own estimation error, the two series' correlation and their autocorrelation
  (``significance.sharpe_difference``). Before issue 28 the benchmark's Sharpe was treated as a
  known constant (``PSR(SR_b + SR0)``): too strict for a challenger that moves with its
  benchmark, too lenient for one that does not; ``PromotionConfig.benchmark_test = "psr"``
  still gives that test.

Figures are per period inside and reported annualised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tradeforge.config import PromotionConfig
from tradeforge.evaluation.significance import (
    SharpeMoments,
    effective_trials,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe,
    sharpe_difference,
    trial_variance,
)
from tradeforge.records import Record


class GateCheck(Record):
    """The challenger against one benchmark on the same bars."""

    benchmark: str
    benchmark_sharpe: float
    """Annualised Sharpe of the benchmark on the pooled validation bars."""
    required_sharpe: float
    """Annualised: the benchmark's Sharpe (+ margin) + the deflation SR0."""
    psr: float
    """Probability that the challenger's true Sharpe exceeds ``required_sharpe`` (for the
    difference test: that the true Sharpe difference exceeds the bar, the margin + SR0)."""
    passed: bool
    test: str = "psr"
    """``psr`` (against a constant) or ``difference`` (paired, Ledoit-Wolf HAC)."""
    difference_se: float | None = None
    """Annualised standard error of the Sharpe difference (difference test only)."""
    correlation: float | None = None
    """Correlation of the challenger's returns with the benchmark's (difference test only)."""


class GateDecision(Record):
    """Whether the challenger is promoted, why, and every number the decision used."""

    promote: bool
    reason: str
    challenger_sharpe: float
    """Annualised Sharpe of the challenger's pooled validation returns."""
    max_drawdown: float
    bars: int
    trials: int
    """Candidates tried (this run's, plus ``extra_trials``)."""
    effective_trials: float
    """Independent trials the deflation uses: the run's candidates counted by their
    correlation (as many independent trials as have the same expected best,
    ``significance.effective_trials``), plus ``extra_trials``."""
    trial_correlation: float
    """Mean pairwise correlation of the run's candidates' pooled validation returns."""
    deflation_sharpe: float
    """SR0, annualised: what the best of ``trials`` skill-less candidates would show."""
    confidence: float
    checks: list[GateCheck]


def decide(
    challenger: Sequence[float],
    benchmarks: dict[str, Sequence[float]],
    trial_sharpes: Sequence[float],
    max_drawdown: float,
    cfg: PromotionConfig,
    periods_per_year: int,
    trial_returns: Sequence[Sequence[float]] | None = None,
    independent_trials: tuple[float, float] | None = None,
) -> GateDecision:
    """The gate's decision for ``challenger``'s pooled validation returns.

    ``benchmarks`` maps a name (``cash``, ``buy_and_hold``, ``champion``) to its returns on the
    same bars; ``trial_sharpes`` are the annualised pooled Sharpes of every candidate of the run
    (the challenger included), ``trial_returns`` their pooled validation returns (when given,
    correlated candidates count as fewer independent trials). ``independent_trials`` gives that
    count directly, ``(N, mean correlation)`` as a past decision recorded it
    (``GateDecision.effective_trials - extra_trials``, ``trial_correlation``), to re-judge it
    when the candidates' returns are no longer at hand; give one or the other.
    """
    for name, r in benchmarks.items():
        if len(r) != len(challenger):
            raise ValueError(
                f"gate: benchmark {name!r} has {len(r)} returns, the challenger {len(challenger)}"
            )
    scale = math.sqrt(periods_per_year)
    m = moments(challenger)
    run_trials = max(len(trial_sharpes), 1)
    rho = 0.0
    independent = float(run_trials)
    if trial_returns is not None:
        if len(trial_returns) != len(trial_sharpes):
            raise ValueError(
                f"gate: {len(trial_returns)} return series for {len(trial_sharpes)} candidates"
            )
        independent, rho = effective_trials(trial_returns)
    if independent_trials is not None:
        if trial_returns is not None:
            raise ValueError("gate: give trial_returns or independent_trials, not both")
        independent, rho = independent_trials
        if not 1.0 <= independent <= run_trials:
            raise ValueError(f"gate: {independent} independent trials of {run_trials} candidates")
    trials = run_trials + cfg.extra_trials
    effective = independent + cfg.extra_trials
    per_period = [s / scale for s in trial_sharpes]
    sr0 = expected_max_sharpe(effective, trial_variance(per_period, m.n))
    checks = [
        _check(name, challenger, m, returns, sr0, cfg, scale)
        for name, returns in benchmarks.items()
    ]
    failed = [c for c in checks if not c.passed]
    shown = f"Sharpe {m.sharpe * scale:.2f} over {m.n} validation bars"
    if max_drawdown > cfg.max_drawdown_limit:
        promote, reason = (
            False,
            f"no edge shown: max drawdown {max_drawdown:.1%} exceeds the limit "
            f"{cfg.max_drawdown_limit:.0%} ({shown})",
        )
    elif failed:
        worst = min(failed, key=lambda c: c.psr)
        promote, reason = (
            False,
            f"no edge shown over {', '.join(c.benchmark for c in failed)}: {shown}; against "
            f"{worst.benchmark} (Sharpe {worst.benchmark_sharpe:.2f}; the bar to beat "
            f"{worst.required_sharpe:.2f} with {_tried(trials, effective)}) the {_statistic(worst)} "
            f"is {worst.psr:.3f}, not above {cfg.confidence}",
        )
    else:
        weakest = min(checks, key=lambda c: c.psr)
        promote, reason = (
            True,
            f"edge over {', '.join(c.benchmark for c in checks)}: {shown}; weakest "
            f"{weakest.benchmark} (the bar to beat {weakest.required_sharpe:.2f}) "
            f"{_statistic(weakest)} {weakest.psr:.3f} > {cfg.confidence} with {_tried(trials, effective)}",
        )
    return GateDecision(
        promote=promote,
        reason=reason,
        challenger_sharpe=m.sharpe * scale,
        max_drawdown=max_drawdown,
        bars=m.n,
        trials=trials,
        effective_trials=effective,
        trial_correlation=rho,
        deflation_sharpe=sr0 * scale,
        confidence=cfg.confidence,
        checks=checks,
    )


def _check(
    name: str,
    challenger: Sequence[float],
    m: SharpeMoments,
    returns: Sequence[float],
    sr0: float,
    cfg: PromotionConfig,
    scale: float,
) -> GateCheck:
    """The challenger against one benchmark: plain deflated PSR against a flat one (cash) or
    with ``cfg.benchmark_test == "psr"``, else the deflated Sharpe-difference test."""
    bench = moments(returns).sharpe
    margin = cfg.sharpe_margin / scale if name == "champion" else 0.0
    required = bench + margin + sr0
    flat = float(np.std(returns)) == 0.0
    if flat or cfg.benchmark_test == "psr":
        psr, extra = probabilistic_sharpe(m, required), {}
    else:
        diff = sharpe_difference(challenger, returns)
        psr = diff.probability(margin + sr0)
        extra = {
            "test": "difference",
            "difference_se": diff.se * scale,
            "correlation": diff.correlation,
        }
    return GateCheck(
        benchmark=name,
        benchmark_sharpe=bench * scale,
        required_sharpe=required * scale,
        psr=psr,
        # Strictly above: a tie (an identical re-run scores 0.5 against its own champion) is
        # never an edge, whatever the confidence (issue 24).
        passed=psr > cfg.confidence,
        **extra,
    )


def _statistic(check: GateCheck) -> str:
    """What a check's probability is, for the reason."""
    if check.test == "difference":
        return f"deflated Sharpe-difference probability (correlation {check.correlation:.2f})"
    return "deflated PSR"


def _tried(trials: int, effective: float) -> str:
    if abs(effective - trials) < 0.05:
        return f"{trials} candidate(s) tried"
    return f"{trials} candidate(s) tried, {effective:.1f} independent"
