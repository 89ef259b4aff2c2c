"""The tickers x agents x seeds fan-out runs unchanged on a Dask cluster (prefect-dask)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny import tiny


@pytest.fixture
def local_cluster():
    """Two in-process Dask workers, one thread each, no dashboard."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


def _executed(cluster) -> dict[str, int]:
    """How many tasks each Dask worker ran."""
    return {name: w.state.executed_count for name, w in cluster.workers.items()}


def test_train_pipeline_fans_out_on_dask(prefect_harness, local_cluster, tmp_path: Path) -> None:
    from flows.runners import with_task_runner
    from flows.train import train_pipeline

    before = sum(_executed(local_cluster).values())
    pipeline = with_task_runner(train_pipeline, dask_address=local_cluster.scheduler_address)
    assert pipeline is not train_pipeline
    store = tmp_path / "store"
    run = {"store": str(store), "agents": ["dqn"], "seeds": [0, 1]}
    summary = pipeline(**tiny(run=run, split={"folds": 1}))

    # baselines + 2 trainings + 2 evaluations were submitted, and all ran on the Dask workers
    ran = sum(_executed(local_cluster).values()) - before
    assert ran >= 5, _executed(local_cluster)
    (ticker,) = summary["tickers"]
    # the two seeds, and their ensemble (mean of Q-values) as a candidate of its own
    assert sorted(c["seed"] for c in ticker["candidates"]) == [-1, 0, 1]
    (ensemble,) = [c for c in ticker["candidates"] if c["ensemble"]]
    assert ensemble["ensemble"] == 2 and ensemble["stats"]["members"] == "0, 1"
    card = json.loads(
        (store / "models" / "GOOGL" / "dqn" / ticker["version"] / "model_card.json").read_text()
    )
    assert card["gate"]["trials"] == 3  # both seeds and the ensemble counted in the deflation


def test_default_runner_is_left_alone() -> None:
    from flows.runners import dask_task_runner, with_task_runner
    from flows.train import train_pipeline

    assert with_task_runner(train_pipeline) is train_pipeline
    runner = dask_task_runner(n_workers=3)
    assert runner.cluster_kwargs["n_workers"] == 3
    assert runner.cluster_kwargs["processes"] is False
    with pytest.raises(ValueError, match="n_workers=0"):
        dask_task_runner(n_workers=0)
