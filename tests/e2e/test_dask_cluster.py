"""Many tickers on a real Dask cluster of separate processes (issue 26): every ticker's tasks are
submitted up front, and one ticker with bad data never blocks the others."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ops.dask_cluster import process_cluster
from tests.prefect_runs import flow_run_where
from tests.tiny import tiny

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "market"
TICKERS = ("AAPL", "MSFT", "AMZN", "GOOGL")


def _market(folder: Path, bad: str) -> None:
    """The four real vendor files under their tickers' names; ``bad``'s high < low on one day."""
    folder.mkdir()
    for ticker in TICKERS:
        frame = pd.read_csv(SHARED / f"{ticker}_2013-2023_yahoo-adjusted.csv")
        if ticker == bad:
            row = int(frame.index[frame["Date"] == "2015-03-02"][0])
            frame.loc[row, "High"] = frame.loc[row, "Low"] / 2
        frame.to_csv(folder / f"{ticker}.csv", index=False)


def test_four_tickers_on_a_process_cluster_one_bad(prefect_harness, tmp_path: Path) -> None:
    from distributed import Client
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL

    from flows.runners import with_task_runner
    from flows.train import IN_FLOW_TASKS, TickersFailed, train_pipeline

    _market(tmp_path / "market", bad="MSFT")
    store = tmp_path / "store"
    params = tiny(
        run={"store": str(store), "agents": ["dqn"]},
        data={"source": str(tmp_path / "market"), "tickers": list(TICKERS)},
    )
    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_HOME": str(tmp_path)}
    with process_cluster(2, env=env) as address:
        pipeline = with_task_runner(train_pipeline, dask_address=address)
        with pytest.raises(TickersFailed) as raised:
            pipeline(**params)
        with Client(address) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    summary = raised.value.summary
    outcomes = {t["ticker"]: t["outcome"] for t in summary["tickers"]}
    assert outcomes.pop("MSFT") == "failed", summary["tickers"]
    assert set(outcomes.values()) <= {"promoted", "not_promoted"}, outcomes
    assert len(outcomes) == 3
    assert "validate-MSFT" in str(raised.value)
    for entry in summary["tickers"]:
        if entry["ticker"] != "MSFT":  # decided on its own evidence, recorded as a version
            assert Path(entry["version_uri"], "model_card.json").is_file(), entry["ticker"]
    assert not list((store / "models").glob("MSFT"))
    assert not [p for p in store.rglob("*") if "staging" in p.parts]

    # every task the flow submitted ran on one of the two worker processes, and both worked
    with get_client(sync_client=True) as client:
        run = flow_run_where(lambda p: p.get("data", {}).get("source") == str(tmp_path / "market"))
        assert run.state.is_failed(), run.state
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    submitted = [t for t in task_runs if not t.name.startswith(IN_FLOW_TASKS)]
    assert sum(executed.values()) == len(submitted), (executed, sorted(t.name for t in submitted))
    assert len(executed) == 2 and min(executed.values()) > 0, executed
