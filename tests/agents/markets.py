"""Synthetic markets whose best long/flat policy is known, and that policy's actions."""

from __future__ import annotations

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs import MarketData, run_episode


def sine_market(
    n: int = 1000, period: int = 20, amplitude: float = 0.02, window: int = 4
) -> MarketData:
    """A noiseless sine around 100 with two causal features: last log return and its change.

    The steppable range is the whole series after the look-back; callers ``slice`` it into
    training and held-out stretches.
    """
    idx = np.arange(n)
    close = 100.0 * (1.0 + amplitude * np.sin(2 * np.pi * idx / period))
    logret = np.zeros(n)
    logret[1:] = np.diff(np.log(close))
    accel = np.zeros(n)
    accel[1:] = np.diff(logret)
    feats = np.stack([logret, accel], axis=1)
    feats = (feats / feats[: n // 2].std(axis=0)).astype(np.float32)  # scale from early bars only
    ts = (np.datetime64("2020-01-01") + idx.astype("timedelta64[D]")).astype("datetime64[ns]")
    return MarketData(
        timestamps=ts,
        features=feats,
        open=np.r_[close[0], close[:-1]],  # open = previous close: no overnight gap
        close=close,
        feature_names=("logret_1", "logret_change"),
        start=window,
        end=n,
        ticker="SINE",
    )


def oracle_actions(market: MarketData, env: EnvConfig) -> np.ndarray:
    """The long/flat action sequence maximising final net worth after costs (dynamic programme).

    Uses the env's accounting (see ``tradeforge.envs.simulator``): a decision at bar t fills at
    ``open[t+1]`` (next_open) or ``close[t]`` (same_close); net worth is valued at closes.
    """
    if env.slippage:
        raise ValueError("oracle_actions assumes no slippage")
    keep = 1.0 - env.commission
    t = np.arange(market.start, market.end - 1)
    close_now, close_next = market.close[t], market.close[t + 1]
    fill = market.open[t + 1] if env.execution == "next_open" else close_now
    # log growth of net worth over the step, for (previous position, new position)
    growth = {
        (0, 0): np.zeros(len(t)),
        (0, 1): np.log(keep * close_next / fill),
        (1, 0): np.log(keep * fill / close_now),
        (1, 1): np.log(close_next / close_now),
    }
    value = np.array([0.0, -np.inf])  # start flat
    choice = np.zeros((len(t), 2), dtype=np.int64)  # best previous position per new position
    for i in range(len(t)):
        cand = np.array([[value[p] + growth[(p, a)][i] for p in (0, 1)] for a in (0, 1)])
        choice[i] = cand.argmax(axis=1)
        value = cand.max(axis=1)
    actions = np.zeros(len(t), dtype=np.int64)
    pos = int(value.argmax())
    for i in range(len(t) - 1, -1, -1):
        actions[i] = pos
        pos = int(choice[i, pos])
    return actions


def total_return(policy, market: MarketData, env: EnvConfig) -> float:
    """Net-worth return of one deterministic episode over ``market``'s range."""
    result = run_episode(policy, market, env)
    return float(result.net_worth[-1] / result.net_worth[0] - 1.0)


def random_return(market: MarketData, env: EnvConfig, seeds: int = 20) -> float:
    """Mean total return of uniformly random long/flat actions."""
    rng = np.random.default_rng(1234)
    return float(
        np.mean(
            [total_return(rng.integers(0, 2, market.num_steps), market, env) for _ in range(seeds)]
        )
    )
