"""The numpy env: exact accounting on a 5-bar market, rewards, autoreset, replay indices, API."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.features.market_files import synthetic_frame
from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
from tradeforge.envs import (
    MarketData,
    TradingEnv,
    VectorTradingEnv,
    observations_at,
    run_episode,
)
from tradeforge.features import prepare

OPEN = np.array([10.0, 11.0, 12.0, 10.0, 13.0])
CLOSE = np.array([10.5, 12.0, 11.0, 12.5, 13.5])


def five_bars() -> MarketData:
    features = np.arange(10, dtype=np.float32).reshape(5, 2)
    timestamps = np.arange("2024-01-01", "2024-01-06", dtype="datetime64[D]").astype("M8[ns]")
    return MarketData(timestamps, features, OPEN, CLOSE, ("a", "b"), 0, 5, "TOY")


def cfg(**kw) -> EnvConfig:
    base = {"window": 1, "commission": 0.01, "slippage": 0.0, "episode_length": 4}
    return EnvConfig(**(base | kw))


def test_next_open_fills_commission_and_net_worth_exactly() -> None:
    res = run_episode(np.array([1, 1, 0, 1]), five_bars(), cfg(execution="next_open"))
    # bar 0: buy at open[1]=11 with 1% commission: 10000*0.99/11 = 900 units; worth 900*12.
    # bar 1: hold; worth 900*11. bar 2: sell at open[3]=10: cash 900*10*0.99 = 8910.
    # bar 3: buy at open[4]=13: 8910*0.99/13 units, worth at close 13.5.
    expected = [10_000.0, 10_800.0, 9_900.0, 8_910.0, 8_910.0 * 0.99 / 13 * 13.5]
    np.testing.assert_allclose(res.net_worth, expected, rtol=1e-12)
    np.testing.assert_array_equal(res.positions, [0, 1, 1, 0, 1])
    np.testing.assert_allclose(res.rewards, np.array(expected[1:]) / expected[:-1] - 1, rtol=1e-12)
    assert res.trades == 3
    traded = 10_000.0 + 900 * 10.0 + 8_910.0
    assert res.turnover == pytest.approx(traded / np.mean(expected), rel=1e-12)


def test_same_close_fills_at_the_decision_bar_close() -> None:
    res = run_episode(np.array([1, 1, 0, 1]), five_bars(), cfg(execution="same_close"))
    units = 10_000 * 0.99 / 10.5  # bought at close[0]
    cash = units * 11.0 * 0.99  # sold at close[2]
    units2 = cash * 0.99 / 12.5  # bought at close[3]
    expected = [10_000.0, units * 12.0, units * 11.0, cash, units2 * 13.5]
    np.testing.assert_allclose(res.net_worth, expected, rtol=1e-12)


def test_slippage_moves_fills_against_the_trader() -> None:
    res = run_episode(np.array([1, 0, 0, 0]), five_bars(), cfg(commission=0.0, slippage=0.01))
    units = 10_000.0 / (11.0 * 1.01)  # buy at open[1] plus 1%
    np.testing.assert_allclose(
        res.net_worth, [10_000.0, units * 12.0, units * 12.0 * 0.99] + [units * 12.0 * 0.99] * 2
    )


def test_flat_policy_keeps_the_cash() -> None:
    res = run_episode(np.zeros(4, dtype=int), five_bars(), cfg())
    np.testing.assert_array_equal(res.net_worth, [10_000.0] * 5)
    assert res.trades == 0 and res.turnover == 0.0


def test_pbr_reward_is_signed_price_return() -> None:
    res = run_episode(np.array([1, 0, 0, 1]), five_bars(), cfg(reward="pbr"))
    price_ret = CLOSE[1:] / CLOSE[:-1] - 1
    np.testing.assert_allclose(res.rewards, price_ret * np.array([1, -1, -1, 1]), rtol=1e-12)


def test_risk_adjusted_reward_has_a_minimum_window_and_a_floor() -> None:
    c = cfg(reward="risk_adjusted", reward_window=3, reward_min_window=2, commission=0.0)
    res = run_episode(np.array([1, 1, 1, 1]), five_bars(), c)
    r = res.returns
    assert res.rewards[0] == 0.0  # one return: no deviation to speak of
    assert res.rewards[1] == pytest.approx(r[:2].mean() / r[:2].std(), rel=1e-9)
    assert res.rewards[3] == pytest.approx(r[1:4].mean() / r[1:4].std(), rel=1e-9)
    # Flat: every return is 0, the deviation is floored instead of 0 -> the reward stays finite.
    flat = run_episode(np.zeros(4, dtype=int), five_bars(), c)
    np.testing.assert_array_equal(flat.rewards, 0.0)


def test_differential_sharpe_follows_moody_saffell() -> None:
    eta = 0.1
    c = cfg(
        reward="differential_sharpe", dsr_eta=eta, sharpe_floor=1e-6, commission=0.0, reward_clip=0
    )
    res = run_episode(np.array([1, 1, 1, 1]), five_bars(), c)
    a = b = 0.0
    expected = []
    for r in res.returns:
        var = max(b - a * a, 1e-12)
        expected.append((b * (r - a) - 0.5 * a * (r * r - b)) / var**1.5)
        a, b = a + eta * (r - a), b + eta * (r * r - b)
    np.testing.assert_allclose(res.rewards, expected, rtol=1e-9)
    assert expected[0] == 0.0 and expected[2] != 0.0
    # reward_clip bounds the output (here at 2, below the raw -5.1 and 3.6).
    assert np.abs(expected).max() > 2.0
    clipped = run_episode(np.array([1, 1, 1, 1]), five_bars(), c.replace(reward_clip=2.0))
    np.testing.assert_allclose(clipped.rewards, np.clip(expected, -2.0, 2.0), rtol=1e-9)


def test_vector_env_matches_run_episode_per_env() -> None:
    market = five_bars()
    env = VectorTradingEnv(market, cfg(), 3, random_start=False)
    obs, _ = env.reset()
    plans = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0]])
    for i in range(3):
        obs, _, terminated, truncated, info = env.step(plans[:, i])
        assert not truncated.any() and not terminated.any() and info == {}
    worth_before_end = env.net_worth
    obs, _, terminated, truncated, info = env.step(plans[:, 3])
    assert truncated.all() and not terminated.any()
    for k in range(3):
        ref = run_episode(plans[k], market, cfg())
        np.testing.assert_allclose(worth_before_end[k], ref.net_worth[3], rtol=1e-12)
        np.testing.assert_allclose(info["final_net_worth"][k], ref.net_worth[-1], rtol=1e-12)
    # Same-step autoreset: the returned obs starts a new episode (bar 0, flat, full cash).
    np.testing.assert_array_equal(obs, observations_at(market.features, 1, [0, 0, 0], [0, 0, 0]))
    np.testing.assert_array_equal(env.net_worth, [10_000.0] * 3)
    # ... and info keeps the terminal one, rebuildable from its indices.
    t, pos = info["final_state_index"]
    np.testing.assert_array_equal(t, [4, 4, 4])
    np.testing.assert_array_equal(pos, plans[:, 3])
    np.testing.assert_array_equal(info["final_obs"], observations_at(market.features, 1, t, pos))
    assert info["_final_obs"].all()


def _real_ish_market(window: int = 10) -> MarketData:
    prep = prepare(synthetic_frame(600), FeatureConfig(), SplitConfig(), window)
    return prep.train


def test_observations_are_window_then_position_and_rebuild_from_indices() -> None:
    market = _real_ish_market()
    env = VectorTradingEnv(market, EnvConfig(window=10, episode_length=50), 16, seed=3)
    obs, _ = env.reset()
    f = market.features.shape[1]
    assert obs.shape == (16, 10 * f + 1) and obs.dtype == np.float32
    assert env.observation_space.shape == obs.shape and env.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    finals = 0
    for _ in range(120):
        t, pos = env.state_index()
        np.testing.assert_array_equal(obs, observations_at(env.feature_matrix, env.window, t, pos))
        # Oldest row first, the current bar's features last, then the position.
        np.testing.assert_array_equal(obs[:, (9 * f) : (10 * f)], market.features[t])
        np.testing.assert_array_equal(obs[:, :f], market.features[t - 9])
        actions = rng.integers(0, 2, 16)
        obs, _, _, truncated, info = env.step(actions)
        np.testing.assert_array_equal(obs[~truncated, -1], actions[~truncated])
        if truncated.any():
            finals += 1
            ft, fpos = info["final_state_index"]
            rebuilt = observations_at(env.feature_matrix, env.window, ft, fpos)
            np.testing.assert_array_equal(info["final_obs"][truncated], rebuilt[truncated])
            assert (obs[truncated, -1] == 0).all()
    assert finals >= 2  # episodes of 50 steps ended and restarted during 120 steps


def test_random_starts_lie_inside_the_range_and_follow_the_seed() -> None:
    market = _real_ish_market()
    config = EnvConfig(window=10, episode_length=30)
    starts = []
    for _ in range(2):
        env = VectorTradingEnv(market, config, 64, seed=11)
        env.reset()
        starts.append(env.state_index()[0])
    np.testing.assert_array_equal(starts[0], starts[1])
    assert starts[0].min() >= market.start and starts[0].max() <= market.end - 1 - 30
    assert len(np.unique(starts[0])) > 10
    env.reset(seed=12)
    assert not np.array_equal(env.state_index()[0], starts[0])


def test_a_range_shorter_than_an_episode_is_run_whole() -> None:
    env = VectorTradingEnv(five_bars(), cfg(episode_length=50), 4, seed=0)
    env.reset()
    np.testing.assert_array_equal(env.state_index()[0], [0, 0, 0, 0])
    ends = [env.step(np.ones(4, dtype=int))[3].all() for _ in range(4)]
    assert ends == [False, False, False, True]


def test_bad_actions_and_too_short_lookback_are_rejected() -> None:
    env = VectorTradingEnv(five_bars(), cfg(), 2)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step([0, 1])
    env.reset()
    with pytest.raises(ValueError, match=r"0 \(flat\) or 1 \(long\), got \[0, 2\]"):
        env.step([0, 2])
    with pytest.raises(ValueError, match="expected 2 actions"):
        env.step([0, 1, 1])
    with pytest.raises(ValueError, match="window 3 needs 2"):
        VectorTradingEnv(five_bars(), cfg(window=3), 2)
    with pytest.raises(ValueError, match="expected 4 actions"):
        run_episode(np.zeros(3, dtype=int), five_bars(), cfg())
    with pytest.raises(ValueError, match="managed-risk orders exist only in the TensorTrade"):
        VectorTradingEnv(five_bars(), cfg(action_scheme="managed_risk"), 2)


def test_single_env_passes_gymnasiums_checker() -> None:
    env = TradingEnv(_real_ish_market(), EnvConfig(window=10, episode_length=20))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    total = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(1)
        total += 1
        done = terminated or truncated
    assert total == 20 and obs[-1] == 1.0


class _Greedy:
    """A policy object: long when the last feature of the newest row is positive."""

    def __init__(self, f: int) -> None:
        self.f = f

    def act(self, obs: np.ndarray) -> np.ndarray:
        return (obs[:, -2] > 0).astype(np.int64)


def test_run_episode_accepts_a_policy_object_and_replays_as_an_array() -> None:
    market = _real_ish_market()
    config = EnvConfig(window=10)
    with_policy = run_episode(_Greedy(market.features.shape[1]), market, config)
    replay = run_episode(with_policy.actions, market, config)
    np.testing.assert_array_equal(with_policy.net_worth, replay.net_worth)
    assert len(with_policy.net_worth) == market.num_bars
    assert with_policy.net_worth[0] == config.initial_cash
    np.testing.assert_array_equal(
        with_policy.timestamps, market.timestamps[market.start : market.end]
    )
    expected = (market.features[market.start : market.end - 1, -1] > 0).astype(np.int8)
    np.testing.assert_array_equal(with_policy.actions, expected)


def test_observations_at_rejects_indices_without_a_full_window() -> None:
    features = five_bars().features
    with pytest.raises(ValueError, match=r"bar indices must lie in \[2, 5\) for window 3"):
        observations_at(features, 3, [1, 4], [0, 1])
    with pytest.raises(ValueError, match="2 bar indices but 1 positions"):
        observations_at(features, 3, [2, 4], [0])


class _Alternator:
    """Goes long when flat and flat when long: its actions depend on the observed position."""

    def __init__(self) -> None:
        self.calls = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.calls += 1
        return (obs[:, -1] == 0).astype(np.int64)


def test_policy_actions_follow_the_position_they_leave() -> None:
    policy = _Alternator()
    res = run_episode(policy, five_bars(), cfg())
    np.testing.assert_array_equal(res.actions, [1, 0, 1, 0])
    np.testing.assert_array_equal(res.positions, [0, 1, 0, 1, 0])
    assert policy.calls == 1  # one batched call for the whole episode
    # The same as stepping the single env bar by bar with the policy.
    env = TradingEnv(five_bars(), cfg(), random_start=False)
    obs, _ = env.reset()
    stepped = []
    for _ in range(4):
        action = int(policy.act(obs[None, :])[0])
        stepped.append(action)
        obs, *_ = env.step(action)
    assert stepped == res.actions.tolist()


def test_a_policy_returning_bad_actions_is_rejected() -> None:
    class Bad:
        def act(self, obs: np.ndarray) -> np.ndarray:
            return np.full(len(obs), 2)

    with pytest.raises(ValueError, match="expected one 0 or 1 per observation"):
        run_episode(Bad(), five_bars(), cfg())
    with pytest.raises(ValueError, match=r"step 2: action 5 is not 0 or 1"):
        run_episode(np.array([0, 1, 5, 0]), five_bars(), cfg())


def test_turnover_penalty_is_taken_from_the_reward_of_each_trade_only() -> None:
    actions = np.array([1, 1, 0, 1])
    plain = run_episode(actions, five_bars(), cfg())
    penalised = run_episode(actions, five_bars(), cfg(turnover_penalty=0.002))
    # steps 0 (buy), 2 (sell) and 3 (buy) change the position; step 1 holds
    np.testing.assert_allclose(
        penalised.rewards, plain.rewards - 0.002 * np.array([1, 0, 1, 1]), rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(penalised.net_worth, plain.net_worth)  # money is untouched


def test_min_hold_keeps_a_new_position_for_that_many_bars() -> None:
    # min_hold 2: the sell wanted on bar 1 comes one bar after the buy, so it is ignored; the
    # sell on bar 2 goes through; the buy wanted on bar 3 is again too early.
    res = run_episode(np.array([1, 0, 0, 1]), five_bars(), cfg(min_hold=2))
    np.testing.assert_array_equal(res.positions, [0, 1, 1, 0, 0])
    # buy at open[1]=11: 900 units; held over bars 1-2; sold at open[3]=10 for 8910; flat after
    np.testing.assert_allclose(res.net_worth, [10_000.0, 10_800.0, 9_900.0, 8_910.0, 8_910.0])
    assert res.trades == 2
    venv = VectorTradingEnv(five_bars(), cfg(min_hold=2), 1, random_start=False)
    venv.reset(seed=0)
    seen = []
    for a in (1, 0, 0, 1):
        obs, *_ = venv.step(np.array([a]))
        seen.append(float(obs[0, -1]))  # the observation carries the held position
    assert seen == [1.0, 1.0, 0.0, 0.0]


class _Flipper:
    """Always wants the other position."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        return (1 - obs[:, -1]).astype(np.int64)


def test_a_greedy_policy_is_replayed_under_min_hold_as_stepped() -> None:
    market = five_bars()
    res = run_episode(_Flipper(), market, cfg(min_hold=3))
    np.testing.assert_array_equal(res.positions, [0, 1, 1, 1, 0])
    env = TradingEnv(market, cfg(min_hold=3), random_start=False)
    obs, _ = env.reset(seed=0)
    positions = [0.0]
    for _ in range(4):
        obs, *_ = env.step(int(_Flipper().act(obs[None])[0]))
        positions.append(float(obs[-1]))
    np.testing.assert_array_equal(res.positions, positions)
