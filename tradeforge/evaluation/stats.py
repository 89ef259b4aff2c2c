"""Across seeds and costs: bootstrap intervals of the mean, and a commission sweep."""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.evaluation.evaluate import evaluate

DEFAULT_COSTS_BP = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0)


def bootstrap_interval(
    values: list[float] | np.ndarray,
    *,
    samples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Mean and percentile-bootstrap interval of the mean: ``{mean, low, high, n}``.

    With a single value the interval collapses to it (one seed says nothing about spread).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"bootstrap_interval: need a non-empty 1-D list, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_interval: non-finite values {x[~np.isfinite(x)].tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"bootstrap_interval: confidence {confidence} not in (0, 1)")
    mean = float(x.mean())
    if len(x) == 1:
        return {"mean": mean, "low": mean, "high": mean, "n": 1.0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(samples, len(x)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": mean, "low": float(low), "high": float(high), "n": float(len(x))}


def seed_summary(
    runs: list[dict[str, float]], *, samples: int = 2_000, confidence: float = 0.95
) -> dict[str, dict[str, float]]:
    """Per metric, the mean over seeds and its bootstrap interval."""
    if not runs:
        raise ValueError("seed_summary: no runs")
    return {
        key: bootstrap_interval([r[key] for r in runs], samples=samples, confidence=confidence)
        for key in runs[0]
    }


def cost_sweep(
    policy: Any,
    market: MarketData,
    env: EnvConfig,
    *,
    periods_per_year: int,
    costs_bp: tuple[float, ...] = DEFAULT_COSTS_BP,
) -> list[dict[str, Any]]:
    """Metrics of ``policy`` and buy-and-hold at each commission in ``costs_bp`` (basis points).

    The policy is run once at ``env``'s own costs and its actions are replayed at each cost: its
    decisions do not see the commission, so this is the same policy paying different fees.
    """
    from tradeforge.evaluation.baselines import buy_and_hold_actions

    actions = evaluate(policy, market, env, periods_per_year=periods_per_year).episode.actions
    hold = buy_and_hold_actions(market)
    rows = []
    for bp in costs_bp:
        if not 0 <= bp < 1000:
            raise ValueError(f"cost_sweep: {bp} bp is not in [0, 1000)")
        at_cost = env.replace(commission=bp / 10_000.0)
        rows.append(
            {
                "commission_bp": float(bp),
                "agent": evaluate(
                    actions, market, at_cost, periods_per_year=periods_per_year
                ).metrics,
                "buy_and_hold": evaluate(
                    hold, market, at_cost, periods_per_year=periods_per_year
                ).metrics,
            }
        )
    return rows


def summarize_seeds(
    evaluations: list[dict[str, Any]],
    *,
    splits: tuple[str, ...] = ("validation", "test"),
    samples: int = 2_000,
    confidence: float = 0.95,
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Per agent kind and split, each metric's mean over seeds with its bootstrap interval.

    ``evaluations`` are per-(agent, seed) dicts with ``agent`` and one metric dict per split,
    e.g. ``{"agent": "dqn", "seed": 0, "validation": {...}, "test": {...}}``.
    """
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for ev in evaluations:
        by_agent.setdefault(ev["agent"], []).append(ev)
    return {
        agent: {
            split: seed_summary([e[split] for e in runs], samples=samples, confidence=confidence)
            for split in splits
        }
        for agent, runs in by_agent.items()
    }
