"""The held-out families of issue 28: seeded, on exchange sessions, with the structure they claim,
and reference rules that use no future bar; the summary and the re-judging of recorded runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.heldout_markets import (
    FAMILIES,
    _turn_of_month_mask,
    fractional_noise,
    rejudge,
    summarize,
)
from tradeforge.validation.derived import stock_sessions


@pytest.mark.parametrize("name", list(FAMILIES))
def test_families_are_seeded_on_sessions_and_their_rules_are_causal(name: str) -> None:
    family = FAMILIES[name]
    a, b, other = family.generate(100, 600), family.generate(100, 600), family.generate(101, 600)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], other["close"])
    assert (
        a["timestamp"].to_numpy() == pd.Series(stock_sessions("2010-01-04", 600)).to_numpy()
    ).all()
    assert (a["high"] >= a[["open", "close"]].max(axis=1)).all()
    positions = family.rule(a)
    assert set(np.unique(positions)) <= {0, 1} and 0 < positions.mean() < 1
    # a rule decides bar t from bars <= t: a crash or a doubling after any bar t changes none of
    # its positions up to t (a rule peeking one bar ahead flips at one of the two)
    for cut in range(260, 599, 5):
        for factor in (0.5, 2.0):
            future = a.copy()
            future.loc[cut + 1 :, ["open", "high", "low", "close"]] *= factor
            assert np.array_equal(family.rule(future)[: cut + 1], positions[: cut + 1]), cut


def test_fractional_noise_has_the_hurst_autocorrelation() -> None:
    """fGn's lag-k autocorrelation is ((k+1)^2H - 2k^2H + (k-1)^2H) / 2: -0.129 at lag 1 for
    H = 0.4, +0.149 for H = 0.6; 0 for H = 0.5 (white noise)."""
    rng = np.random.default_rng(5)
    for hurst in (0.4, 0.5, 0.6):
        x = fractional_noise(rng, 200_000, hurst)
        assert x.std() == pytest.approx(1.0, abs=0.02)
        for k in (1, 2, 5):
            theory = 0.5 * ((k + 1) ** (2 * hurst) - 2 * k ** (2 * hurst) + (k - 1) ** (2 * hurst))
            assert np.corrcoef(x[k:], x[:-k])[0, 1] == pytest.approx(theory, abs=0.01)


def test_turn_of_month_is_the_last_session_and_the_first_three() -> None:
    ts = pd.Series(stock_sessions("2010-01-04", 60))
    mask = _turn_of_month_mask(ts)
    picked = ts[mask].dt.strftime("%Y-%m-%d").tolist()
    # January 2010 ends on Friday the 29th; February's first sessions are the 1st-3rd
    assert picked[:5] == ["2010-01-04", "2010-01-05", "2010-01-06", "2010-01-29", "2010-02-01"]
    assert "2010-02-26" in picked and "2010-03-03" in picked and "2010-03-04" not in picked
    # the rule holds over the next bar when that bar is one of them (decided a bar ahead)
    frame = FAMILIES["turn_of_month"].generate(100, 60)
    assert np.array_equal(FAMILIES["turn_of_month"].rule(frame), np.r_[mask[1:], False])


def _row(rule: float, promoted: bool, challenger: float) -> dict:
    return {
        "rule_test_return": rule,
        "promoted": promoted,
        "promoted_test_return": challenger if promoted else 0.0,
        "challenger_test_return": challenger,
    }


def test_summary_counts_paths_whose_rule_made_money() -> None:
    rows = [
        _row(0.20, True, 0.17),  # 85%: reached
        _row(0.20, True, 0.15),  # 75%: not
        _row(0.10, False, 0.30),  # refused: cash's 0
        _row(-0.05, True, 0.02),  # the rule lost: not counted
    ]
    s = summarize(rows)
    assert (s["paths"], s["rule_made_money"], s["reached_80pct_of_rule"]) == (4, 3, 1)
    assert s["share_reaching_80pct"] == pytest.approx(1 / 3) and not s["target_met"]
    # the refused challenger (30% against the rule's 10%) counts among the gate-free figure
    assert s["challenger_reached_80pct_of_rule"] == 2
    assert s["rule_passes_gate_where_it_made_money"] is None  # rows from before the field


def test_summary_bounds_the_figure_by_the_rule_judged_by_the_gate() -> None:
    """The ceiling counts only paths whose rule made money, and only the rule's own verdict."""
    rows = [
        _row(0.20, True, 0.17) | {"rule_passes_gate": True},
        _row(0.20, False, 0.15) | {"rule_passes_gate": False},
        _row(0.10, False, 0.30) | {"rule_passes_gate": False},
        _row(-0.05, True, 0.02) | {"rule_passes_gate": True},  # the rule lost: not counted
    ]
    s = summarize(rows)
    assert s["rule_passes_gate_where_it_made_money"] == 1
    assert s["rule_judged_where_it_made_money"] == 3


def test_rejudge_reproduces_a_recorded_decision_and_applies_the_new_test() -> None:
    """A row recorded under the old test is reproduced by it; the difference test promotes a
    challenger that moves with buy-and-hold and adds a steady edge (as the gate tests show)."""
    from tradeforge.config import PromotionConfig
    from tradeforge.evaluation.significance import moments
    from tradeforge.promotion.gate import decide

    n = 750
    rng = np.random.default_rng(34)
    x, e = rng.standard_normal((2, n))
    bh = 0.0003 + 0.01 * (x - x.mean()) / x.std()  # sample Sharpe 0.48
    agent = bh + 0.0004 + 0.0032 * (e - e.mean()) / e.std()  # 0.58 more, correlation 0.95
    sharpes = [moments(agent).sharpe * math.sqrt(252)]
    old = decide(
        agent,
        {"cash": np.zeros(n), "buy_and_hold": bh},
        sharpes,
        0.1,
        PromotionConfig(benchmark_test="psr"),
        252,
    )
    row = _row(0.2, old.promote, 0.25) | {
        "gate_inputs": {
            "challenger_returns": list(agent),
            "buy_and_hold_returns": list(bh),
            "trial_sharpes": sharpes,
            "effective_trials": 1.0,
            "trial_correlation": 0.0,
            "max_drawdown": 0.1,
        }
    }
    (same,) = rejudge([row], "psr")
    assert same["reproduced"] and same["promoted"] == old.promote is False
    (new,) = rejudge([row])
    assert new["promoted"] and not new["reproduced"]
    assert new["promoted_test_return"] == 0.25 and new["share_of_rule"] == pytest.approx(1.25)
