"""The learner's maths against hand-computed numbers, target syncing, and the numpy mirror."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.agents.buffer import Batch
from tradeforge.agents.learner import DQNLearner
from tradeforge.agents.network import (
    NetworkSpec,
    NumpyQNetwork,
    assign_ordered_weights,
    build_q_network,
    ordered_weights,
)
from tradeforge.config import DQNConfig

SPEC = NetworkSpec(obs_dim=2, num_actions=2, hidden=(2,))
EYE = np.eye(2, dtype=np.float32)
ZERO = np.zeros(2, np.float32)


def _learner(augment: bool = False, **overrides) -> DQNLearner:
    # plain Adam on clean observations: the hand-computed numbers below assume both
    plain = {"weight_decay": 0.0, "obs_noise": 0.0} | overrides
    cfg = DQNConfig(hidden=(2,), batch_size=2, learning_rate=1e-3, reward_scale=1.0, **plain)
    learner = DQNLearner(SPEC, cfg, seed=0, augment=augment)
    # online Q(x) = [relu(x0), 2 relu(x1)];  target Q(x) = [3 relu(x0), relu(x1)]
    assign_ordered_weights(
        learner.online, [EYE, ZERO, np.diag([1.0, 2.0]).astype(np.float32), ZERO]
    )
    assign_ordered_weights(
        learner.target, [EYE, ZERO, np.diag([3.0, 1.0]).astype(np.float32), ZERO]
    )
    return learner


BATCH = Batch(
    obs=np.array([[1.0, 1.0], [0.5, 3.0]], np.float32),
    action=np.array([0, 1], np.int32),
    reward=np.array([1.0, -1.0], np.float32),
    discount=np.array([0.5, 0.0], np.float32),
    next_obs=np.array([[1.0, 2.0], [2.0, 0.5]], np.float32),
)


def test_double_dqn_target_by_hand() -> None:
    # s'1: online Q = [1, 4] picks action 1, target values it 2 -> 1 + 0.5 * 2 = 2
    # s'2: discount 0 (terminal) -> -1
    np.testing.assert_allclose(_learner().td_targets(BATCH), [2.0, -1.0])


def test_vanilla_dqn_target_takes_the_target_networks_max() -> None:
    # s'1: target Q = [3, 2] -> 1 + 0.5 * 3 = 2.5
    np.testing.assert_allclose(_learner(double_dqn=False).td_targets(BATCH), [2.5, -1.0])


def test_reward_scale_multiplies_rewards_only() -> None:
    cfg = DQNConfig(hidden=(2,), batch_size=2, reward_scale=10.0, obs_noise=0.0)
    learner = _learner()
    learner.config = cfg
    np.testing.assert_allclose(learner.td_targets(BATCH), [10.0 + 1.0, -10.0])


def test_step_reports_the_huber_loss_before_its_update() -> None:
    learner = _learner()
    # Q(s1, 0) = 1 vs target 2: |td| = 1 -> 0.5 * 1**2 = 0.5
    # Q(s2, 1) = 6 vs target -1: |td| = 7 -> 7 - 0.5 = 6.5      mean = 3.5
    out = learner.step(BATCH)
    assert out["loss"] == pytest.approx(3.5, rel=1e-6)
    assert out["mean_target"] == pytest.approx(0.5, rel=1e-6)
    # mean over all four Q-values of both observations: [1, 2] and [0.5, 6]
    assert out["mean_q"] == pytest.approx(9.5 / 4, rel=1e-6)


def test_augmented_step_fits_every_position_and_action_by_hand() -> None:
    """Action augmentation: 4 targets per bar, the position column (x1) set to 0 and 1."""
    learner = _learner(augment=True)
    batch = BATCH._replace(
        obs=np.array([[1.0, 1.0], [0.5, 0.0]], np.float32),
        rewards_all=np.array([[[0.0, 1.0], [-1.0, 2.0]], [[0.5, 0.0], [0.0, 0.0]]], np.float32),
    )
    # Bootstrap V(t+1, a), double DQN (online picks, target values):
    #   bar 1: next flat [1, 0] -> online [1, 0] picks 0, target [3, 0] -> 3
    #          next long [1, 1] -> online [1, 2] picks 1, target [3, 1] -> 1
    #   bar 2: discount 0, so its targets are its rewards.
    # targets (flat then long states): bar 1 flat [0 + .5*3, 1 + .5*1] = [1.5, 1.5],
    #   bar 1 long [-1 + 1.5, 2 + 0.5] = [0.5, 2.5]; bar 2 flat [0.5, 0], long [0, 0].
    # online Q: [1, 0] -> [1, 0]; [.5, 0] -> [.5, 0]; [1, 1] -> [1, 2]; [.5, 1] -> [.5, 2]
    # |td|: .5 1.5 0 0 .5 .5 .5 2 -> Huber .125 1 0 0 .125 .125 .125 1.5 = 3, mean 3 / 8
    out = learner.step(batch)
    assert out["loss"] == pytest.approx(0.375, rel=1e-6)
    assert out["mean_target"] == pytest.approx((3 + 0.5 + 3 + 0) / 8, rel=1e-6)
    assert out["mean_q"] == pytest.approx((1 + 0.5 + 3 + 2.5) / 8, rel=1e-6)


def test_augmented_learner_refuses_batches_without_the_table() -> None:
    with pytest.raises(ValueError, match="rewards_all"):
        _learner(augment=True).step(BATCH)


@pytest.mark.parametrize(("obs_noise", "position_noise"), [(0.5, 0.0), (0.0, 0.25), (0.5, 0.25)])
def test_observation_noise_reaches_the_features_and_the_position_as_configured(
    obs_noise: float, position_noise: float
) -> None:
    # Both columns of SPEC: the first is a feature, the last the position.
    learner = _learner(obs_noise=obs_noise, position_noise=position_noise)
    loss = learner.step(BATCH)["loss"]
    clean = _learner().step(BATCH)["loss"]
    assert loss != pytest.approx(clean, abs=1e-6)  # the fit saw noisy inputs
    np.testing.assert_allclose(learner._noise_mask.numpy(), [obs_noise, position_noise])


def test_gradients_are_clipped_by_global_norm() -> None:
    """A batch whose raw gradient norm is ~100x ``max_grad_norm``: the applied update is bounded.

    Adam rescales gradients (its first step moves each weight by ~lr whatever their size), so
    the learner's own optimizer cannot show the clip; plain SGD with learning rate 1 applies the
    clipped gradient itself, so the weights move by exactly its norm.
    """
    import keras

    learner = _learner(max_grad_norm=0.1)
    learner.optimizer = keras.optimizers.SGD(learning_rate=1.0)
    learner.optimizer.build(learner.online.trainable_variables)
    # Huber bounds d loss / d Q by 1, so the size comes from the inputs: x1 = 300 on the second
    # observation makes its kernel gradients ~100x the bound.
    batch = BATCH._replace(obs=np.array([[1.0, 1.0], [0.5, 300.0]], np.float32))
    before = [w.copy() for w in ordered_weights(learner.online)]
    out = learner.step(batch)
    assert out["grad_norm"] > 10.0  # reported before clipping: 100x the bound
    moved = np.sqrt(
        sum(
            np.sum((a - b) ** 2)
            for a, b in zip(ordered_weights(learner.online), before, strict=True)
        )
    )
    assert moved == pytest.approx(0.1, rel=1e-4)  # the clipped gradient's norm, not ~grad_norm


def test_the_optimizer_persists_across_steps() -> None:
    learner = _learner()
    learner.step(BATCH)
    learner.step(BATCH)
    assert int(learner.optimizer.iterations.numpy()) == 2


def test_repeated_updates_fit_the_targets() -> None:
    """With discount 0 the targets are the rewards: Q(s, a) must converge to them."""
    cfg = DQNConfig(
        hidden=(16,), learning_rate=1e-2, reward_scale=1.0, weight_decay=0.0, obs_noise=0.0
    )
    learner = DQNLearner(SPEC, cfg, 3)
    batch = BATCH._replace(discount=np.zeros(2, np.float32))
    first = learner.step(batch)["loss"]
    for _ in range(300):
        last = learner.step(batch)["loss"]
    assert last < 1e-3 < first
    q = learner.online(batch.obs).numpy()
    np.testing.assert_allclose(q[[0, 1], batch.action], batch.reward, atol=0.05)


def _fit_linear(l1: float, dueling: bool = False) -> list[np.ndarray]:
    """A linear Q fitted (discount 0) on 256 bars where the reward is x0 + 0.5 * position plus
    noise and x1 is noise: returns the input kernels (rows: x0, x1, position)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 2)).astype(np.float32)
    obs = np.c_[x, rng.integers(0, 2, 256)].astype(np.float32)
    reward = (obs[:, 0] + 0.5 * obs[:, 2] + 0.5 * rng.normal(size=256)).astype(np.float32)
    spec = NetworkSpec(obs_dim=3, num_actions=2, hidden=(), dueling=dueling)
    cfg = DQNConfig(
        hidden=(), dueling=dueling, learning_rate=1e-2, reward_scale=1.0,
        weight_decay=0.0, obs_noise=0.0, l1=l1,
    )  # fmt: skip
    learner = DQNLearner(spec, cfg, seed=2)
    batches = Batch(
        obs=np.repeat(obs[None], 1500, 0),
        action=np.tile(np.arange(256) % 2, (1500, 1)).astype(np.int32),
        reward=np.repeat(reward[None], 1500, 0),
        discount=np.zeros((1500, 256), np.float32),
        next_obs=np.repeat(obs[None], 1500, 0),
    )
    learner.step_many(batches)
    return [k.numpy() for k in learner._input_kernels()]


