"""Train task: one agent per (ticker, agent kind, seed), staged in the store as a .keras file."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from tradeforge.config import PipelineConfig
from tradeforge.pipeline import TrainedRef, run_training
from tradeforge.report import artifact_key, training_markdown


@task(name="train", task_run_name="train-{ticker}-{kind}-seed{seed}")
def train_task(
    ticker: str, kind: str, seed: int, prepared, cfg: PipelineConfig, run_id: str
) -> TrainedRef:
    """Train on the train window; the model never leaves the task except as a store key.

    The wall-time limit is the training's own (``cfg.dqn.max_seconds``, the flow's
    ``train_timeout``): Prefect's task timeout cannot interrupt a task in a worker thread.
    """
    progress_id = create_progress_artifact(
        progress=0.0,
        key=artifact_key("training-progress", ticker, kind, f"seed{seed}"),
        description=f"{ticker} {kind} seed {seed}: env steps done (%)",
    )

    def on_progress(steps: int, total: int, scalars: dict[str, float]) -> None:
        update_progress_artifact(progress_id, progress=100.0 * min(steps / total, 1.0))

    ref = run_training(ticker, kind, seed, prepared, cfg, run_id, on_progress=on_progress)
    create_markdown_artifact(
        key=artifact_key("training", ticker, kind, f"seed{seed}"),
        markdown=training_markdown(ref, prepared.boundaries),
    )
    return ref
