"""Build a ``PipelineConfig`` from the flat, typed parameters of the train flow and CLI."""

from __future__ import annotations

from dataclasses import replace

from tradeforge.config.data import DataConfig
from tradeforge.config.pipeline import DEFAULT_STORE, PipelineConfig

DEFAULT_TICKERS = ("GOOGL",)


def pipeline_config(
    *,
    tickers: list[str] | tuple[str, ...] | None = None,
    source: str = "demo",
    start: str | None = None,
    end: str | None = None,
    val_start: str | None = None,
    test_start: str | None = None,
    interval: str = "1d",
    agents: list[str] | tuple[str, ...] | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    steps: int = 20_000,
    store: str = DEFAULT_STORE,
    window: int = 10,
    commission: float = 0.001,
    slippage: float = 0.0,
    execution: str = "next_open",
    reward: str = "simple",
    action_scheme: str = "bsh",
    num_envs: int = 8,
    num_actors: int = 2,
    train_timeout: float = 6 * 3600.0,
    sharpe_margin: float = 0.0,
    max_drawdown_limit: float = 0.5,
    offline: bool = False,
    s3_endpoint_url: str | None = None,
    base: PipelineConfig | None = None,
) -> PipelineConfig:
    """Compose the per-concern configs; every value is validated by its dataclass.

    ``base`` supplies everything not named here (e.g. a test's tiny network); the named
    values override it.
    """
    base = base or PipelineConfig()
    learning_starts = min(base.dqn.learning_starts, max(steps // 10, 1))
    return replace(
        base,
        data=DataConfig(
            tickers=tuple(tickers or DEFAULT_TICKERS),
            source=source,
            start=start,
            end=end,
            interval=interval,
            offline=offline,
            s3_endpoint_url=s3_endpoint_url,
        ),
        split=replace(base.split, val_start=val_start, test_start=test_start),
        env=replace(
            base.env,
            window=window,
            commission=commission,
            slippage=slippage,
            execution=execution,
            reward=reward,
            action_scheme=action_scheme,
        ),
        dqn=replace(
            base.dqn,
            total_steps=steps,
            num_envs=num_envs,
            learning_starts=learning_starts,
            max_seconds=train_timeout,
        ),
        parallel=replace(base.parallel, num_actors=num_actors),
        promotion=replace(
            base.promotion, sharpe_margin=sharpe_margin, max_drawdown_limit=max_drawdown_limit
        ),
        agents=tuple(agents or base.agents),
        seeds=tuple(seeds if seeds is not None else (0,)),
        store=store,
    )
