"""Trainings never overlap: prefect.yaml's limits as a real Prefect server registers them.

Starts only a Prefect server (PREFECT_HOME in a temporary folder, free port on 127.0.0.1), runs
`make up`'s own steps (ensure_pool, deploy_all), then reads the deployments and the work queue
back from the API. No worker, no S3, no training.
"""

from __future__ import annotations

import pytest

from ops.stack import (
    TRAINING_QUEUE,
    StackConfig,
    api,
    deploy_all,
    ensure_pool,
    prefect_server_service,
    start_service,
    stop_service,
)
from tests.ports import start_on_free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("stack")

    def start_server(ports: list[int]) -> StackConfig:
        # the S3 port is only named in the deployments' environment: nothing binds it
        cfg = StackConfig(
            state_dir=state_dir, prefect_port=ports[0], s3_port=ports[1], s3_keys=("unused",) * 2
        )
        start_service(prefect_server_service(cfg), cfg.logs, cfg.pids)
        return cfg

    cfg = StackConfig(state_dir=state_dir)  # only its folders, for the finally below
    try:
        cfg = start_on_free_ports(start_server, 2)
        ensure_pool(cfg)
        ensure_pool(cfg)  # idempotent: a second `make up` keeps the queue and its limit
        deploy_all(cfg)
        yield cfg
    finally:
        stop_service("prefect-server", cfg.pids)


def test_training_queue_runs_one_flow_at_a_time(deployed: StackConfig) -> None:
    pool = deployed.pool
    queues = api(deployed, f"/work_pools/{pool}/queues/filter", {})
    (training,) = [q for q in queues if q["name"] == TRAINING_QUEUE]
    assert training["concurrency_limit"] == 1


def test_training_deployments_are_limited_and_share_the_queue(deployed: StackConfig) -> None:
    deployments = {d["name"]: d for d in api(deployed, "/deployments/filter", {})}
    for name in ("nightly", "manual", "dask"):
        d = deployments[name]
        assert d["work_queue_name"] == TRAINING_QUEUE, name
        limit = d.get("global_concurrency_limit") or {}
        assert limit.get("limit") == 1 and limit.get("active") is True, (name, limit)
        options = d.get("concurrency_options") or {}
        assert options.get("collision_strategy") == "ENQUEUE", (name, options)
    assert deployments["daily"]["work_queue_name"] != TRAINING_QUEUE
