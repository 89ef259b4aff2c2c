"""Replay memory of indices: wrap-around, index reconstruction against the real env, n-step sums."""

from __future__ import annotations

import numpy as np
import pytest

from tests.agents.markets import sine_market
from tradeforge.agents.actor import Actor, Collector, actor_rng
from tradeforge.agents.buffer import NStepAdder, ReplayBuffer, Transitions
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork
from tradeforge.config import EnvConfig
from tradeforge.envs import VectorTradingEnv, observations_at
from tradeforge.envs.observation import ObservationBuilder


def _chunk(ts: range) -> Transitions:
    t = np.array(ts, np.int32)
    f = t.astype(np.float32)
    return Transitions(t, f % 2, t % 2, f * 10, f / 100, t + 1, (f + 1) % 2)


def _no_obs(t, pos):
    return np.zeros((len(t), 1), np.float32)


def test_wrap_around_keeps_the_newest_transitions_in_their_slots() -> None:
    buf = ReplayBuffer(5, _no_obs, seed=0)
    buf.add(_chunk(range(10, 13)))
    buf.add(_chunk(range(13, 17)))  # 7 added into 5 slots: 10 and 11 are overwritten
    assert len(buf) == 5
    stored = buf.transitions(np.arange(5))
    # slots 0, 1 took transitions 15, 16 after wrapping; 2..4 still hold 12..14
    assert stored.t.tolist() == [15, 16, 12, 13, 14]
    assert stored.reward.tolist() == [150.0, 160.0, 120.0, 130.0, 140.0]
    assert stored.next_t.tolist() == [16, 17, 13, 14, 15]
    buf.add(_chunk(range(100, 112)))  # a chunk larger than the buffer keeps its newest 5
    assert sorted(buf.transitions(np.arange(5)).t.tolist()) == [107, 108, 109, 110, 111]


