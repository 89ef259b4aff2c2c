"""Train task: one model per (ticker, candidate, fold), staged in the store as a .keras file."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from storage import StoreRef
from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig
from tradeforge.records import Candidate, CandidateId
from tradeforge.report import artifact_key, training_markdown


@task(
    name="train",
    task_run_name="train-{ticker}-{cid.agent}-{cid.reward}-seed{cid.seed}-fold{fold}",
)
def train_task(
    ticker: str,
    cid: CandidateId,
    fold: int,
    prepared,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    store: StoreRef,
    run_id: str,
    work_dir: str | None = None,
) -> Candidate:
    """Train on the fold's train bars; the model never leaves the task except as a store key.

    The wall-time limit is the training's own (``dqn.max_seconds``): Prefect's task timeout
    cannot interrupt a task in a worker thread.
    """
    from tradeforge.training import train_candidate

    parts = (ticker, cid.agent, cid.reward, f"seed{cid.seed}", f"fold{fold}")
    progress_id = create_progress_artifact(
        progress=0.0,
        key=artifact_key("training-progress", *parts),
        description=f"{ticker} {cid.label} fold {fold + 1}: env steps done (%)",
    )

    def on_progress(steps: int, total: int, scalars: dict[str, float]) -> None:
        update_progress_artifact(progress_id, progress=100.0 * min(steps / total, 1.0))

    candidate = train_candidate(
        ticker,
        cid,
        prepared.folds[fold],
        env,
        dqn,
        parallel,
        store.open(),
        run_id,
        work_dir=work_dir,
        on_progress=on_progress,
    )
    create_markdown_artifact(
        key=artifact_key("training", *parts),
        markdown=training_markdown(candidate, prepared.folds[fold].boundaries),
    )
    return candidate


@task(name="clear-staging", task_run_name="clear-staging-{ticker}")
def clear_staging_task(ticker: str, store: StoreRef, run_id: str) -> int:
    """Remove the ticker's staged models of this run (after a failure: nothing is left behind)."""
    from tradeforge.training import clear_staging

    return clear_staging(store.open(), run_id, ticker)