@pytest.mark.parametrize("dueling", [False, True])
def test_l1_zeroes_a_feature_without_signal_and_leaves_the_position_alone(dueling: bool) -> None:
    plain, lasso = _fit_linear(0.0, dueling), _fit_linear(0.05, dueling)
    if not dueling:  # Q(a) = w_a . obs + b_a for both actions
        (plain,), (lasso,) = plain, lasso
        np.testing.assert_allclose(plain[[0, 2]], [[1.0, 1.0], [0.5, 0.5]], atol=0.1)
        assert np.abs(plain[1]).max() > 0.01  # the noise feature's least-squares weight
        assert np.abs(lasso[1]).max() < 0.01  # ... which the penalty drives to zero
        assert np.all(lasso[0] < plain[0] - 0.02)  # the signal is shrunk, not removed
        assert np.all(lasso[0] > 0.8)
        np.testing.assert_allclose(lasso[2], plain[2], atol=0.05)  # the position is not penalised
    else:  # both heads read the observation: both are penalised on the feature rows
        for kernel in lasso:
            assert np.abs(kernel[1]).max() < 0.01


def test_hard_target_sync_every_interval() -> None:
    learner = _learner(target_update_interval=3)
    before = [w.copy() for w in ordered_weights(learner.target)]
    learner.step(BATCH)
    learner.step(BATCH)
    for a, b in zip(ordered_weights(learner.target), before, strict=True):
        np.testing.assert_array_equal(a, b)
    learner.step(BATCH)
    for a, b in zip(ordered_weights(learner.target), ordered_weights(learner.online), strict=True):
        np.testing.assert_array_equal(a, b)


