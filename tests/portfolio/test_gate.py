"""The portfolio gate and report (issue 27): selection on pooled validation, the project's
deflated-PSR gate against cash and 1/N, and the Ledoit-Wolf (2008) Sharpe difference."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.config import PromotionConfig
from tradeforge.portfolio.evaluate import CandidateFold, Curve, decide_portfolio, sharpe_difference
from tradeforge.portfolio.report import decision_rows

PPY = 252


def _curve(returns: np.ndarray, n_assets: int = 2, weight: float = 0.5) -> Curve:
    worth = np.r_[1.0, np.cumprod(1.0 + returns)]
    steps = len(returns)
    return Curve(
        net_worth=worth,
        turnover=np.full(steps, 0.01),
        weights=np.full((steps, n_assets), weight),
        timestamps=np.arange(steps + 1).astype("datetime64[D]").astype("datetime64[ns]"),
    )


def _baselines(equal: list[np.ndarray], test: np.ndarray) -> list[dict[str, Curve]]:
    out = []
    for r in equal:
        out.append({"equal_weight": _curve(r), "cash": _curve(np.zeros_like(r), weight=0.0)})
    out[-1] |= {
        "equal_weight@test": _curve(test),
        "cash@test": _curve(np.zeros_like(test), weight=0.0),
    }
    return out


def _candidates(agent: str, folds: list[np.ndarray], test: np.ndarray) -> list[CandidateFold]:
    last = len(folds) - 1
    return [
        CandidateFold(agent, 0, k, _curve(r), _curve(test) if k == last else None)
        for k, r in enumerate(folds)
    ]


def test_the_same_returns_as_one_over_n_are_not_promoted() -> None:
    rng = np.random.default_rng(0)
    folds = [rng.normal(0.0008, 0.01, 250) for _ in range(3)]
    test = rng.normal(0.0008, 0.01, 120)
    decision = decide_portfolio(
        _candidates("dqn", folds, test), _baselines(folds, test), PromotionConfig(), PPY
    )
    assert not decision["promoted"] and "equal_weight" in decision["reason"]
    lw = decision["sharpe_difference_vs_equal_weight"]["validation"]
    assert lw["difference"] == 0.0 and lw["p_value"] == 1.0


def test_a_clear_edge_over_cash_and_one_over_n_is_promoted_and_tabled() -> None:
    rng = np.random.default_rng(1)
    equal = [rng.normal(0.0, 0.01, 250) for _ in range(3)]
    better = [r + 0.004 for r in equal]  # 1/N plus 40 bp a day
    test = rng.normal(0.0, 0.01, 120)
    candidates = _candidates("dqn", better, test + 0.004) + _candidates("parallel_dqn", equal, test)
    decision = decide_portfolio(candidates, _baselines(equal, test), PromotionConfig(), PPY)
    assert decision["promoted"], decision["reason"]
    assert decision["challenger"]["agent"] == "dqn"
    assert [c["benchmark"] for c in decision["gate"]["checks"]] == ["cash", "equal_weight"]
    assert (
        decision["challenger"]["test"]["total_return"]
        > decision["baselines"]["equal_weight"]["test"]["total_return"]
    )
    lw = decision["sharpe_difference_vs_equal_weight"]["validation"]
    assert lw["difference"] > 0 and lw["p_value"] < 1e-6
    rows = decision_rows(decision)
    assert [r["policy"] for r in rows] == ["dqn seed 0 (challenger)", "equal_weight", "cash"]
    assert rows[0]["validation_turnover"] == pytest.approx(0.01 * 750)


def test_sharpe_difference_matches_the_iid_delta_method() -> None:
    """Without autocorrelation the HAC variance is the i.i.d. one of Jobson-Korkie-Memmel:
    check the statistic against a direct computation on independent series."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.01, 0.01, 20_000), rng.normal(0.005, 0.01, 20_000)  # SR 1 and 0.5
    out = sharpe_difference(a, b, 1)
    sr_a, sr_b = a.mean() / a.std(), b.mean() / b.std()
    assert out["difference"] == pytest.approx(sr_a - sr_b, abs=1e-6)
    # i.i.d. normal, independent: Var(SR_hat) = (1 + SR^2 / 2) / n for each
    se = np.sqrt((1 + sr_a**2 / 2 + 1 + sr_b**2 / 2) / len(a))
    assert out["standard_error"] == pytest.approx(se, rel=0.05)


def test_the_recorded_gate_inputs_judge_to_the_recorded_decision() -> None:
    """``gate_inputs`` (kept in the model card, read by benchmarks/portfolio_suite.py) is what
    the gate received: judged again after a JSON round trip it gives the same decision, every
    number included, and the benchmark's ``--rejudge`` reproduces the promotion."""
    import json

    from benchmarks.portfolio_suite import rejudge
    from tradeforge.portfolio.evaluate import judge

    rng = np.random.default_rng(2)
    equal = [rng.normal(0.0, 0.01, 250) for _ in range(3)]
    test = rng.normal(0.0, 0.01, 120)
    candidates = _candidates("dqn", [r + 0.002 for r in equal], test) + _candidates(
        "parallel_dqn", [r + rng.normal(0.001, 0.004, 250) for r in equal], test
    )
    decision = decide_portfolio(candidates, _baselines(equal, test), PromotionConfig(), PPY)
    inputs = json.loads(json.dumps(decision["gate_inputs"]))
    assert judge(inputs, PromotionConfig()).model_dump(mode="json") == decision["gate"]
    row = {
        "gate_inputs": inputs,
        "promoted": decision["promoted"],
        "challenger_test_return": 0.1,
        "promoted_test_return": 0.1 if decision["promoted"] else 0.0,
        "equal_weight_test_return": 0.05,
        "rule_test_return": 0.1,
    }
    (again,) = rejudge([row])
    assert again["reproduced"] and again["promoted"] == decision["promoted"]
    assert again["target_met"] is decision["promoted"]
