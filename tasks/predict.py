"""Predict tasks: read the verified champion, then its action for the latest bar."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact

from storage.errors import StoreUnavailable
from tradeforge.inference import champion_info, predict_latest
from tradeforge.report import artifact_key


def _store_was_away(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the store could not be reached; no champion or a bad checksum is final."""
    return isinstance(state.data, StoreUnavailable)


#: ``@task(**STORE_AWAY_RETRIES)``: retried twice only when the store could not be reached.
STORE_AWAY_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [5, 20],
    "retry_condition_fn": _store_was_away,
}


@task(name="champion", task_run_name="champion-{ticker}", **STORE_AWAY_RETRIES)
def champion_task(ticker: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """The ticker's champion with every file checked against its sha256."""
    return champion_info(ticker, store, endpoint_url=endpoint_url)


@task(
    name="predict",
    task_run_name="predict-{champion[ticker]}",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_store_was_away,
)
def predict_task(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    position: str = "flat",
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The champion's action for the latest bar, published as a Markdown artifact."""
    result = predict_latest(frame, champion, store, position=position, endpoint_url=endpoint_url)
    create_markdown_artifact(
        key=artifact_key("prediction", result["ticker"]),
        markdown=(
            f"# {result['ticker']} {result['timestamp']}: **{result['action_name']}**\n\n"
            f"- close {result['close']:.4f}, position held {result['position']}\n"
            f"- Q-values {result['q_values']}\n"
            f"- champion `{result['version_id']}` ({result['agent']}) at `{result['version_uri']}`"
        ),
    )
    return result
