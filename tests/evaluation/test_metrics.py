"""Metrics, baselines, intervals and the promotion rule against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeforge.config import EnvConfig, EvalConfig
from tradeforge.envs.market import MarketData
from tradeforge.evaluation import (
    METRIC_KEYS,
    baselines,
    bootstrap_interval,
    compute_metrics,
    cost_sweep,
    evaluate,
    periods_per_year,
    plot_equity,
    seed_summary,
)
from tradeforge.evaluation.baselines import sma_crossover_actions

# net worth 100 -> 110 -> 99 -> 99 -> 118.8: returns +10%, -10%, 0%, +20%.
CURVE = np.array([100.0, 110.0, 99.0, 99.0, 118.8])


def test_metrics_of_a_hand_computed_curve() -> None:
    m = compute_metrics(CURVE, [0, 1, 1, 0, 1], trades=3, turnover=2.5, periods_per_year=4)
    assert set(m) == set(METRIC_KEYS)
    assert m["total_return"] == pytest.approx(0.188)
    # 4 returns at 4 periods a year = 1 year: CAGR = total return.
    assert m["cagr"] == pytest.approx(0.188)
    # mean 0.05; sample std sqrt(0.05 / 3) = 0.1290994; x sqrt(4).
    assert m["sharpe"] == pytest.approx(0.05 / math.sqrt(0.05 / 3) * 2)
    assert m["sharpe"] == pytest.approx(0.7745967, abs=1e-6)
    # downside deviation sqrt((0.1^2) / 4) = 0.05 -> 0.05 / 0.05 * 2.
    assert m["sortino"] == pytest.approx(2.0)
    assert m["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert m["calmar"] == pytest.approx(1.88)
    assert m["exposure"] == pytest.approx(0.75)  # long over 3 of the 4 steps
    assert m["trades"] == 3 and m["turnover"] == 2.5


def test_cagr_annualises_by_periods() -> None:
    # Doubling over 504 daily returns = 2 years of 252 -> sqrt(2) - 1 a year.
    nw = np.linspace(100, 200, 505)
    m = compute_metrics(nw, np.ones(505), trades=1, turnover=1.0, periods_per_year=252)
    assert m["cagr"] == pytest.approx(math.sqrt(2) - 1)
    assert m["max_drawdown"] == 0.0 and m["calmar"] == 0.0  # no drawdown: reported as 0
    assert m["sortino"] == 0.0  # no losing bar


def test_flat_curve_has_zero_ratios() -> None:
    m = compute_metrics(np.full(10, 5.0), np.zeros(10), trades=0, turnover=0, periods_per_year=252)
    assert m["sharpe"] == m["sortino"] == m["total_return"] == m["max_drawdown"] == 0.0


def test_bad_curves_are_named() -> None:
    with pytest.raises(ValueError, match="bar 2"):
        compute_metrics(
            np.array([1.0, 2.0, 0.0]), np.zeros(3), trades=0, turnover=0, periods_per_year=252
        )
    with pytest.raises(ValueError, match=">= 2 bars"):
        compute_metrics(np.array([1.0]), np.zeros(1), trades=0, turnover=0, periods_per_year=252)


def test_periods_per_year() -> None:
    assert periods_per_year("1d", "SPY") == 252
    assert periods_per_year("1d", "BTC-USD") == 365
    assert periods_per_year("1h", "AAPL") == 252 * 7
    assert periods_per_year("1h", "ETH-USD") == 365 * 24
    with pytest.raises(ValueError, match="5m"):
        periods_per_year("5m", "SPY")


def _market(open_, close, *, start: int = 0) -> MarketData:
    n = len(close)
    return MarketData(
        timestamps=np.arange(n).astype("datetime64[D]").astype("datetime64[ns]"),
        features=np.zeros((n, 1), dtype=np.float32),
        open=np.asarray(open_, dtype=np.float64),
        close=np.asarray(close, dtype=np.float64),
        feature_names=("f",),
        start=start,
        end=n,
        ticker="TOY",
    )


OPEN = [100.0, 102.0, 98.0, 105.0, 110.0]
CLOSE = [101.0, 99.0, 104.0, 108.0, 111.0]
ENV = EnvConfig(window=1, commission=0.01, execution="next_open", initial_cash=10_000.0)


def test_buy_and_hold_after_commission_by_hand() -> None:
    ev = evaluate(np.ones(4, dtype=np.int8), _market(OPEN, CLOSE), ENV, periods_per_year=252)
    # Bought at the next open (102) paying 1%: units = 10000 * 0.99 / 102; valued at close 111.
    assert ev.metrics["total_return"] == pytest.approx(0.99 * 111 / 102 - 1)
    # Trough: 99 at bar 1 vs the start value 10000 (peak) -> 1 - 0.99 * 99 / 102.
    assert ev.metrics["max_drawdown"] == pytest.approx(1 - 0.99 * 99 / 102)
    assert ev.metrics["trades"] == 1 and ev.metrics["exposure"] == 1.0


class Flipper:
    """Changes position every step: the observation's last value is the position."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        return (1 - obs[:, -1]).astype(np.int64)


