"""Reads of the Prefect test server that stay correct when the server is shared.

The ``prefect_harness`` fixture is one server per test process (an xdist worker runs several
modules against it), so a test must find its own flow run instead of reading every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def flow_run_where(match: Callable[[dict], bool], newest: int = 100) -> Any:
    """The one flow run among the ``newest`` whose parameters satisfy ``match``.

    Tests pass a parameter unique to them (their temporary store or source folder).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=newest)
    found = [r for r in runs if match(r.parameters)]
    assert len(found) == 1, f"{len(found)} flow runs match among the newest {len(runs)}"
    return found[0]


def artifacts_of(flow_run_id: Any) -> list:
    """Every artifact (latest version of each key) created by one flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
