"""prefect.yaml: training deployments never overlap on one machine."""

from __future__ import annotations

from pathlib import Path

import yaml

from ops.stack import TRAINING_QUEUE, TRAINING_QUEUE_LIMIT

ROOT = Path(__file__).resolve().parents[1]
TRAINING_ENTRYPOINTS = (
    "flows/train.py:train_pipeline",
    "flows/runners.py:train_pipeline_dask",
    "flows/portfolio.py:portfolio_pipeline",
)


def _deployments() -> list:
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return PrefectYamlModel.model_validate(raw).deployments  # Prefect's own reading of the file


def test_every_training_deployment_is_limited_to_one_run_and_queued() -> None:
    training = [d for d in _deployments() if d.entrypoint in TRAINING_ENTRYPOINTS]
    assert {d.name for d in training} == {"nightly", "manual", "dask", "weekly"}
    for deployment in training:
        limit = deployment.concurrency_limit
        assert limit is not None, deployment.name
        assert (limit.limit, limit.collision_strategy) == (1, "ENQUEUE"), deployment.name
        # One shared queue, limited to one run by `make up`: no two trainings at once at all.
        assert deployment.work_pool.work_queue_name == TRAINING_QUEUE, deployment.name
    assert TRAINING_QUEUE_LIMIT == 1


def test_predict_is_not_held_back_by_training() -> None:
    (predict,) = [d for d in _deployments() if d.entrypoint == "flows/predict.py:predict"]
    assert predict.work_pool.work_queue_name != TRAINING_QUEUE
    assert predict.concurrency_limit is None


def test_paper_trades_after_the_close_and_before_the_nightly_retraining() -> None:
    by_entry = {d.entrypoint: d for d in _deployments()}
    paper = by_entry["flows/paper.py:paper_pipeline"]
    nightly = next(d for d in _deployments() if d.name == "nightly")
    assert paper.name == "daily" and paper.work_pool.work_queue_name != TRAINING_QUEUE

    def minutes(d) -> int:
        (schedule,) = d.schedules
        minute, hour = schedule.cron.split()[:2]
        assert schedule.timezone == "America/New_York"
        return int(hour) * 60 + int(minute)

    assert 16 * 60 < minutes(paper) < minutes(nightly)


def test_the_weekly_portfolio_deployment_passes_valid_sections() -> None:
    """Its parameters validate as the flow's sections (a typo would fail the Saturday run)."""
    from tradeforge.config import PipelineConfig

    (weekly,) = [d for d in _deployments() if d.name == "weekly"]
    assert weekly.entrypoint == "flows/portfolio.py:portfolio_pipeline"
    cfg = PipelineConfig.model_validate(weekly.parameters)
    assert len(cfg.portfolio.tickers) == 7 and cfg.portfolio.universe_name == "mag7"
