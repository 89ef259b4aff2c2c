"""Portfolio tasks (issue 27): the universe on one calendar, with its alignment report."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.policies import PURE_CACHE, STORE_RETRIES
from tradeforge.config import (
    DQNConfig,
    EnvConfig,
    FeatureConfig,
    ParallelConfig,
    PipelineConfig,
    PortfolioConfig,
    SplitConfig,
)
from tradeforge.report import artifact_key


@task(name="portfolio-name", task_run_name="portfolio-name-{portfolio.universe_name}")
def portfolio_name_task(portfolio: PortfolioConfig, store) -> None:
    """Refuse, before any data is read, a universe name whose champion holds other tickers."""
    from tradeforge.portfolio.champion import check_universe_name

    check_universe_name(store.open(), portfolio.universe_name, portfolio.tickers)


@task(name="universe", task_run_name="universe-{portfolio.universe_name}", cache_policy=PURE_CACHE)
def universe_task(frames: dict[str, pd.DataFrame], portfolio: PortfolioConfig):
    """Align the validated frames on one calendar; a table artifact names the bars dropped."""
    from tradeforge.portfolio import align_universe

    universe = align_universe(frames, align=portfolio.align)
    create_table_artifact(
        key=artifact_key("universe", portfolio.universe_name),
        table=universe.report(),
        description=f"Universe {portfolio.universe_name}: "
        + ("; ".join(universe.notes) or "every ticker traded on every date"),
    )
    for note in universe.notes:
        print(note)
    return universe


@task(name="portfolio-features", cache_policy=PURE_CACHE)
def portfolio_features_task(universe, features: FeatureConfig, split: SplitConfig, window: int):
    """Each asset's features, folds and train-only scalers, stacked on the shared calendar."""
    from tradeforge.portfolio.market import prepare_portfolio

    prepared = prepare_portfolio(universe.frames, features, split, window)
    print(f"universe windows: {prepared.boundaries}")
    return prepared


@task(name="portfolio-train", task_run_name="portfolio-train-{agent}-seed{seed}-fold{fold}")
def portfolio_train_task(
    agent: str,
    seed: int,
    fold: int,
    prepared,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    portfolio: PortfolioConfig,
    work_dir: str,
    run_id: str,
):
    """Train one allocator on a fold's training bars, score it on validation (and test);
    checkpoints in ``work_dir`` (a Ctrl-C'd run resumes with ``--run.resume <run_id>``)."""
    from tradeforge.portfolio.evaluate import train_and_score

    last = fold == len(prepared.folds) - 1
    return train_and_score(
        agent, seed, prepared.folds[fold], env, dqn, parallel, portfolio, test=last,
        work_dir=work_dir, run_id=run_id,
    )  # fmt: skip


@task(name="portfolio-baselines", cache_policy=PURE_CACHE)
def portfolio_baselines_task(prepared, env: EnvConfig, portfolio: PortfolioConfig):
    """skfolio's baselines fitted per fold on its training bars, plus cash and momentum top-k."""
    from tradeforge.portfolio.evaluate import score_baselines

    return score_baselines(prepared, env, portfolio)


@task(name="portfolio-gate", **STORE_RETRIES)
def portfolio_gate_task(
    candidates: list,
    baselines: list,
    prepared,
    universe,
    cfg: PipelineConfig,
    run_id: str,
) -> dict[str, Any]:
    """Select on pooled validation, gate against cash, 1/N and the universe's champion, publish
    the challenger as a version and promote it if earned; table and plots as artifacts."""
    from tradeforge.evaluation.metrics import periods_per_year
    from tradeforge.portfolio.champion import gate_and_promote
    from tradeforge.portfolio.report import decision_rows
    from tradeforge.report import images_markdown

    name = cfg.portfolio.universe_name
    ppy = periods_per_year(cfg.data.interval, asset=universe.asset_class)
    decision, plots = gate_and_promote(
        name, candidates, baselines, prepared, universe.frames, cfg, cfg.store_ref().open(),
        run_id, ppy,
    )  # fmt: skip
    create_table_artifact(
        key=artifact_key("portfolio-metrics", name),
        table=decision_rows(decision),
        description=f"{name}: allocator vs baselines after costs; {decision['reason']}",
    )
    create_markdown_artifact(
        key=artifact_key("portfolio-plots", name), markdown=images_markdown(plots)
    )
    return decision
