"""The portfolio baselines (issue 27): skfolio's allocators, refitted on each fold's training
bars only, plus cash and a cross-sectional momentum top-k rule.

Every baseline is a ``(num_steps, N)`` array of target weights over a window, scored by the
same ``run_weights`` accounting as the agents (next-open fills, costs on every unit of
turnover), rebalanced on every bar as the agents may. skfolio (maintained, scikit-learn API)
supplies the estimators, so none of them is hand-written here:

- ``equal_weight``: ``EqualWeighted`` (1/N; DeMiguel, Garlappi & Uppal 2009's hard benchmark)
- ``inverse_volatility``: ``InverseVolatility``
- ``min_variance``: ``MeanRisk`` minimising variance with a Ledoit-Wolf shrunk covariance
- ``hrp``: ``HierarchicalRiskParity`` (Lopez de Prado 2016)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tradeforge.portfolio.market import PortfolioMarket

SKFOLIO_BASELINES = ("equal_weight", "inverse_volatility", "min_variance", "hrp")
BASELINES = (*SKFOLIO_BASELINES, "cash", "momentum_top_k")


def _skfolio_model(name: str):
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import (
        EqualWeighted,
        HierarchicalRiskParity,
        InverseVolatility,
        MeanRisk,
        ObjectiveFunction,
    )
    from skfolio.prior import EmpiricalPrior

    makers: dict[str, Callable[[], object]] = {
        "equal_weight": EqualWeighted,
        "inverse_volatility": InverseVolatility,
        "min_variance": lambda: MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
        ),
        "hrp": HierarchicalRiskParity,
    }
    return makers[name]()


def fitted_weights(name: str, train: PortfolioMarket) -> np.ndarray:
    """``(N,)`` weights of skfolio baseline ``name`` fitted on ``train``'s steppable bars only
    (their close-to-close simple returns; nothing after ``train.end`` is read)."""
    close = train.close[train.start : train.end]
    returns = close[1:] / close[:-1] - 1.0
    model = _skfolio_model(name)
    model.fit(returns)
    weights = np.clip(np.asarray(model.weights_, dtype=np.float64), 0.0, None)
    return weights / max(weights.sum(), 1.0)  # long only, never levered


def momentum_top_k(market: PortfolioMarket, lookback: int, k: int) -> np.ndarray:
    """``(num_steps, N)``: on each bar, equal weights in the ``k`` assets with the highest
    return over the last ``lookback`` bars (bars <= t only), the others out."""
    t = np.arange(market.start, market.end - 1)
    past = np.maximum(t - lookback, 0)
    score = np.log(market.close[t] / market.close[past])
    k = min(k, market.num_assets)
    top = np.argsort(-score, axis=1, kind="stable")[:, :k]
    weights = np.zeros((len(t), market.num_assets))
    np.put_along_axis(weights, top, 1.0 / k, axis=1)
    return weights


def baseline_weights(
    train: PortfolioMarket,
    window: PortfolioMarket,
    *,
    momentum_lookback: int = 60,
    momentum_k: int = 3,
) -> dict[str, np.ndarray]:
    """Every baseline's ``(num_steps, N)`` weights over ``window``, the skfolio ones fitted on
    ``train`` (the fold's training bars)."""
    steps = window.num_steps
    out = {name: np.tile(fitted_weights(name, train), (steps, 1)) for name in SKFOLIO_BASELINES}
    out["cash"] = np.zeros((steps, window.num_assets))
    out["momentum_top_k"] = momentum_top_k(window, momentum_lookback, momentum_k)
    return out
