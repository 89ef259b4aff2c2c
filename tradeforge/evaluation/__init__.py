"""Evaluation: metrics after costs, baselines, seed intervals, cost sweeps, plots, promotion rule.

No Prefect here; ``tasks/evaluate.py`` and ``tasks/promote.py`` wrap these functions.
"""

from tradeforge.evaluation.baselines import BASELINES, baselines
from tradeforge.evaluation.evaluate import Evaluation, episode_metrics, evaluate, mean_metrics
from tradeforge.evaluation.metrics import (
    METRIC_KEYS,
    asset_class,
    compute_metrics,
    periods_per_year,
)
from tradeforge.evaluation.plots import plot_cost_sweep, plot_equity
from tradeforge.evaluation.stats import (
    bootstrap_interval,
    cost_sweep,
    seed_summary,
    summarize_seeds,
)

__all__ = [
    "BASELINES",
    "METRIC_KEYS",
    "Evaluation",
    "asset_class",
    "baselines",
    "bootstrap_interval",
    "compute_metrics",
    "cost_sweep",
    "episode_metrics",
    "evaluate",
    "mean_metrics",
    "periods_per_year",
    "plot_cost_sweep",
    "plot_equity",
    "seed_summary",
    "summarize_seeds",
]
