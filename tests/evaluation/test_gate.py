"""The promotion gate: PSR / DSR against hand-computed values; noise and losers are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tradeforge.config import PromotionConfig
from tradeforge.evaluation.significance import (
    deflated_sharpe,
    effective_trials,
    expected_max_normal,
    expected_max_sharpe,
    independent_equivalent,
    moments,
    probabilistic_sharpe,
)
from tradeforge.promotion.gate import decide

PPY = 252
CFG = PromotionConfig()  # confidence 0.95


def test_psr_matches_the_formula_by_hand() -> None:
    r = np.array([0.01, -0.005, 0.02, 0.0, -0.01, 0.015, 0.005, -0.002, 0.012, 0.003])
    n = len(r)
    mean, sd = r.mean(), r.std(ddof=1)
    sr = mean / sd
    centred = r - mean
    m2 = (centred**2).mean()
    skew = (centred**3).mean() / m2**1.5
    kurt = (centred**4).mean() / m2**2  # raw, not excess
    expected = stats.norm.cdf(
        (sr - 0.1) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )
    m = moments(r)
    assert m.kurtosis == pytest.approx(kurt) and m.skew == pytest.approx(skew)
    assert probabilistic_sharpe(m, 0.1) == pytest.approx(expected, rel=1e-12)


def test_expected_max_sharpe_by_hand() -> None:
    v = 0.0004
    # closed forms: E[max of 2 standard normals] = 1/sqrt(pi), of 3 = 3/(2 sqrt(pi))
    assert expected_max_normal(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-9)
    assert expected_max_normal(3) == pytest.approx(1.5 / math.sqrt(math.pi), rel=1e-9)
    assert expected_max_sharpe(2, v) == pytest.approx(math.sqrt(v / math.pi), rel=1e-9)
    assert expected_max_sharpe(1, v) == 0.0  # one candidate: nothing to deflate
    # Bailey & Lopez de Prado's closed form approximates it well at many trials
    gamma = 0.5772156649015329
    n = 100
    paper = (1 - gamma) * stats.norm.ppf(1 - 1 / n) + gamma * stats.norm.ppf(1 - 1 / (n * math.e))
    assert expected_max_normal(n) == pytest.approx(paper, rel=0.02)
    # a simulation of the maximum agrees, for a fractional count too (CDF Phi^N)
    u = np.random.default_rng(0).random(400_000)
    for trials in (5, 2.5):
        sample = stats.norm.ppf(u ** (1 / trials))  # inverse of Phi(x)^N
        assert expected_max_normal(trials) == pytest.approx(sample.mean(), abs=0.01)
    with pytest.raises(ValueError, match=r"trials=0\.5"):
        expected_max_normal(0.5)
    # DSR with one trial is PSR against the benchmark
    m = moments(np.random.default_rng(1).normal(0.001, 0.01, 300))
    assert deflated_sharpe(m, [m.sharpe]) == pytest.approx(probabilistic_sharpe(m, 0.0))


def _series(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def test_gate_refuses_a_candidate_that_loses_to_cash() -> None:
    n = 750
    loser = _series(-0.0005, 0.01, n, 1)
    market = _series(0.0003, 0.01, n, 2)
    d = decide(loser, {"cash": np.zeros(n), "buy_and_hold": market}, [-0.8], 0.2, CFG, PPY)
    assert not d.promote and "cash" in d.reason
    (cash,) = [c for c in d.checks if c.benchmark == "cash"]
    assert not cash.passed and cash.psr < 0.5


def test_gate_refuses_one_that_beats_cash_but_not_buy_and_hold() -> None:
    n = 750
    bh = _series(0.0012, 0.01, n, 3)  # Sharpe ~1.9
    # half the market's exposure: positive, but a lower Sharpe than holding
    agent = 0.5 * bh + _series(0.0, 0.004, n, 4)
    d = decide(agent, {"cash": np.zeros(n), "buy_and_hold": bh}, [1.2], 0.1, CFG, PPY)
    checks = {c.benchmark: c for c in d.checks}
    assert checks["cash"].passed
    assert not checks["buy_and_hold"].passed
    assert not d.promote and "buy_and_hold" in d.reason


def test_gate_promotes_a_real_edge() -> None:
    n = 750
    bh = _series(0.0002, 0.01, n, 5)
    edge = _series(0.0015, 0.008, n, 6)  # Sharpe ~3
    d = decide(edge, {"cash": np.zeros(n), "buy_and_hold": bh}, [3.0, 0.5], 0.1, CFG, PPY)
    assert d.promote, d.reason
    assert all(c.passed for c in d.checks)


def test_a_tie_with_the_champion_is_never_an_edge_even_at_confidence_one_half() -> None:
    """Issue 24 drill 9: an identical re-run scores PSR exactly 0.5 against its own champion."""
    n = 750
    run = _series(0.0015, 0.008, n, 6)  # a real edge over cash
    half = PromotionConfig(confidence=0.5)
    d = decide(run, {"cash": np.zeros(n), "champion": run.copy()}, [3.0], 0.1, half, PPY)
    (champion,) = [c for c in d.checks if c.benchmark == "champion"]
    assert champion.psr == 0.5 and not champion.passed
    assert not d.promote and d.reason.startswith("no edge shown over champion"), d.reason


def test_gate_refuses_a_lucky_best_of_many_on_noise() -> None:
    """100 skill-less candidates: the best looks significant alone, not after deflation."""
    n, trials = 500, 100
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.01, (trials, n))
    sharpes = noise.mean(axis=1) / noise.std(axis=1, ddof=1)
    best = noise[int(np.argmax(sharpes))]
    m = moments(best)
    assert probabilistic_sharpe(m, 0.0) > 0.95  # undeflated, the lucky one passes
    annual = list(sharpes * math.sqrt(PPY))
    d = decide(best, {"cash": np.zeros(n)}, annual, 0.1, CFG, PPY, trial_returns=list(noise))
    # independent noise: the correlation-aware count is still (almost) all 100
    assert d.trials == trials and d.effective_trials > 95 and d.deflation_sharpe > 1.0
    assert not d.promote, d.reason


def test_gate_refuses_a_drawdown_past_the_limit() -> None:
    n = 750
    edge = _series(0.0015, 0.008, n, 6)
    d = decide(edge, {"cash": np.zeros(n)}, [3.0], 0.6, CFG, PPY)
    assert not d.promote and "drawdown" in d.reason


def test_gate_rejects_misaligned_benchmarks() -> None:
    with pytest.raises(ValueError, match="buy_and_hold"):
        decide(np.zeros(10) + 0.001, {"buy_and_hold": np.zeros(9)}, [1.0], 0.1, CFG, PPY)


def _same_luck(n: float, m: int, rho: float) -> bool:
    """N independent trials expect the same best as m at correlation rho (sqrt(1 - rho) x)."""
    return expected_max_normal(n) == pytest.approx(
        math.sqrt(1 - rho) * expected_max_normal(m), rel=1e-6
    )


def test_effective_trials_count_correlated_candidates_once() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(0.0, 0.01, 600)
    copies = [base, base.copy(), base * 2.0]
    assert effective_trials(copies) == pytest.approx((1.0, 1.0))  # one strategy, three times
    independent = list(rng.normal(0.0, 0.01, (8, 600)))
    n, rho = effective_trials(independent)
    assert rho < 0.05 and n > 7.0 and _same_luck(n, 8, rho)
    # by hand: members share half their variance -> pairwise correlation 0.5
    common = rng.normal(0.0, 0.01, 20_000)
    members = [common + rng.normal(0.0, 0.01, 20_000) for _ in range(4)]
    n, rho = effective_trials(members)
    assert rho == pytest.approx(0.5, abs=0.02) and _same_luck(n, 4, rho)
    assert independent_equivalent(4, 0.5) == pytest.approx(2.52, abs=0.01)
    # a simulation of 8 equicorrelated normals: their best is worth N independent trials
    z = rng.normal(size=(200_000, 1))
    e = rng.normal(size=(200_000, 8))
    best = (math.sqrt(0.9) * z + math.sqrt(0.1) * e).max(axis=1).mean()
    assert expected_max_normal(independent_equivalent(8, 0.9)) == pytest.approx(best, abs=0.01)
    # a flat (cash-like) candidate has no correlation: it counts as independent
    n, rho = effective_trials([base, base, np.zeros(600)])
    assert rho == pytest.approx(1 / 3) and _same_luck(n, 3, 1 / 3)
    assert effective_trials([base, base[:-1]]) == (2.0, 0.0)  # unequal lengths: independent


def test_copies_of_one_candidate_are_not_deflated_as_many() -> None:
    """Ten copies of one series are one trial: the gate judges it as PSR against cash."""
    n = 750
    edge = _series(0.0009, 0.01, n, 12)
    m = moments(edge)
    annual = m.sharpe * math.sqrt(PPY)
    copies = [edge] * 10
    d = decide(edge, {"cash": np.zeros(n)}, [annual] * 10, 0.1, CFG, PPY, trial_returns=copies)
    assert d.trials == 10 and d.effective_trials == pytest.approx(1.0)
    assert d.deflation_sharpe == 0.0 and "10 candidate(s) tried, 1.0 independent" in d.reason
    (cash,) = d.checks
    assert cash.psr == pytest.approx(probabilistic_sharpe(m, 0.0))
    # counted as ten independent trials the same series is deflated
    alone = decide(edge, {"cash": np.zeros(n)}, [annual] * 10, 0.1, CFG, PPY)
    assert alone.effective_trials == 10 and alone.deflation_sharpe > 0.5
    assert alone.checks[0].psr < cash.psr
    with pytest.raises(ValueError, match="2 return series for 10 candidates"):
        decide(edge, {"cash": np.zeros(n)}, [annual] * 10, 0.1, CFG, PPY, trial_returns=copies[:2])


def test_extra_trials_deflate_as_more_candidates_tried() -> None:
    """Settings searched by hand before this run (``--promotion.extra_trials``) count as trials:
    the bar rises with them, and a clear edge for one candidate is not clear after 500."""
    n = 750
    edge = _series(0.0012, 0.01, n, 21)
    annual = moments(edge).sharpe * math.sqrt(PPY)

    def gate(extra: int):
        cfg = CFG.model_copy(update={"extra_trials": extra})
        return decide(edge, {"cash": np.zeros(n)}, [annual, annual / 2], 0.1, cfg, PPY)

    alone, searched, many = gate(0), gate(20), gate(500)
    assert (alone.trials, searched.trials, many.trials) == (2, 22, 502)
    assert searched.effective_trials == pytest.approx(alone.effective_trials + 20)
    assert alone.deflation_sharpe < searched.deflation_sharpe < many.deflation_sharpe
    assert alone.checks[0].psr > searched.checks[0].psr > many.checks[0].psr
    assert alone.promote and not many.promote, (alone.reason, many.reason)
    assert "502 candidate(s) tried" in many.reason
