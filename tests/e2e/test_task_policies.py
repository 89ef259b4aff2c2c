"""Task-level operations under a real (temporary) Prefect API: retries and cache policies."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from importlib import metadata
from pathlib import Path

import pytest

from storage.errors import PreconditionFailed, StoreUnavailable
from tasks.policies import (
    NETWORK_RETRY_DELAYS,
    RETRY_JITTER,
    is_transient,
    retry_if_transient,
    source_fingerprint,
)
from tradeforge.data.errors import DataFormatError, YahooNoData, YahooUnavailable

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "market"
SPY = SHARED / "SPY_2010-2017_yahoo.csv"


def test_only_network_type_failures_are_transient() -> None:
    assert is_transient(StoreUnavailable("s3://b/k: connection refused"))
    assert is_transient(YahooUnavailable("SPY: rate limited, 5 tries over 30 s"))
    assert not is_transient(YahooNoData("XYZQ: no bars (unknown or delisted ticker)"))
    assert is_transient(TimeoutError())
    try:  # a wrapped network error counts through its cause
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError as inner:
            raise RuntimeError("fetch failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert not is_transient(DataFormatError("SPY.csv row 3: high 1.0 < low 2.0"))
    assert not is_transient(PreconditionFailed("champion moved"))
    assert not is_transient(ValueError("bad"))
    assert not is_transient(None)


def test_source_fingerprint_follows_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    shutil.copy(SPY, path)
    first = source_fingerprint(str(path))
    assert first == source_fingerprint(str(path))
    with path.open("a") as handle:
        handle.write("\n")
    os.utime(path, ns=(1, 1))
    assert source_fingerprint(str(path)) != first
    day = dt.date(2026, 11, 24)
    assert source_fingerprint("yahoo", day) != source_fingerprint("yahoo", day + dt.timedelta(1))
    assert source_fingerprint("s3://market/daily") is None
    assert source_fingerprint(str(tmp_path / "missing.csv")) is None


def test_folder_fingerprint_changes_with_any_file_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "market"
    folder.mkdir()
    shutil.copy(SPY, folder / "SPY.csv")
    first = source_fingerprint(str(folder))
    assert first is not None and first == source_fingerprint(str(folder))
    (folder / "QQQ.csv").write_text("Date,Open,High,Low,Close,Volume\n")  # a file added
    added = source_fingerprint(str(folder))
    assert added != first
    with (folder / "SPY.csv").open("a") as handle:  # a file's content changed
        handle.write("\n")
    assert source_fingerprint(str(folder)) not in (first, added)


def test_demo_fingerprint_changes_with_the_package_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks import policies

    installed = source_fingerprint("demo")
    assert installed == f"demo:gym-anytrading=={metadata.version('gym-anytrading')}"
    real_version = policies.metadata.version
    monkeypatch.setattr(
        policies.metadata,
        "version",
        lambda name: "99.0.0" if name == "gym-anytrading" else real_version(name),
    )
    assert source_fingerprint("demo") == "demo:gym-anytrading==99.0.0" != installed


@pytest.mark.parametrize("name", ["ingest", "evaluate", "ensemble", "promote"])
def test_the_real_io_tasks_retry_transient_failures_with_growing_delays(name: str) -> None:
    """The tasks that read Yahoo or the store: the condition of the test below, and its delays."""
    from tasks.evaluate import ensemble_task, evaluate_task
    from tasks.ingest import ingest_task
    from tasks.promote import promote_task

    real = {
        "ingest": ingest_task,
        "evaluate": evaluate_task,
        "ensemble": ensemble_task,
        "promote": promote_task,
    }[name]
    assert real.retry_condition_fn is retry_if_transient
    assert real.retries >= 2
    assert real.retry_delay_seconds == NETWORK_RETRY_DELAYS == [5, 20, 60]
    assert real.retry_jitter_factor == RETRY_JITTER > 0


def test_retries_only_transient_failures(prefect_harness) -> None:
    from prefect import flow, task

    calls: list[str] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_transient)
    def flaky(kind: str) -> str:
        calls.append(kind)
        if kind == "network" and calls.count(kind) == 1:
            raise StoreUnavailable("s3://tradeforge/models/x: connection refused")
        if kind == "bad-input":
            raise DataFormatError("SPY.csv row 3: high 1.0 < low 2.0")
        return kind

    @flow
    def run(kind: str) -> str:
        return flaky(kind)

    assert run("network") == "network"
    assert calls.count("network") == 2  # failed once, retried once
    with pytest.raises(DataFormatError, match="row 3"):
        run("bad-input")
    assert calls.count("bad-input") == 1  # never retried


def _spy_config(tmp_path: Path, **sections: dict):
    from tradeforge.config import PipelineConfig

    source = tmp_path / "SPY.csv"
    if not source.exists():
        shutil.copy(SPY, source)
    values = {
        "data": {
            "tickers": ["SPY"],
            "source": str(source),
            "start": "2012-01-01",
            "end": "2015-01-01",
        },
        "split": {"val_start": "2014-01-01", "test_start": "2014-07-01", "folds": 1},
        "run": {"store": str(tmp_path / "store")},
        "env": {"window": 5},
    }
    for name, fields in sections.items():
        values.setdefault(name, {}).update(fields)
    return PipelineConfig.model_validate(values)


def _suite_states(flow_run_ids: list) -> list[str]:
    """States of the cached great-expectations inner task in these flow runs, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": flow_run_ids}),
            task_run_filter=TaskRunFilter(name={"any_": ["gx-suite-SPY"]}),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    return [run.state.name for run in runs]


