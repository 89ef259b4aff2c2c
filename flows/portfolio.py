"""The portfolio pipeline as a story (issue 27): ingest and validate every ticker of the
universe with the single-ticker contract -> align them on one calendar -> features and
walk-forward folds per asset -> train the allocators (agent kind x seed x fold) and fit the
baselines per fold -> gate on pooled validation against cash, 1/N and the
universe's champion, publish the version, promote it if earned -> summary.

Only chains tasks. A ticker that fails its contract, a universe that cannot be aligned, or a
universe name whose champion holds other tickers stops the run with ``UniverseError`` naming
it, before anything is trained.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.hooks import NOTIFY_HOOKS
from tasks.ingest import ingest_task, preflight_task
from tasks.portfolio import (
    portfolio_baselines_task,
    portfolio_features_task,
    portfolio_gate_task,
    portfolio_name_task,
    portfolio_train_task,
    universe_task,
)
from tasks.validate import validate_task
from tradeforge.config import (
    DataConfig,
    DQNConfig,
    EnvConfig,
    EvalConfig,
    FeatureConfig,
    ParallelConfig,
    PipelineConfig,
    PortfolioConfig,
    PromotionConfig,
    RunConfig,
    SplitConfig,
    ValidationConfig,
)
from tradeforge.portfolio import UniverseError
from tradeforge.portfolio.report import portfolio_summary


@flow(name="portfolio", log_prints=True, **NOTIFY_HOOKS)
def portfolio_pipeline(
    portfolio: PortfolioConfig = PortfolioConfig(tickers=("AAPL", "MSFT")),  # noqa: B008 - frozen
    run: RunConfig = RunConfig(),  # noqa: B008
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
    """Allocate across ``portfolio.tickers`` and cash. Each argument is one configuration
    section (``tradeforge.config``); ``data.tickers`` is replaced by the universe."""
    if not portfolio.enabled:
        raise UniverseError("portfolio.tickers: empty; name the universe, e.g. AAPL,MSFT,NVDA")
    data = data.replace(tickers=portfolio.tickers)
    cfg = PipelineConfig(
        run=run, data=data, validation=validation, split=split, features=features, env=env,
        dqn=dqn, parallel=parallel, evaluation=evaluation, promotion=promotion,
        portfolio=portfolio,
    )  # fmt: skip
    # A resumed run reuses the interrupted run's id: its trainings find their checkpoints.
    run_id = run.resume or flow_run.get_id() or "local"
    preflight_task(data.tickers, data.source, run.store, data.s3_endpoint_url)
    portfolio_name_task(portfolio, cfg.store_ref())
    universe = universe_task(_validated_frames(cfg, run_id), portfolio)
    prepared = portfolio_features_task(universe, features, split, env.window)
    baselines = portfolio_baselines_task.submit(prepared, env, portfolio)
    trained = [
        portfolio_train_task.submit(
            agent, seed, fold, prepared, env, dqn, parallel, portfolio, run.work_dir, run_id
        )
        for agent in run.agents
        for seed in run.seeds
        for fold in range(split.folds)
    ]
    decision = portfolio_gate_task(
        [t.result() for t in trained], baselines.result(), prepared, universe, cfg, run_id
    )
    return portfolio_summary(portfolio.universe_name, universe, prepared.boundaries, decision)


def _validated_frames(cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Every ticker ingested and validated side by side; any failure stops the run naming each
    failed ticker and why (``UniverseError``), nothing trained."""
    data, store = cfg.data, cfg.store_ref()
    futures = {}
    for ticker in data.tickers:
        ingested = ingest_task.submit(ticker, data, store if data.source == "yahoo" else None)
        futures[ticker] = validate_task.submit(
            ticker, ingested, data.interval, store, run_id, cfg.validation
        )
    frames, failed = {}, []
    for ticker, future in futures.items():
        future.wait()
        try:
            frames[ticker] = future.result()
        except Exception as exc:
            failed.append(f"{ticker}: {type(exc).__name__}: {exc}")
    if failed:
        raise UniverseError(
            f"universe {cfg.portfolio.universe_name}: {len(failed)} of {len(data.tickers)} "
            "ticker(s) failed ingest or the data contract, nothing trained: " + "; ".join(failed)
        )
    return frames
