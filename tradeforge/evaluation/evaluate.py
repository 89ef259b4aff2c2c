"""``evaluate``: one greedy episode over a market window, and its metrics after costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.evaluation.metrics import compute_metrics


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics of one policy on one window, and the episode they were computed from."""

    metrics: dict[str, float]
    """``METRIC_KEYS`` -> value (see ``tradeforge.evaluation.metrics``)."""
    episode: Any
    """The ``EpisodeResult`` (for several seeds: the median-return one)."""
    per_seed: list[dict[str, float]] = field(default_factory=list)
    """For a policy run with several seeds (the random baseline): each seed's metrics."""


def evaluate(
    policy: Any, market: MarketData, env: EnvConfig, *, periods_per_year: int
) -> Evaluation:
    """Run ``policy`` (an object with ``act(obs)`` or an int array, one action per step) greedily
    over the whole window ``[market.start, market.end)`` and compute its metrics after costs."""
    from tradeforge.envs.episode import run_episode

    episode = run_episode(policy, market, env)
    return Evaluation(metrics=episode_metrics(episode, periods_per_year), episode=episode)


def episode_metrics(episode: Any, periods_per_year: int) -> dict[str, float]:
    """The metrics of an ``EpisodeResult``."""
    return compute_metrics(
        episode.net_worth,
        episode.positions,
        trades=int(episode.trades),
        turnover=float(episode.turnover),
        periods_per_year=periods_per_year,
    )


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    """Metric-by-metric mean over runs (e.g. seeds of the random policy)."""
    if not runs:
        raise ValueError("mean_metrics: no runs to average")
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
