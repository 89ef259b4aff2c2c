"""TensorTrade's env as the reference: same actions -> same net worth in the numpy env.

All TensorTrade tests live in this file: importing TensorTrade costs ~10 s.

Tolerance: TensorTrade keeps balances as ``Decimal`` quantities rounded to the instrument's
precision, and rounds prices to the quote currency's precision too. With its ``USD`` (2
decimals) every transfer (one per trade) may round away up to a cent, while the numpy env keeps
float64 balances. The allowed relative gap after k trades is therefore ``2e-6 * (k + 1)``: one
cent on the smallest net worth these runs reach (~5,000 USD) is 2e-6. Measured on SPY 2010-2015
with 607 random trades: 2.3e-7 per trade, 5.3e-6 at most. Split-adjusted prices (AAPL here)
have sub-cent digits that TensorTrade rounds away, so they are compared either with a quote
currency of 8 decimals (then the gap is rounding at 1e-8: 4e-9 after 147 trades) or with the numpy env fed the
same cent-rounded prices.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.features.market_files import load_yahoo
from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
from tradeforge.envs import MarketData, run_episode
from tradeforge.envs import tensortrade_env as tt_env
from tradeforge.features import prepare

PER_TRADE_RTOL = 2e-6


def _market(name: str, ticker: str, steps: int, window: int = 10) -> MarketData:
    prep = prepare(load_yahoo(name, ticker), FeatureConfig(), SplitConfig(), window)
    return prep.train.slice(prep.train.start, prep.train.start + steps + 1)


def _run_tt(market: MarketData, config: EnvConfig, actions: np.ndarray, quote_precision: int = 2):
    built = tt_env.build_tensortrade_env(market, config, quote_precision=quote_precision)
    obs, _ = built.env.reset()
    worth, rewards, observations = [built.net_worth], [], [obs]
    for i, a in enumerate(actions):
        obs, reward, terminated, _, _ = built.env.step(int(a))
        assert terminated == (i == len(actions) - 1)  # on the last bar of the range
        worth.append(built.net_worth)
        rewards.append(reward)
        observations.append(obs)
    return np.array(worth), np.array(rewards), observations


@pytest.mark.parametrize(
    ("name", "ticker", "seed", "quote_precision", "cents"),
    [
        ("SPY_2010-2017_yahoo.csv", "SPY", 0, 2, False),
        ("AAPL_2013-2023_yahoo-adjusted.csv", "AAPL", 1, 2, True),
        ("AAPL_2013-2023_yahoo-adjusted.csv", "AAPL", 2, 8, False),
    ],
)
def test_random_actions_give_the_same_net_worth_path(
    name: str, ticker: str, seed: int, quote_precision: int, cents: bool
) -> None:
    market = _market(name, ticker, steps=300)
    if cents:
        market = replace(market, open=np.round(market.open, 2), close=np.round(market.close, 2))
    config = EnvConfig(window=10, execution="same_close", commission=0.001)
    actions = np.random.default_rng(seed).integers(0, 2, market.num_steps)
    tt_worth, tt_rewards, tt_obs = _run_tt(market, config, actions, quote_precision)
    ours = run_episode(actions, market, config)
    trades_so_far = np.concatenate([[0], np.cumsum(np.abs(np.diff(ours.positions)))])
    gap = np.abs(tt_worth / ours.net_worth - 1.0)
    assert ours.trades > 100  # the comparison exercises many fills
    # 8 decimals: prices and balances rounded at 1e-8, i.e. ~5e-10 of a 20 USD price per trade.
    per_trade = PER_TRADE_RTOL if quote_precision == 2 else 1e-9
    assert np.all(gap <= per_trade * (trades_so_far + 1)), gap.max()
    # Same reward scheme objects behind both envs: rewards agree to the same rounding.
    np.testing.assert_allclose(tt_rewards, ours.rewards, atol=1e-5)
    # TensorTrade's observation: the window of features (oldest first) plus the position column.
    last = tt_obs[-1]
    assert last.shape == (10, len(market.feature_names) + 1)
    np.testing.assert_allclose(last[:, :-1], market.features[market.end - 10 : market.end])
    assert last[-1, -1] == ours.positions[-1]


def test_next_open_execution_is_not_tensortrades_timing() -> None:
    """A negative control: the parity above is not a tolerance wide enough to hide a real gap."""
    market = _market("SPY_2010-2017_yahoo.csv", "SPY", steps=100)
    actions = np.random.default_rng(3).integers(0, 2, market.num_steps)
    config = EnvConfig(window=10, execution="same_close", commission=0.001)
    tt_worth, _, _ = _run_tt(market, config, actions)
    other = run_episode(actions, market, EnvConfig(window=10, commission=0.001))
    assert np.abs(tt_worth / other.net_worth - 1.0).max() > 1e-3


def test_simple_reward_is_tensortrades_simple_profit() -> None:
    from tensortrade.env.default.rewards import SimpleProfit

    market = _market("SPY_2010-2017_yahoo.csv", "SPY", steps=80)
    config = EnvConfig(window=10, execution="same_close")
    actions = np.random.default_rng(5).integers(0, 2, market.num_steps).tolist()
    rewards = []
    for scheme in (None, SimpleProfit()):
        built = tt_env.build_tensortrade_env(market, config, reward_scheme=scheme)
        built.env.reset()
        rewards.append(np.array([built.env.step(a)[1] for a in actions]))
    assert np.any(rewards[0] != 0.0)
    np.testing.assert_array_equal(rewards[0], rewards[1])


def test_tensortrades_risk_adjusted_reward_explodes_and_ours_does_not() -> None:
    from tensortrade.env.default.rewards import RiskAdjustedReturns

    market = _market("SPY_2010-2017_yahoo.csv", "SPY", steps=40)
    config = EnvConfig(window=10, execution="same_close", reward="risk_adjusted")
    actions = np.random.default_rng(4).integers(0, 2, market.num_steps)
    built = tt_env.build_tensortrade_env(market, config, reward_scheme=RiskAdjustedReturns())
    built.env.reset()
    theirs = [built.env.step(int(a))[1] for a in actions]
    # Window 1: one return, deviation 0 -> (r + 1e-9) / 1e-9, e.g. 1e-2 / 1e-9 = 1e7.
    assert np.max(np.abs(theirs)) > 1e5
    ours = run_episode(actions, market, config).rewards
    # Ours: the mean over at most 20 returns, divided by a deviation floored at 1e-3.
    assert np.max(np.abs(ours)) < 10.0 and np.any(ours != 0.0)


def test_managed_risk_actions_trade_with_stops_and_position_in_the_observation() -> None:
    market = _market("SPY_2010-2017_yahoo.csv", "SPY", steps=60)
    config = EnvConfig(window=10, execution="same_close", action_scheme="managed_risk")
    built = tt_env.build_tensortrade_env(market, config)
    obs, _ = built.env.reset()
    # 1 no-op + (2 stops x 2 takes x 1 size x 1 duration x buy/sell)
    assert built.env.action_space.n == 9
    positions = []
    buy = next(
        i
        for i, spec in enumerate(built.action_scheme.actions)
        if spec and spec[1][-1].value == "buy"
    )
    for step in range(market.num_steps):
        obs, _, terminated, _, _ = built.env.step(buy if step == 0 else 0)
        positions.append(obs[-1, -1])
    assert terminated
    assert positions[0] == 1.0  # bought on the first step: the position column says so
    assert built.net_worth > 0 and built.net_worth != config.initial_cash


def test_tickers_without_a_tensortrade_instrument_are_created() -> None:
    inst = tt_env.make_instrument("BTC-USD")
    assert inst.symbol == "BTC-USD" and inst.precision == tt_env.ASSET_PRECISION
    with pytest.raises(ValueError, match="not a symbol"):
        tt_env.make_instrument("S P Y")
    with pytest.raises(ValueError, match="no slippage model"):
        tt_env.build_tensortrade_env(
            _market("SPY_2010-2017_yahoo.csv", "SPY", steps=20), EnvConfig(slippage=0.001)
        )


def test_throughput_benchmark_prints_its_figures_as_json(capsys) -> None:
    import json
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks/env_throughput.py"
    module = runpy.run_path(str(script), run_name="env_throughput")
    argv = ["--tt-steps", "40", "--vec-calls", "5", "--repeats", "1", "--episode-length", "16"]
    module["main"]([*argv, "--json"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    for key in ("tensortrade_steps_per_s", "vector_64_steps_per_s", "vector_256_steps_per_s"):
        assert figures[key] > 0
    assert figures["ratio"] == figures["ratio_256"]
    expected = figures["vector_256_steps_per_s"] / figures["tensortrade_steps_per_s"]
    assert figures["ratio"] == pytest.approx(expected, rel=1e-2)