def test_policy_object_and_costs() -> None:
    market = _market(OPEN, CLOSE)
    ev = evaluate(Flipper(), market, ENV, periods_per_year=252)
    assert ev.metrics["trades"] == 4
    assert ev.metrics["exposure"] == 0.5
    # Fills at next opens: buy 102, sell 98, buy 105, sell 110; 1% commission on each trade.
    cash = 10_000 * 0.99**4 * (98 / 102) * (110 / 105)
    assert ev.episode.net_worth[-1] == pytest.approx(cash)
    free = evaluate(Flipper(), market, EnvConfig(window=1, commission=0.0), periods_per_year=252)
    assert free.metrics["total_return"] > ev.metrics["total_return"]


def test_baselines_on_the_same_window() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    market = _market(close, close, start=60)
    cfg = EvalConfig(random_policy_seeds=5, sma_fast=5, sma_slow=20)
    out = baselines(market, ENV, cfg, periods_per_year=252)
    assert set(out) == {"buy_and_hold", "cash", "random", "sma_crossover"}
    assert out["cash"].metrics["total_return"] == 0.0 and out["cash"].metrics["trades"] == 0
    bh = out["buy_and_hold"].metrics["total_return"]
    assert bh == pytest.approx(0.99 * close[-1] / close[61] - 1)
    rnd = out["random"]
    assert len(rnd.per_seed) == 5
    assert rnd.metrics["sharpe"] == pytest.approx(np.mean([r["sharpe"] for r in rnd.per_seed]))
    assert len({r["total_return"] for r in rnd.per_seed}) == 5  # seeds differ


