"""Task runners for the tickers x agents x seeds fan-out: the same flow, locally or on Dask.

``train_pipeline`` is written once; where its submitted tasks execute is chosen here, not in the
flow: Prefect's default thread-pool runner (``tradeforge train``), a temporary Dask
``LocalCluster`` (``tradeforge train --dask``) or an existing Dask cluster of any size
(``--dask-address tcp://scheduler:8786``, or ``TRADEFORGE_DASK_ADDRESS`` for deployments).
Growing from one machine to many means starting more Dask workers or Prefect workers, not
changing code; there is no home-made cluster code here, only prefect-dask's ``DaskTaskRunner``.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import Flow
from prefect.task_runners import TaskRunner

DASK_ADDRESS_ENV = "TRADEFORGE_DASK_ADDRESS"
DASK_WORKERS_ENV = "TRADEFORGE_DASK_WORKERS"


def dask_task_runner(address: str | None = None, *, n_workers: int | None = None) -> TaskRunner:
    """A ``DaskTaskRunner`` on the cluster at ``address``, or on a temporary ``LocalCluster``.

    The local cluster runs ``n_workers`` single-threaded workers in this process (threads, not
    processes: TensorFlow releases the GIL in its kernels, and in-process workers share the flow
    run's Prefect API settings, including ephemeral mode). Its dashboard is off: it would bind a
    public port. Tasks on a remote cluster must reach the same Prefect API and store.
    """
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    workers = n_workers if n_workers is not None else int(os.environ.get(DASK_WORKERS_ENV, "2"))
    if workers < 1:
        raise ValueError(f"n_workers={workers}: a Dask LocalCluster needs at least one worker")
    cluster_kwargs: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": False,
        "dashboard_address": None,
    }
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster_kwargs)


def with_task_runner(flow: Flow, *, dask: bool = False, dask_address: str | None = None) -> Flow:
    """``flow`` unchanged (Prefect's default runner) or a copy that fans out on Dask."""
    if not dask and not dask_address:
        return flow
    return flow.with_options(task_runner=dask_task_runner(dask_address))


def _dask_pipeline() -> Flow:
    from flows.train import train_pipeline

    return with_task_runner(
        train_pipeline, dask=True, dask_address=os.environ.get(DASK_ADDRESS_ENV)
    )


train_pipeline_dask: Flow = _dask_pipeline()
"""``train_pipeline`` on Dask, for deployments (prefect.yaml's ``dask``): the cluster at
``TRADEFORGE_DASK_ADDRESS`` in the worker's environment, else a LocalCluster per flow run."""