def test_polyak_target_sync() -> None:
    learner = _learner(target_update_interval=1, tau=0.25)
    old_target = ordered_weights(learner.target)
    learner.step(BATCH)
    online = ordered_weights(learner.online)
    for new, o, t in zip(ordered_weights(learner.target), online, old_target, strict=True):
        np.testing.assert_allclose(new, 0.25 * o + 0.75 * t, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dueling", [False, True])
def test_numpy_mirror_matches_keras(dueling: bool) -> None:
    spec = NetworkSpec(obs_dim=9, num_actions=2, hidden=(16, 8), dueling=dueling)
    model = build_q_network(spec, seed=4)
    obs = np.random.default_rng(0).normal(size=(32, 9)).astype(np.float32)
    mirror = NumpyQNetwork(spec, ordered_weights(model))
    np.testing.assert_allclose(mirror.q_values(obs), model(obs).numpy(), rtol=1e-5, atol=1e-6)


def test_learner_state_round_trips() -> None:
    learner = _learner()
    for _ in range(3):
        learner.step(BATCH)
    other = DQNLearner(SPEC, learner.config, seed=9)
    other.load_state_dict(learner.state_dict())
    assert other.num_updates == 3
    assert int(other.optimizer.iterations.numpy()) == 3
    # identical state -> identical next update
    assert other.step(BATCH) == learner.step(BATCH)


def test_checkpoint_of_another_network_is_refused() -> None:
    big = DQNLearner(NetworkSpec(2, 2, (4,)), DQNConfig(hidden=(4,)), seed=0)
    with pytest.raises(ValueError, match="shape"):
        _learner().load_state_dict(big.state_dict())
