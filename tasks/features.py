"""Features task: causal features, walk-forward folds, scalers fitted on each fold's train bars."""

from __future__ import annotations

import pandas as pd
from prefect import task

from tasks.policies import PURE_CACHE
from tradeforge.config import FeatureConfig, SplitConfig


@task(name="features", task_run_name="features-{ticker}", cache_policy=PURE_CACHE)
def features_task(
    ticker: str, frame: pd.DataFrame, features: FeatureConfig, split: SplitConfig, window: int
):
    """Build the feature matrix, the walk-forward folds and the test window."""
    from tradeforge.features import prepare

    prepared = prepare(frame, features, split, window)
    print(
        f"{ticker} windows: {prepared.boundaries}; folds: {[f.boundaries for f in prepared.folds]}"
    )
    return prepared
