"""Baselines on the same window and costs as the agents: buy-and-hold, cash, random, SMA crossover.

Each baseline is an action array (one action per step: 0 flat, 1 long) replayed through the same
``run_episode`` as the agents, so fills, commission and slippage are identical.
"""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig, EvalConfig
from tradeforge.envs.market import MarketData
from tradeforge.evaluation.evaluate import Evaluation, episode_metrics, evaluate, mean_metrics

BASELINES = ("buy_and_hold", "cash", "random", "sma_crossover")


def buy_and_hold_actions(market: MarketData) -> np.ndarray:
    """Long from the first step to the end."""
    return np.ones(market.num_steps, dtype=np.int8)


def cash_actions(market: MarketData) -> np.ndarray:
    """Never invested."""
    return np.zeros(market.num_steps, dtype=np.int8)


def random_actions(market: MarketData, seed: int) -> np.ndarray:
    """A coin flip per step (uniform over the two actions), reproducible per seed."""
    return np.random.default_rng(seed).integers(0, 2, size=market.num_steps, dtype=np.int8)


def sma_crossover_actions(market: MarketData, fast: int, slow: int) -> np.ndarray:
    """Long while the ``fast``-bar SMA of closes is above the ``slow``-bar one.

    The decision on bar t uses closes up to t only (look-back bars before the window count);
    with fewer than ``slow`` closes of history it stays flat.
    """
    if not 0 < fast < slow:
        raise ValueError(f"sma_crossover: need 0 < fast ({fast}) < slow ({slow})")
    close = np.asarray(market.close, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(close)])
    bars = np.arange(market.start, market.end - 1)  # the bar each step decides on
    have = bars >= slow - 1
    t = np.where(have, bars, slow - 1)
    sma_fast = (csum[t + 1] - csum[t + 1 - fast]) / fast
    sma_slow = (csum[t + 1] - csum[t + 1 - slow]) / slow
    return (have & (sma_fast > sma_slow)).astype(np.int8)


def random_baseline(
    market: MarketData, env: EnvConfig, seeds: int, *, periods_per_year: int
) -> Evaluation:
    """Mean metrics of the random policy over ``seeds`` seeds; the episode of the median seed."""
    runs = [
        evaluate(random_actions(market, seed), market, env, periods_per_year=periods_per_year)
        for seed in range(seeds)
    ]
    order = np.argsort([r.metrics["total_return"] for r in runs], kind="stable")
    median = runs[int(order[len(order) // 2])]
    per_seed = [r.metrics for r in runs]
    return Evaluation(metrics=mean_metrics(per_seed), episode=median.episode, per_seed=per_seed)


def baselines(
    market: MarketData, env: EnvConfig, eval_cfg: EvalConfig, *, periods_per_year: int
) -> dict[str, Evaluation]:
    """The four baselines on ``market``'s window, with ``env``'s costs and execution."""

    def run(actions: np.ndarray) -> Evaluation:
        return evaluate(actions, market, env, periods_per_year=periods_per_year)

    return {
        "buy_and_hold": run(buy_and_hold_actions(market)),
        "cash": run(cash_actions(market)),
        "random": random_baseline(
            market, env, eval_cfg.random_policy_seeds, periods_per_year=periods_per_year
        ),
        "sma_crossover": run(sma_crossover_actions(market, eval_cfg.sma_fast, eval_cfg.sma_slow)),
    }


__all__ = ["BASELINES", "baselines", "episode_metrics"]
