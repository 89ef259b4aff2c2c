"""Validate task: the great-expectations contract; bad data stops the run here, before training."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact

from tasks.policies import PURE_CACHE
from tradeforge.config import PipelineConfig
from tradeforge.pipeline import publish_validation, run_validate
from tradeforge.report import artifact_key


@task(name="gx-suite", task_run_name="gx-suite-{ticker}", cache_policy=PURE_CACHE)
def suite_task(ticker: str, ingested, cfg: PipelineConfig):
    """The great-expectations run itself: unchanged bars are served from cache."""
    return run_validate(ticker, ingested, cfg)


@task(name="validate", task_run_name="validate-{ticker}")
def validate_task(ticker: str, ingested, cfg: PipelineConfig, run_id: str) -> pd.DataFrame:
    """Run the suite, publish its table and Data Docs, raise ``DataValidationError`` naming
    the failed rules."""
    # The suite is a cached inner task so that its table is published on every run, cached or not.
    report = suite_task(ticker, ingested, cfg)
    create_table_artifact(
        key=artifact_key("data-validation", ticker),
        table=report.rows(),
        description=f"Data validation of {ticker} ({ingested.source}): {report.summary()} "
        f"Data Docs: {publish_validation(ticker, report, cfg, run_id)}",
    )
    report.raise_for_errors()
    return report.frame
