"""The training pipeline as a story: ingest -> validate -> features -> train -> evaluate -> promote.

This module only chains tasks and branches on their results; every computation lives in
``tradeforge`` behind a thin task in ``tasks/``. Its parameters are the configuration sections
(``tradeforge.config``), so the Prefect UI's run form is grouped by concern, with dropdowns for
every choice. Run it with ``tradeforge train`` (ephemeral Prefect when no server is configured)
or through a deployment from ``prefect.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow
from prefect.futures import as_completed
from prefect.runtime import flow_run

from flows.hooks import NOTIFY_HOOKS
from tasks.evaluate import baselines_task, ensemble_task, evaluate_task, periods_per_year_task
from tasks.features import features_task
from tasks.ingest import ingest_task, preflight_task
from tasks.promote import promote_task, summary_task
from tasks.train import clear_staging_task, train_task
from tasks.validate import validate_task
from tradeforge import interrupt
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
from tradeforge.records import CandidateId, TickerFailure

IN_FLOW_TASKS = ("preflight", "summary", "clear-staging-", "gx-suite-")
"""Task-run name prefixes of the tasks train_pipeline calls in its own process (or that run
nested inside another task); every other task it submits to its task runner."""


class TickersFailed(RuntimeError):
    """Some tickers' tasks failed: the others were finished and promoted on their own evidence,
    and the run fails naming each failed ticker, task and cause. ``summary`` is the run's
    summary, every ticker with its outcome (the CLI prints it before the error)."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        failed = [t for t in summary["tickers"] if t["outcome"] == "failed"]
        super().__init__(
            f"{len(failed)} of {len(summary['tickers'])} ticker(s) failed, nothing promoted for "
            + ("it: " if len(failed) == 1 else "them: ")
            + "; ".join(f"{t['ticker']}: {t['reason']}" for t in failed)
        )

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:  # pickles with its summary
        return (type(self), (self.summary,))


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
    preflight_task(data.tickers, data.source, run.store, data.s3_endpoint_url)
    outcomes: dict[str, Any] = {}
    waiting = list(cfg.data.tickers)
    in_flight: dict[Any, _TickerRun] = {}
    while waiting or in_flight:
        # Every ready task of up to run.tickers_in_flight tickers is submitted at once; a
        # ticker's promotion waits only for its own candidates, and a finished ticker's futures
        # (its prepared frames) are let go before the next ticker is submitted.
        while waiting and len(in_flight) < run.tickers_in_flight:
            if interrupt.requested():  # Ctrl-C: start no further ticker
                for ticker in waiting:
                    outcomes[ticker] = TickerFailure(
                        ticker=ticker, failures=["not started: interrupted (Ctrl-C)"]
                    )
                waiting.clear()
                break
            ticker_run = _submit_ticker(waiting.pop(0), cfg, run_id)
            in_flight[ticker_run.promoted] = ticker_run
        if not in_flight:
            break
        done = next(as_completed(list(in_flight)))
        ticker_run = in_flight.pop(done)
        outcomes[ticker_run.ticker] = _outcome(ticker_run, cfg.store_ref(), run_id)
    ordered = [outcomes[ticker] for ticker in cfg.data.tickers]
    summary = summary_task(
        [o for o in ordered if not isinstance(o, TickerFailure)],
        cfg,
        failures=[o for o in ordered if isinstance(o, TickerFailure)],
    )
    if summary["failed"]:
        raise TickersFailed(summary)
    return summary


@dataclass
class _TickerRun:
    """One ticker's submitted tasks: every future, and the promotion that ends them."""

    ticker: str
    futures: list[Any]
    promoted: Any


def _submit_ticker(ticker: str, cfg: PipelineConfig, run_id: str) -> _TickerRun:
    """Submit every task of one ticker, each waiting only on the futures it reads."""
    data, run, split, env = cfg.data, cfg.run, cfg.split, cfg.env
    store = cfg.store_ref()
    ingested = ingest_task.submit(ticker, data, store if data.source == "yahoo" else None)
    frame = validate_task.submit(ticker, ingested, data.interval, store, run_id, cfg.validation)
    prepared = features_task.submit(ticker, frame, cfg.features, split, env.window)
    ppy = periods_per_year_task.submit(ticker, data.interval)
    baselines = baselines_task.submit(ticker, prepared, env, cfg.evaluation, ppy)
    candidates = [
        CandidateId(agent=agent, seed=seed, reward=reward)
        for agent in run.agents
        for reward in cfg.rewards
        for seed in run.seeds
    ]
    trained = {
        (cid, fold): train_task.submit(
            ticker, cid, fold, prepared, env, cfg.dqn, cfg.parallel, store, run_id, run.work_dir
        )
        for cid in candidates
        for fold in range(split.folds)
    }
    evaluated = [
        evaluate_task.submit(ref, prepared, env, cfg.evaluation, ppy, store, run_id)
        for ref in trained.values()
    ]
    if len(run.seeds) > 1:  # each agent kind's seeds, averaged, is a candidate of its own
        groups: dict[tuple[str, str, int], list[Any]] = {}
        for (cid, fold), ref in trained.items():
            groups.setdefault((cid.agent, cid.reward, fold), []).append(ref)
        evaluated += [
            ensemble_task.submit(
                ticker, agent, reward, fold, members, prepared, env, cfg.evaluation, ppy,
                store, run_id,
            )
            for (agent, reward, fold), members in groups.items()
        ]  # fmt: skip
    promoted = promote_task.submit(
        ticker, evaluated, baselines, prepared, ingested, cfg, store, run_id, ppy
    )
    futures = [ingested, frame, prepared, ppy, baselines, *trained.values(), *evaluated]
    return _TickerRun(ticker, futures, promoted)


def _outcome(ticker_run: _TickerRun, store: Any, run_id: str) -> Any:
    """The ticker's promotion decision; or, when any of its tasks failed, its staged files
    removed and a failure naming each failed task and its cause."""
    for future in [*ticker_run.futures, ticker_run.promoted]:
        future.wait()  # all are done; this keeps each final state (and its data) on the future
    if ticker_run.promoted.state.is_completed():
        return ticker_run.promoted.result()
    failures = [
        f"{_name(future)}: {_cause(future.state)}"
        for future in [*ticker_run.futures, ticker_run.promoted]
        if future.state.is_failed() or future.state.is_crashed()
    ]
    if not failures:  # cancelled, or a state no task of ours ends in: say what it was
        failures = [f"promote-{ticker_run.ticker}: {_cause(ticker_run.promoted.state)}"]
    clear_staging_task(ticker_run.ticker, store, run_id)
    return TickerFailure(ticker=ticker_run.ticker, failures=failures)


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
