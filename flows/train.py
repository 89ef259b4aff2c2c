"""The training pipeline as a story: ingest -> validate -> features -> train -> evaluate -> promote.

This module only chains tasks and branches on their results; every computation lives in
``tradeforge`` behind a thin task in ``tasks/``. Its parameters are the configuration sections
(``tradeforge.config``), so the Prefect UI's run form is grouped by concern, with dropdowns for
every choice. Run it with ``tradeforge train`` (ephemeral Prefect when no server is configured)
or through a deployment from ``prefect.yaml``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.hooks import NOTIFY_HOOKS
from tasks.evaluate import baselines_task, ensemble_task, evaluate_task, periods_per_year_task
from tasks.features import features_task
from tasks.ingest import ingest_task, preflight_task
from tasks.promote import promote_task, summary_task
from tasks.train import clear_staging_task, train_task
from tasks.validate import validate_task
from tradeforge.config import (
    DataConfig,
    DQNConfig,
    EnvConfig,
    EvalConfig,
    FeatureConfig,
    ParallelConfig,
    PipelineConfig,
    PromotionConfig,
    RunConfig,
    SplitConfig,
    ValidationConfig,
)
from tradeforge.records import CandidateId


class CandidateFailed(RuntimeError):
    """One or more trainings or evaluations of a ticker failed: the run fails, naming them."""


@flow(name="train_pipeline", log_prints=True, **NOTIFY_HOOKS)
def train_pipeline(
    run: RunConfig = RunConfig(),  # noqa: B008 - frozen models: safe defaults
    data: DataConfig = DataConfig(),  # noqa: B008
    validation: ValidationConfig = ValidationConfig(),  # noqa: B008
    split: SplitConfig = SplitConfig(),  # noqa: B008
    features: FeatureConfig = FeatureConfig(),  # noqa: B008
    env: EnvConfig = EnvConfig(),  # noqa: B008
    dqn: DQNConfig = DQNConfig(),  # noqa: B008
    parallel: ParallelConfig = ParallelConfig(),  # noqa: B008
    evaluation: EvalConfig = EvalConfig(),  # noqa: B008
    promotion: PromotionConfig = PromotionConfig(),  # noqa: B008
) -> dict[str, Any]:
    """Train DQN / ParallelDQN agents per (ticker, agent, seed, reward) on walk-forward folds,
    evaluate them against baselines on the pooled validation bars, and promote the best only
    if it shows a measured edge (deflated Sharpe) over cash, buy-and-hold and the champion.

    Each argument is one section of the configuration (see ``tradeforge.config``).
    """
    cfg = PipelineConfig(
        run=run,
        data=data,
        validation=validation,
        split=split,
        features=features,
        env=env,
        dqn=dqn,
        parallel=parallel,
        evaluation=evaluation,
        promotion=promotion,
    )
    # A resumed run reuses the interrupted run's id: its trainings find their checkpoints.
    run_id = run.resume or flow_run.get_id() or "local"
    store = cfg.store_ref()
    candidates = [
        CandidateId(agent=agent, seed=seed, reward=reward)
        for agent in cfg.run.agents
        for reward in cfg.rewards
        for seed in cfg.run.seeds
    ]
    preflight_task(data.tickers, data.source, run.store, data.s3_endpoint_url)
    decisions = []
    for ticker in cfg.data.tickers:
        ingested = ingest_task(ticker, data, store if data.source == "yahoo" else None)
        frame = validate_task(ticker, ingested, data.interval, store, run_id, validation)
        prepared = features_task(ticker, frame, features, split, env.window)
        ppy = periods_per_year_task(ticker, data.interval)
        baselines = baselines_task.submit(ticker, prepared, env, evaluation, ppy)
        trained = [
            train_task.submit(
                ticker, cid, fold, prepared, env, dqn, parallel, store, run_id, run.work_dir
            )
            for cid in candidates
            for fold in range(split.folds)
        ]
        refs = _all_or_fail(ticker, trained, store, run_id)
        evaluated = [
            evaluate_task.submit(ref, prepared, env, evaluation, ppy, store, run_id) for ref in refs
        ]
        if len(run.seeds) > 1:  # each agent kind's seeds, averaged, is a candidate of its own
            evaluated += [
                ensemble_task.submit(
                    ticker, agent, reward, fold, members, prepared, env, evaluation, ppy,
                    store, run_id,
                )
                for (agent, reward, fold), members in _seed_groups(refs).items()
            ]  # fmt: skip
        results = _all_or_fail(ticker, evaluated, store, run_id)
        decisions.append(
            promote_task(
                ticker, results, baselines.result(), prepared, ingested, cfg, store, run_id, ppy
            )
        )
    return summary_task(decisions, cfg)


def _seed_groups(refs: list[Any]) -> dict[tuple[str, str, int], list[Any]]:
    """Trained candidates grouped by (agent kind, reward, fold): the members of an ensemble."""
    groups: dict[tuple[str, str, int], list[Any]] = {}
    for ref in refs:
        groups.setdefault((ref.id.agent, ref.id.reward, ref.fold), []).append(ref)
    return groups


def _all_or_fail(ticker: str, futures: list[Any], store: Any, run_id: str) -> list[Any]:
    """Every future's result; or, when any failed, the staged files of the ticker are removed
    and one error names each failed task and its cause."""
    results, failures = [], []
    for future in futures:
        future.wait()
        state = future.state
        if state.is_completed():
            results.append(future.result())
        else:
            failures.append(f"{_name(future)}: {_cause(state)}")
    if failures:
        clear_staging_task(ticker, store, run_id)
        raise CandidateFailed(
            f"{ticker}: {len(failures)} of {len(futures)} candidate model(s) failed, nothing "
            "promoted: " + "; ".join(failures)
        )
    return results


def _name(future: Any) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_task_run(future.task_run_id).name


def _cause(state: Any) -> str:
    try:
        state.result()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return state.message or state.name
