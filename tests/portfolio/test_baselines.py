"""Portfolio baselines (issue 27): skfolio's estimators fitted on the fold's training bars only,
cash, and a causal cross-sectional momentum top-k rule."""

from __future__ import annotations

import numpy as np

from benchmarks.synthetic import random_walk
from tradeforge.config import FeatureConfig, SplitConfig
from tradeforge.portfolio.baselines import (
    BASELINES,
    baseline_weights,
    fitted_weights,
    momentum_top_k,
)
from tradeforge.portfolio.market import prepare_portfolio


def _prepared(scale: float = 1.0):
    frames = {
        f"A{i}": random_walk(i, 600, vol=0.005 * (i + 1) * scale).assign(ticker=f"A{i}")
        for i in range(4)
    }
    return prepare_portfolio(frames, FeatureConfig(), SplitConfig(folds=2, gap=2), window=3)


def test_every_baseline_is_a_long_only_unlevered_weight_path() -> None:
    fold = _prepared().last
    weights = baseline_weights(fold.train, fold.val, momentum_lookback=20, momentum_k=2)
    assert tuple(weights) == BASELINES
    for name, w in weights.items():
        assert w.shape == (fold.val.num_steps, 4), name
        assert (w >= 0).all() and (w.sum(axis=1) <= 1 + 1e-9).all(), name
    np.testing.assert_allclose(weights["equal_weight"], 0.25)
    assert (weights["cash"] == 0).all()
    # Lower volatility, more weight: asset 0 is the calmest of the four.
    for name in ("inverse_volatility", "min_variance", "hrp"):
        assert weights[name][0].argmax() == 0 and weights[name][0].argmin() == 3, name


def test_inverse_volatility_matches_the_training_bars_own_volatility() -> None:
    train = _prepared().last.train
    close = train.close[train.start : train.end]
    vol = (close[1:] / close[:-1] - 1).std(axis=0)
    expected = (1 / vol) / (1 / vol).sum()
    np.testing.assert_allclose(fitted_weights("inverse_volatility", train), expected, rtol=1e-6)


def test_skfolio_baselines_read_only_the_training_bars() -> None:
    fold = _prepared().last
    train = fold.train
    later = train.close.copy()
    later[train.end :] *= np.random.default_rng(0).uniform(0.5, 1.5, later[train.end :].shape)
    moved = type(train)(**{**train.__dict__, "close": later})
    earlier = train.close.copy()
    earlier[train.start + 5 : train.end] *= np.linspace(1, 2, train.end - train.start - 5)[:, None] ** [1, 0, 0, 3]  # fmt: skip
    changed = type(train)(**{**train.__dict__, "close": earlier})
    for name in ("equal_weight", "inverse_volatility", "min_variance", "hrp"):
        np.testing.assert_array_equal(fitted_weights(name, train), fitted_weights(name, moved))
    assert not np.allclose(
        fitted_weights("min_variance", train), fitted_weights("min_variance", changed)
    )


def test_momentum_top_k_holds_the_best_past_returns_and_never_looks_ahead() -> None:
    market = _prepared().last.val
    w = momentum_top_k(market, lookback=10, k=2)
    t = market.start + 7
    past = np.log(market.close[t] / market.close[t - 10])
    held = set(np.flatnonzero(w[7]))
    assert held == set(np.argsort(-past)[:2]) and np.allclose(w[7][list(held)], 0.5)
    future = market.close.copy()
    future[t + 1 :] = future[t + 1 :][::-1]
    moved = type(market)(**{**market.__dict__, "close": future})
    np.testing.assert_array_equal(momentum_top_k(moved, 10, 2)[:8], w[:8])
