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


def _submitted(flow_run_id) -> list[str]:
    """Names of the flow run's task runs that the flow submitted (not called inline)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
    from flows.train import IN_FLOW_TASKS

    return [r.name for r in runs if not r.name.startswith(IN_FLOW_TASKS)]


def test_train_pipeline_fans_out_on_dask(prefect_harness, local_cluster, tmp_path: Path) -> None:
    from flows.runners import with_task_runner
    from flows.train import train_pipeline

    before = sum(_executed(local_cluster).values())
    pipeline = with_task_runner(train_pipeline, dask_address=local_cluster.scheduler_address)
    assert pipeline is not train_pipeline
    store = tmp_path / "store"
    run = {"store": str(store), "agents": ["dqn"], "seeds": [0, 1]}
    state = pipeline(**tiny(run=run, split={"folds": 1}), return_state=True)
    summary = state.result()

    # What the flow submits (preflight and the summary it calls inline): every stage of the
    # ticker, 2 trainings, 2 evaluations and the seeds' ensemble. Every one of them ran as a
    # task on the Dask workers.
    submitted = _submitted(state.state_details.flow_run_id)
    assert sorted(name.split("-")[0] for name in submitted) == [
        "baselines", "ensemble", "evaluate", "evaluate", "features", "ingest", "periods",
        "promote", "train", "train", "validate",
    ]  # fmt: skip
    ran = sum(_executed(local_cluster).values()) - before
    assert ran == len(submitted), (_executed(local_cluster), submitted)
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