def test_unchanged_ingest_validate_features_are_served_from_cache(
    prefect_harness, tmp_path: Path
) -> None:
    from prefect import flow
    from prefect.runtime import flow_run

    from tasks.features import features_task
    from tasks.ingest import ingest_task
    from tasks.train import train_task
    from tasks.validate import validate_task
    from tradeforge.records import CandidateId

    cfg = _spy_config(tmp_path)
    ticker = cfg.data.tickers[0]
    run_ids: list[str] = []  # this test's runs only: other tests validate SPY too

    @flow
    def stages(cfg) -> tuple[str, str, str]:
        """The pipeline's first stages and one training, each given only its own sections."""
        run_ids.append(flow_run.get_id())
        store = cfg.store_ref()
        ingested = ingest_task(ticker, cfg.data, None, return_state=True)
        frame = validate_task(ticker, ingested.result(), cfg.data.interval, store, "cache-test")
        prepared = features_task(
            ticker, frame, cfg.features, cfg.split, cfg.env.window, return_state=True
        )
        cid = CandidateId(agent="dqn", seed=0, reward="simple")
        trained = train_task(
            ticker,
            cid,
            0,
            prepared.result(),
            cfg.env,
            cfg.dqn,
            cfg.parallel,
            store,
            "cache-test",
            return_state=True,
        )
        return ingested.name, prepared.name, trained.name

    small = {"dqn": {"total_steps": 200, "num_envs": 2}}
    assert stages(_spy_config(tmp_path, **small)) == ("Completed", "Completed", "Completed")
    assert stages(_spy_config(tmp_path, **small)) == ("Cached", "Cached", "Completed")
    # A new training budget (or promotion rule) re-trains, but data and features stay cached.
    bigger = _spy_config(
        tmp_path, dqn={"total_steps": 300, "num_envs": 2}, promotion={"confidence": 0.99}
    )
    assert stages(bigger) == ("Cached", "Cached", "Completed")
    os.utime(Path(cfg.data.source), ns=(1, 1))  # the file "changed": ingest runs again
    assert stages(bigger)[:2] == ("Completed", "Cached")  # same bars in, same features out
    assert _suite_states(run_ids) == ["Completed", "Cached", "Cached", "Cached"]


def test_training_timeout_stops_a_long_training(prefect_harness, tmp_path: Path) -> None:
    from prefect import flow

    from tasks.features import features_task
    from tasks.ingest import ingest_task
    from tasks.train import train_task
    from tradeforge.records import CandidateId

    cfg = _spy_config(tmp_path, dqn={"total_steps": 10_000_000, "num_envs": 2, "max_seconds": 3})
    ticker = cfg.data.tickers[0]

    @flow
    def train_briefly() -> tuple[str, str]:
        frame = ingest_task(ticker, cfg.data).frame
        prepared = features_task(ticker, frame, cfg.features, cfg.split, cfg.env.window)
        # Submitted, as the pipeline does: it runs in a worker thread, which Prefect's own
        # task timeout cannot interrupt; the training's own deadline stops it.
        cid = CandidateId(agent="dqn", seed=0, reward="simple")
        future = train_task.submit(
            ticker,
            cid,
            0,
            prepared,
            cfg.env,
            cfg.dqn,
            cfg.parallel,
            cfg.store_ref(),
            "timeout-test",
        )
        future.wait()
        return future.state.name, future.state.message or ""

    name, message = train_briefly()
    assert name == "TimedOut", message  # Prefect files a TimeoutError under TimedOut
    assert "exceeded its limit of 3 s" in message, message
    # Nothing was staged for the timed-out training.
    assert not (tmp_path / "store" / "staging").exists()


TASK_MODULE = """
from prefect import task

from tasks.policies import PURE_CACHE


@task(cache_policy=PURE_CACHE)
def scale(values: list[float]) -> list[float]:
    return [v * {factor} for v in values]
"""


def test_a_code_change_invalidates_the_cache(
    prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PURE_CACHE (validate's and features' policy): same inputs and same code are served from
    cache; the same inputs after an edit of the task's code run again, with the new code."""
    import importlib
    import sys

    from prefect import flow

    module = tmp_path / "edited_task.py"
    module.write_text(TASK_MODULE.format(factor=2))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # reload reads the edited source
    monkeypatch.delitem(sys.modules, "edited_task", raising=False)
    edited = importlib.import_module("edited_task")

    @flow
    def run() -> tuple[str, list[float]]:
        state = edited.scale([1.0, 2.0], return_state=True)
        return state.name, state.result()

    assert run() == ("Completed", [2.0, 4.0])
    assert run() == ("Cached", [2.0, 4.0])
    module.write_text(TASK_MODULE.format(factor=10))  # the task's code changes
    edited = importlib.reload(edited)
    assert run() == ("Completed", [10.0, 20.0])
    assert run() == ("Cached", [10.0, 20.0])
