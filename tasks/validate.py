"""Validate task: the great-expectations contract; bad data stops the run here, before training."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact

from storage import StoreRef
from tasks.policies import PURE_CACHE
from tradeforge.config import ValidationConfig
from tradeforge.report import artifact_key


@task(name="gx-suite", task_run_name="gx-suite-{ticker}", cache_policy=PURE_CACHE)
def suite_task(ticker: str, ingested, interval: str, rules: ValidationConfig):
    """The great-expectations run itself: unchanged bars are served from cache."""
    from tradeforge.validation import validate

    return validate(
        ingested.frame,
        interval=interval,
        notes=ingested.notes,
        max_stale_bars=rules.max_stale_bars,
        splits=rules.splits_for(ticker),
        suspected_splits=rules.suspected_splits,
    )


@task(name="validate", task_run_name="validate-{ticker}")
def validate_task(
    ticker: str,
    ingested,
    interval: str,
    store: StoreRef,
    run_id: str,
    rules: ValidationConfig = ValidationConfig(),  # noqa: B008 - frozen
    docs: bool = True,
) -> pd.DataFrame:
    """Run the suite, publish its table and Data Docs, raise ``DataValidationError`` naming
    the failed rules. ``docs=False`` renders the Data Docs page only when the contract fails
    (the paper flow's daily windows: the table artifact says the rest)."""
    from tradeforge.validation.stage import publish_validation

    # The suite is a cached inner task so that its table is published on every run, cached or not.
    report = suite_task(ticker, ingested, interval, rules)
    folder, docs_url = publish_validation(ticker, report, store.open(), run_id, docs=docs)
    if docs_url:
        link = f"[Data Docs]({docs_url})"
    else:
        link = "no Data Docs (not OHLCV)" if report.gx_result is None else "no Data Docs (passed)"
    create_table_artifact(
        key=artifact_key("data-validation", ticker),
        table=report.rows(),
        description=f"Data validation of {ticker} ({ingested.source}): {report.summary()} "
        f"{link}; report in {folder}",
    )
    report.raise_for_errors()
    return report.frame
