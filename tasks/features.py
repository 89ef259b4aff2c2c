"""Features task: causal features, date splits, scaler fitted on the train slice only."""

from __future__ import annotations

import pandas as pd
from prefect import task

from tasks.policies import PURE_CACHE
from tradeforge.config import PipelineConfig
from tradeforge.pipeline import run_features


@task(name="features", task_run_name="features-{ticker}", cache_policy=PURE_CACHE)
def features_task(ticker: str, frame: pd.DataFrame, cfg: PipelineConfig):
    """Build the feature matrix and the train / validation / test windows."""
    prepared = run_features(frame, cfg)
    print(f"{ticker} windows: {prepared.boundaries}")
    return prepared
