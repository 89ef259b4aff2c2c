"""Evaluate tasks: each fold's model and the baselines on the same held-out bars, after costs."""

from __future__ import annotations

from prefect import task

from storage import StoreRef
from tasks.policies import STORE_RETRIES
from tradeforge.config import EnvConfig, EvalConfig
from tradeforge.records import Candidate, FoldResult, PolicyResult


@task(
    name="evaluate",
    task_run_name="evaluate-{candidate.ticker}-{candidate.id.agent}-seed{candidate.id.seed}-fold{candidate.fold}",
    **STORE_RETRIES,  # it reads and writes staged models and versions in the store (S3)
)
def evaluate_task(
    candidate: Candidate,
    prepared,
    env: EnvConfig,
    evaluation: EvalConfig,
    periods_per_year: int,
    store: StoreRef,
    run_id: str,
) -> FoldResult:
    """Metrics of one staged model on its fold's validation stretch (and test, last fold)."""
    from tradeforge.evaluation.stage import evaluate_fold

    return evaluate_fold(
        candidate, prepared, env, evaluation, periods_per_year, store.open(), run_id
    )


@task(
    name="ensemble",
    task_run_name="ensemble-{ticker}-{agent}-{reward}-fold{fold}",
    **STORE_RETRIES,  # it reads and writes staged models and versions in the store (S3)
)
def ensemble_task(
    ticker: str,
    agent: str,
    reward: str,
    fold: int,
    members: list[Candidate],
    prepared,
    env: EnvConfig,
    evaluation: EvalConfig,
    periods_per_year: int,
    store: StoreRef,
    run_id: str,
) -> FoldResult:
    """The seed ensemble (mean of Q-values) of one agent kind and reward on one fold."""
    from tradeforge.evaluation.stage import ensemble_fold

    return ensemble_fold(members, prepared, env, evaluation, periods_per_year, store.open(), run_id)


@task(name="baselines", task_run_name="baselines-{ticker}")
def baselines_task(
    ticker: str, prepared, env: EnvConfig, evaluation: EvalConfig, periods_per_year: int
) -> dict[str, PolicyResult]:
    """Buy-and-hold, cash, random and SMA-crossover on every fold's validation bars and the test."""
    from tradeforge.evaluation.stage import baseline_results

    return baseline_results(prepared, env, evaluation, periods_per_year)


@task(name="periods-per-year", task_run_name="periods-per-year-{ticker}")
def periods_per_year_task(ticker: str, interval: str) -> int:
    """Bars per year for annualising this ticker's metrics (asset class x interval)."""
    from tradeforge.evaluation import periods_per_year

    return periods_per_year(interval, ticker)