def test_sma_crossover_is_causal_and_correct() -> None:
    close = np.array([10, 9, 8, 7, 8, 9, 10, 11, 10, 9, 8, 7], dtype=float)
    market = _market(close, close)
    actions = sma_crossover_actions(market, fast=2, slow=3)
    # By hand: long on bar t when mean(close[t-1:t+1]) > mean(close[t-2:t+1]); flat before bar 2.
    expected = [
        int(t >= 2 and close[t - 1 : t + 1].mean() > close[t - 2 : t + 1].mean())
        for t in range(len(close) - 1)
    ]
    assert actions.tolist() == expected == [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    changed = close.copy()
    changed[-1] = 1000.0  # a future price cannot change past decisions
    assert sma_crossover_actions(_market(changed, changed), 2, 3).tolist() == expected


def test_bootstrap_interval() -> None:
    out = bootstrap_interval([1.0, 2.0, 3.0, 4.0], samples=500, seed=1)
    assert out["mean"] == 2.5 and 1.0 <= out["low"] < 2.5 < out["high"] <= 4.0
    assert out == bootstrap_interval([1.0, 2.0, 3.0, 4.0], samples=500, seed=1)
    assert bootstrap_interval([0.7]) == {"mean": 0.7, "low": 0.7, "high": 0.7, "n": 1.0}
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_interval([1.0, float("nan")])
    summary = seed_summary([{"sharpe": 1.0}, {"sharpe": 3.0}], samples=200)
    assert summary["sharpe"]["mean"] == 2.0


def test_cost_sweep_replays_the_same_actions() -> None:
    market = _market(OPEN, CLOSE)
    rows = cost_sweep(Flipper(), market, ENV, periods_per_year=252, costs_bp=(0, 10, 50))
    assert [r["commission_bp"] for r in rows] == [0, 10, 50]
    returns = [r["agent"]["total_return"] for r in rows]
    assert returns[0] > returns[1] > returns[2]
    assert returns[0] == pytest.approx(98 / 102 * 110 / 105 - 1)  # no cost: pure price moves
    assert rows[0]["buy_and_hold"]["total_return"] == pytest.approx(111 / 102 - 1)


def test_plot_is_a_png(tmp_path) -> None:
    market = _market(OPEN, CLOSE)
    png = plot_equity(
        evaluate(Flipper(), market, ENV, periods_per_year=252), market, ENV, title="TOY flipper"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_summarize_seeds_groups_by_agent() -> None:
    from tradeforge.evaluation import summarize_seeds

    evs = [
        {"agent": "dqn", "seed": s, "validation": {"sharpe": v}, "test": {"sharpe": -v}}
        for s, v in enumerate([0.5, 1.0, 1.5])
    ] + [
        {"agent": "parallel_dqn", "seed": 0, "validation": {"sharpe": 2.0}, "test": {"sharpe": 0.0}}
    ]
    out = summarize_seeds(evs, samples=300)
    assert out["dqn"]["validation"]["sharpe"]["mean"] == pytest.approx(1.0)
    assert out["dqn"]["test"]["sharpe"]["mean"] == pytest.approx(-1.0)
    assert out["dqn"]["validation"]["sharpe"]["n"] == 3
    assert out["parallel_dqn"]["validation"]["sharpe"] == {
        "mean": 2.0,
        "low": 2.0,
        "high": 2.0,
        "n": 1.0,
    }


def test_cost_sweep_plot_is_a_png() -> None:
    from tradeforge.evaluation import plot_cost_sweep

    rows = cost_sweep(Flipper(), _market(OPEN, CLOSE), ENV, periods_per_year=252)
    assert [r["commission_bp"] for r in rows] == list(EvalConfig().cost_sweep_bp)
    assert plot_cost_sweep(rows, title="TOY")[:4] == b"\x89PNG"


def test_metrics_agree_with_an_independent_pandas_computation() -> None:
    import pandas as pd

    rng = np.random.default_rng(11)
    for _ in range(5):
        nw = pd.Series(1000 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, 400))))
        pos = rng.integers(0, 2, 400)
        m = compute_metrics(nw.to_numpy(), pos, trades=7, turnover=3.0, periods_per_year=365)
        r = nw.pct_change().dropna()
        assert m["sharpe"] == pytest.approx(r.mean() / r.std() * np.sqrt(365))
        assert m["max_drawdown"] == pytest.approx((1 - nw / nw.cummax()).max())
        assert m["total_return"] == pytest.approx(nw.iloc[-1] / nw.iloc[0] - 1)
        years = 399 / 365
        assert m["cagr"] == pytest.approx((nw.iloc[-1] / nw.iloc[0]) ** (1 / years) - 1)
        down = np.sqrt((r.clip(upper=0) ** 2).mean())
        assert m["sortino"] == pytest.approx(r.mean() / down * np.sqrt(365))
        assert m["exposure"] == pytest.approx(pos[1:].mean())
