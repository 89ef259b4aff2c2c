"""Train task: one agent per (ticker, agent kind, seed), staged in the store as a .keras file."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from tradeforge.config import PipelineConfig
from tradeforge.pipeline import TrainedRef, run_training
from tradeforge.report import artifact_key, training_markdown


@task(
    name="train",
    task_run_name="train-{ticker}-{kind}-seed{seed}",
    timeout_seconds=6 * 3600,  # a stuck training must not hold a worker forever
)
def train_task(
    ticker: str, kind: str, seed: int, prepared, cfg: PipelineConfig, run_id: str
) -> TrainedRef:
    """Train on the train window; the model never leaves the task except as a store key."""
    ref = run_training(ticker, kind, seed, prepared, cfg, run_id)
    create_markdown_artifact(
        key=artifact_key("training", ticker, kind, f"seed{seed}"),
        markdown=training_markdown(ref, prepared.boundaries),
    )
    return ref