def test_samples_only_filled_slots_and_state_round_trips() -> None:
    buf = ReplayBuffer(100, _no_obs, seed=0)
    buf.add(_chunk(range(0, 7)))
    batch = buf.sample(256)
    assert set(batch.reward.tolist()) <= {float(10 * i) for i in range(7)}
    assert len(set(batch.reward.tolist())) == 7
    other = ReplayBuffer(100, _no_obs, seed=0)
    other.load_state_dict(buf.state_dict())
    assert len(other) == 7
    for a, b in zip(other.transitions(np.arange(7)), buf.transitions(np.arange(7)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_one_million_transitions_fit_in_100_mb() -> None:
    buf = ReplayBuffer(1_000_000, _no_obs, seed=0)
    assert buf.nbytes <= 100 * 1024 * 1024, buf.nbytes


def test_empty_buffer_refuses_to_sample() -> None:
    with pytest.raises(ValueError, match="empty ReplayBuffer"):
        ReplayBuffer(4, _no_obs, seed=0).sample(2)


def test_indices_rebuild_the_real_envs_observations() -> None:
    """Every stored (t, position) rebuilds exactly the observation the env returned."""
    market = sine_market(n=300)
    env_cfg = EnvConfig(window=4, commission=0.001, episode_length=16)
    env = VectorTradingEnv(market, env_cfg, 3, seed=0)
    spec = NetworkSpec(env.single_observation_space.shape[0], 2, (8,))
    rng = np.random.default_rng(0)
    weights = [
        rng.normal(size=s).astype(np.float32) for s in [(spec.obs_dim, 8), (8,), (8, 2), (2,)]
    ]
    collector = Collector(
        env, Actor(NumpyQNetwork(spec, weights), actor_rng(0, 0)), NStepAdder(3, 1, 0.9), seed=0
    )
    build = ObservationBuilder(env.feature_matrix, env.window)
    buf = ReplayBuffer(1000, build, seed=0)
    seen_obs = []
    for _ in range(40):  # crosses several episode ends (episode_length 16)
        obs_before = collector.obs.copy()
        chunk, _ = collector.step(epsilon=0.5)
        buf.add(chunk)
        seen_obs.append(obs_before)
    assert len(buf) == 120
    stored = buf.transitions(np.arange(120))
    rebuilt = observations_at(env.feature_matrix, env.window, stored.t, stored.position)
    # n=1: transition k of a step is env k's observation before that step, in order
    np.testing.assert_array_equal(rebuilt, np.concatenate(seen_obs))
    assert set(np.unique(stored.position)) <= {0.0, 1.0}
    assert (stored.next_t == stored.t + 1).all()  # every step moves one bar, even at episode ends


def test_terminal_observation_comes_from_final_state_index() -> None:
    market = sine_market(n=300)
    env = VectorTradingEnv(market, EnvConfig(window=4, episode_length=5), 2, seed=1)
    env.reset(seed=1)
    for _ in range(5):
        _, _, _, truncated, info = env.step(np.ones(2, np.int64))
    assert truncated.all()
    final_t, final_pos = info["final_state_index"]
    np.testing.assert_array_equal(
        observations_at(env.feature_matrix, env.window, final_t, final_pos), info["final_obs"]
    )


def _adder_steps(adder: NStepAdder, rewards, dones, terminated: bool) -> Transitions:
    chunks = []
    for k, (r, d) in enumerate(zip(rewards, dones, strict=True)):
        chunks.append(
            adder.add(
                t=np.array([k]),
                position=np.array([0.0]),
                action=np.array([k % 2]),
                reward=np.array([r]),
                next_t=np.array([k + 1]),
                next_position=np.array([1.0]),
                terminated=np.array([d and terminated]),
                truncated=np.array([d and not terminated]),
            )
        )
    return Transitions.concat(chunks)


def test_n_step_returns_by_hand() -> None:
    # n=3, gamma=0.5, rewards 1, 2, 3, 4, 5; the episode is truncated at the 5th step.
    out = _adder_steps(NStepAdder(1, 3, 0.5), [1, 2, 3, 4, 5], [0, 0, 0, 0, 1], terminated=False)
    assert out.t.tolist() == [0, 1, 2, 3, 4]
    # start 0: 1 + .5*2 + .25*3 = 2.75, bootstraps from bar 3 with 0.5**3
    # start 1: 2 + 1.5 + 1 = 4.5 -> bar 4; then the flush at the end: 3 + 2 + 1.25 = 6.25,
    # 4 + 2.5 = 6.5, 5, all bootstrapping from the final bar 5
    np.testing.assert_allclose(out.reward, [2.75, 4.5, 6.25, 6.5, 5.0])
    assert out.next_t.tolist() == [3, 4, 5, 5, 5]
    np.testing.assert_allclose(out.discount, [0.125, 0.125, 0.125, 0.25, 0.5])
    # terminated instead: the flushed transitions do not bootstrap
    term = _adder_steps(NStepAdder(1, 3, 0.5), [1, 2, 3, 4, 5], [0, 0, 0, 0, 1], terminated=True)
    np.testing.assert_allclose(term.discount, [0.125, 0.125, 0.0, 0.0, 0.0])


def test_one_step_adder_is_the_plain_transition() -> None:
    out = _adder_steps(NStepAdder(1, 1, 0.9), [1, 2], [0, 1], terminated=False)
    np.testing.assert_allclose(out.reward, [1, 2])
    np.testing.assert_allclose(out.discount, [0.9, 0.9])
    assert out.next_t.tolist() == [1, 2]


def test_samples_carry_their_bars_rewards_from_the_table() -> None:
    table = np.arange(40 * 4, dtype=np.float32).reshape(40, 2, 2)
    buf = ReplayBuffer(50, _no_obs, seed=0, reward_table=table)
    buf.add(_chunk(range(3, 30)))
    batch = buf.sample(16, num_batches=3)
    assert batch.rewards_all.shape == (3, 16, 2, 2)
    # each sample's table row is the one of its own bar (rewards are 10 x the bar index here)
    bars = (batch.reward / 10).astype(int)
    np.testing.assert_array_equal(batch.rewards_all, table[bars])
    plain = ReplayBuffer(50, _no_obs, seed=0)
    plain.add(_chunk(range(3, 30)))
    assert plain.sample(4).rewards_all is None
