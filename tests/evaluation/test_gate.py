"""The promotion gate: PSR / DSR and the Sharpe-difference test against hand-computed values;
noise and losers are refused."""

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
    long_run_covariance,
    moments,
    newey_west_lags,
    probabilistic_sharpe,
    sharpe_difference,
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


def test_long_run_covariance_by_hand() -> None:
    """Bartlett weights on the demeaned rows' autocovariances, written out for one lag."""
    y = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5], [2.0, 1.5], [-1.0, 0.0]])
    u = y - y.mean(axis=0)
    t = len(y)
    g0 = sum(np.outer(u[i], u[i]) for i in range(t)) / t
    g1 = sum(np.outer(u[i], u[i - 1]) for i in range(1, t)) / t
    assert long_run_covariance(y, 0) == pytest.approx(g0)
    assert long_run_covariance(y, 1) == pytest.approx(g0 + 0.5 * (g1 + g1.T))
    assert newey_west_lags(750) == 6 and newey_west_lags(100) == 4


def test_sharpe_difference_is_memmels_jobson_korkie_for_iid_normal_returns() -> None:
    """With no lags and normal returns the delta method's variance is Memmel's (2003)
    corrected Jobson-Korkie variance (2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / T."""
    rng = np.random.default_rng(31)
    n = 400_000
    for rho in (0.0, 0.6, 0.95):
        z0, e = rng.standard_normal(n), rng.standard_normal(n)
        b = 0.1 + z0  # per-period Sharpes 0.1 and 0.35: the SR terms matter
        a = 0.35 + rho * z0 + math.sqrt(1 - rho**2) * e
        d = sharpe_difference(a, b, lags=0)
        sa, sb = a.mean() / a.std(), b.mean() / b.std()
        r = np.corrcoef(a, b)[0, 1]
        memmel = math.sqrt((2 - 2 * r + 0.5 * (sa**2 + sb**2 - 2 * sa * sb * r**2)) / n)
        assert d.difference == pytest.approx(sa - sb, rel=1e-9)
        assert d.se == pytest.approx(memmel, rel=0.02), rho
        assert d.correlation == pytest.approx(r)


def test_sharpe_difference_covers_the_truth_and_widens_with_autocorrelation() -> None:
    """Across draws, z = (difference - truth) / se is about standard normal for paired AR(1)
    returns with the default lags; ignoring the autocorrelation (lags 0) understates se."""
    rng = np.random.default_rng(32)
    n, phi = 1_000, 0.4
    zs, ratio = [], []
    for _ in range(300):
        shocks = rng.standard_normal((2, n))
        shocks[1] = 0.7 * shocks[0] + math.sqrt(1 - 0.49) * shocks[1]
        x = np.zeros((2, n))
        for t in range(1, n):
            x[:, t] = phi * x[:, t - 1] + shocks[:, t]
        a, b = 0.1 + x[0], 0.0 + x[1]  # stationary sd 1/sqrt(1-phi^2): true SR gap 0.1 sqrt(.84)
        d = sharpe_difference(a, b)
        zs.append((d.difference - 0.1 * math.sqrt(1 - phi**2)) / d.se)
        ratio.append(d.se / sharpe_difference(a, b, lags=0).se)
    zs = np.asarray(zs)
    assert abs(zs.mean()) < 0.2 and 0.8 < zs.std() < 1.25
    assert np.mean(np.abs(zs) > 1.96) < 0.1  # about 5% two-sided
    assert np.median(ratio) > 1.25  # positively autocorrelated: the iid se is too small


def test_sharpe_difference_edge_cases() -> None:
    b = _series(0.0005, 0.01, 300, 33)
    same = sharpe_difference(b, b.copy())
    assert same.difference == 0.0 and same.probability(0.0) == 0.5
    flat = sharpe_difference(np.zeros(300), b)  # a challenger that never trades
    assert flat.difference == pytest.approx(-b.mean() / b.std()) and flat.se > 0
    with pytest.raises(ValueError, match="benchmark is flat"):
        sharpe_difference(b, np.zeros(300))
    with pytest.raises(ValueError, match="equal series"):
        sharpe_difference(b, b[:-1])
    with pytest.raises(ValueError, match="NaN"):
        sharpe_difference(np.r_[b[:-1], np.nan], b)


def _standard(x: np.ndarray) -> np.ndarray:
    """``x`` with sample mean 0 and sd 1: the sample Sharpe is then the one written."""
    return (x - x.mean()) / x.std()


def _old_and_new(agent: np.ndarray, bh: np.ndarray) -> tuple:
    """One trial against cash and buy-and-hold: the old test's decision and the new one's."""
    benchmarks = {"cash": np.zeros(len(bh)), "buy_and_hold": bh}
    sharpe = moments(agent).sharpe * math.sqrt(PPY)
    old = decide(agent, benchmarks, [sharpe], 0.1, PromotionConfig(benchmark_test="psr"), PPY)
    return old, decide(agent, benchmarks, [sharpe], 0.1, CFG, PPY)


def test_the_difference_test_sees_an_edge_over_a_benchmark_it_moves_with() -> None:
    """A challenger that holds the market and adds a small steady edge: annualised Sharpe 0.58
    above the market's 0.5, correlation 0.95. Against buy-and-hold's point Sharpe as a constant (the old
    test) the gap is within one series' noise; on the paired returns it is not."""
    n = 750
    rng = np.random.default_rng(34)
    bh = 0.5 / math.sqrt(PPY) * 0.01 + 0.01 * _standard(rng.standard_normal(n))
    agent = bh + 0.0004 + 0.0032 * _standard(rng.standard_normal(n))
    old, new = _old_and_new(agent, bh)
    old_bh, new_bh = old.checks[1], new.checks[1]  # cash first, then buy-and-hold
    assert not old.promote and old_bh.test == "psr" and not old_bh.passed
    assert new.promote, new.reason
    assert new_bh.test == "difference" and new_bh.correlation > 0.9
    d = sharpe_difference(agent, bh)
    assert new_bh.psr == pytest.approx(stats.norm.cdf(d.difference / d.se))
    assert new_bh.difference_se == pytest.approx(d.se * math.sqrt(PPY))
    # cash keeps the plain PSR in both (one trial: no deflation)
    for decision in (old, new):
        cash = {c.benchmark: c for c in decision.checks}["cash"]
        assert cash.test == "psr" and cash.psr == pytest.approx(
            probabilistic_sharpe(moments(agent), 0.0)
        )


def test_the_difference_test_counts_the_benchmarks_own_noise() -> None:
    """An independent challenger with the same true Sharpe as buy-and-hold whose sample beat
    buy-and-hold's: the old test, taking buy-and-hold's Sharpe as known, calls it an edge; the
    paired test, with both estimates' noise, does not."""
    n = 750
    rng = np.random.default_rng(35)
    bh = 0.01 * _standard(rng.standard_normal(n)) - 0.0002  # sample Sharpe -0.32
    agent = 0.01 * _standard(rng.standard_normal(n)) + 0.00053  # 0.84, unrelated to it
    old, new = _old_and_new(agent, bh)
    old_bh, new_bh = old.checks[1], new.checks[1]  # cash first, then buy-and-hold
    assert old_bh.passed and not new_bh.passed and new_bh.psr < old_bh.psr
    # the champion's margin and the deflation raise the paired bar as they raised the old one
    margin = PromotionConfig(sharpe_margin=0.5)
    sharpe = moments(agent).sharpe * math.sqrt(PPY)
    champ = decide(agent, {"champion": bh}, [sharpe, sharpe - 1], 0.1, margin, PPY).checks[0]
    d = sharpe_difference(agent, bh)
    bar = (champ.required_sharpe - champ.benchmark_sharpe) / math.sqrt(PPY)
    assert bar > 0.5 / math.sqrt(PPY)  # margin + SR0 of two trials
    assert champ.psr == pytest.approx(stats.norm.cdf((d.difference - bar) / d.se))


def test_the_report_names_each_checks_test() -> None:
    """``tradeforge show``/the summary print which test judged each benchmark, and the reason
    says it too (cash: deflated PSR; buy-and-hold: the paired difference with its correlation)."""
    from tradeforge.report import gate_lines

    n = 750
    rng = np.random.default_rng(36)
    bh = 0.0003 + 0.01 * rng.standard_normal(n)
    agent = bh + 0.0004 + 0.0032 * rng.standard_normal(n)
    d = decide(agent, {"cash": np.zeros(n), "buy_and_hold": bh}, [1.5], 0.1, CFG, PPY)
    cash, hold = gate_lines(d.json_dict())[1:]
    assert "vs cash" in cash and "deflated PSR" in cash
    assert "vs buy_and_hold" in hold and "P(Sharpe difference > bar)" in hold
    assert f"correlation {d.checks[1].correlation:.2f}" in hold
    assert "Sharpe-difference probability" in d.reason or "deflated PSR" in d.reason


def test_a_recorded_decision_is_rejudged_from_its_independent_trial_count() -> None:
    """``independent_trials`` stands for the candidates' returns: the same deflation, the same
    decision (how the held-out table re-judges recorded runs with a new test)."""
    n = 600
    rng = np.random.default_rng(37)
    common = rng.normal(0.0006, 0.01, n)
    cands = [common + rng.normal(0.0, 0.002, n) for _ in range(4)]
    sharpes = [moments(c).sharpe * math.sqrt(PPY) for c in cands]
    bench = {"cash": np.zeros(n), "buy_and_hold": common * 0.5 + rng.normal(0.0, 0.008, n)}
    full = decide(cands[0], bench, sharpes, 0.1, CFG, PPY, trial_returns=cands)
    again = decide(
        cands[0],
        bench,
        sharpes,
        0.1,
        CFG,
        PPY,
        independent_trials=(full.effective_trials, full.trial_correlation),
    )
    assert 1.0 < full.effective_trials < 4.0
    assert again.model_dump() == full.model_dump()
    with pytest.raises(ValueError, match="not both"):
        decide(cands[0], bench, sharpes, 0.1, CFG, PPY, cands, (1.0, 0.9))
    with pytest.raises(ValueError, match=r"5\.0 independent trials of 4"):
        decide(cands[0], bench, sharpes, 0.1, CFG, PPY, independent_trials=(5.0, 0.0))
