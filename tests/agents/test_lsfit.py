"""The exact refit of the last layer (fitted Q iteration on the replay buffer, ``ls_fit``)."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.agents.buffer import ReplayBuffer, Transitions
from tradeforge.agents.lsfit import fit_head
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork

T, GAMMA, COST = 12, 0.9, 0.3
RNG = np.random.default_rng(3)
RET = RNG.normal(0.0, 1.0, T)
#: rewards of every (bar, position, action): the next bar's return when long, COST per switch
TABLE = np.array(
    [[[-COST * p, RET[t] - COST * (1 - p)] for p in (0, 1)] for t in range(T)], np.float32
)


def _tabular_obs(t: np.ndarray, position: np.ndarray) -> np.ndarray:
    """One-hot bar index and the position: a linear Q can then represent the exact Q."""
    return np.hstack([np.eye(T, dtype=np.float32)[t], np.asarray(position, np.float32)[:, None]])


def _exact_q() -> np.ndarray:
    """Q[t, p, a] by backward induction; the episode ends after bar T - 2's step."""
    q = np.zeros((T - 1, 2, 2))
    for t in reversed(range(T - 1)):
        for p in (0, 1):
            for a in (0, 1):
                boot = 0.0 if t == T - 2 else GAMMA * q[t + 1, a].max()
                q[t, p, a] = TABLE[t, p, a] + boot
    return q


def _buffer(augment: bool) -> ReplayBuffer:
    t = np.arange(T - 1, dtype=np.int32)
    discount = np.where(t == T - 2, 0.0, GAMMA).astype(np.float32)
    buffer = ReplayBuffer(64, _tabular_obs, seed=0, reward_table=TABLE if augment else None)
    if augment:  # actions and positions are irrelevant: the table gives all four
        zeros = np.zeros(len(t), np.float32)
        buffer.add(Transitions(t, zeros, t * 0, zeros, discount, t + 1, zeros))
        return buffer
    for p in (0, 1):  # without augmentation every (position, action) must have been tried
        for a in (0, 1):
            pos, act = np.full(len(t), p, np.float32), np.full(len(t), a, np.int32)
            reward = TABLE[t, p, a]
            buffer.add(
                Transitions(t, pos, act, reward, discount, t + 1, np.full(len(t), a, np.float32))
            )
    return buffer


def _random_weights(spec: NetworkSpec) -> list[np.ndarray]:
    from tradeforge.agents.network import build_q_network, ordered_weights

    return ordered_weights(build_q_network(spec, seed=1))


@pytest.mark.parametrize("augment", [True, False])
@pytest.mark.parametrize("dueling", [False, True])
def test_fitted_q_iteration_reaches_the_exact_q_of_a_tabular_market(augment, dueling) -> None:
    spec = NetworkSpec(obs_dim=T + 1, num_actions=2, hidden=(), dueling=dueling)
    fit = fit_head(
        spec, _random_weights(spec), _buffer(augment), reward_scale=1.0,
        noise=np.zeros(T + 1), augment=augment, tol=1e-9,
    )  # fmt: skip
    assert fit.converged and fit.sweeps < 2_000
    assert fit.rows == (2 if augment else 4) * (T - 1)  # both positions' rows (and actions')
    net = NumpyQNetwork(spec, fit.weights)
    q = _exact_q()
    for p in (0, 1):
        obs = _tabular_obs(np.arange(T - 1), np.full(T - 1, p))
        np.testing.assert_allclose(net.q_values(obs), q[:, p, :], atol=1e-4)


def test_the_ridge_is_the_one_the_observation_noise_implies() -> None:
    # no bootstrap: the fit is a ridge regression of the rewards on [features, position, 1]
    n, d, sigma = 400, 3, 0.5
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n, d)).astype(np.float32)
    table = np.zeros((n, 2, 2), np.float32)
    table[:, :, 1] = (feats @ [1.0, -0.5, 0.0] + rng.normal(0, 1.0, n))[:, None]

    def obs_fn(t, position):
        return np.hstack([feats[t], np.asarray(position, np.float32)[:, None]])

    # the first 100 bars are stored twice (actors revisit bars): they weigh twice
    t = np.r_[np.arange(n), np.arange(100)].astype(np.int32)
    z = np.zeros(len(t), np.float32)
    buffer = ReplayBuffer(len(t), obs_fn, seed=0, reward_table=table)
    buffer.add(Transitions(t, z, t * 0, z, z, t, z))  # discount 0
    spec = NetworkSpec(obs_dim=d + 1, num_actions=2, hidden=())
    noise = np.r_[np.full(d, sigma), 0.0]
    fit = fit_head(spec, _random_weights(spec), buffer, reward_scale=1.0, noise=noise, augment=True)
    x = np.hstack([np.vstack([obs_fn(t, z), obs_fn(t, z + 1)]), np.ones((2 * len(t), 1))])
    y = np.r_[table[t, 0, 1], table[t, 1, 1]]
    assert fit.rows == 2 * len(t)
    # what SGD on noisy inputs minimises in expectation: ||y - Xw||^2 + rows sigma^2 ||w_feat||^2
    penalty = np.diag(np.r_[np.full(d, 2 * len(t) * sigma**2), 0.0, 0.0])
    want = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    got = np.r_[fit.weights[0][:, 1], fit.weights[1][1]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    plain = np.linalg.lstsq(x, y, rcond=None)[0]
    assert abs(got[0]) < abs(plain[0]) - 0.05  # shrunk towards zero ...
    assert got[0] > 0.5  # ... not removed


def test_a_hidden_layer_is_kept_and_only_the_head_refit() -> None:
    spec = NetworkSpec(obs_dim=T + 1, num_actions=2, hidden=(8,))
    weights = _random_weights(spec)
    fit = fit_head(
        spec, weights, _buffer(True), reward_scale=1.0, noise=np.zeros(T + 1), augment=True
    )
    for got, want in zip(fit.weights[:2], weights[:2], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(fit.weights[2], weights[2])


def test_an_empty_buffer_is_refused() -> None:
    spec = NetworkSpec(obs_dim=T + 1, num_actions=2, hidden=())
    buffer = ReplayBuffer(8, _tabular_obs, seed=0, reward_table=TABLE)
    with pytest.raises(ValueError, match="replay buffer is empty"):
        fit_head(
            spec,
            _random_weights(spec),
            buffer,
            reward_scale=1.0,
            noise=np.zeros(T + 1),
            augment=True,
        )


def _diverging_buffer() -> ReplayBuffer:
    """Fitted Q iteration's classic failure (Tsitsiklis & Van Roy 1997): the bars x = 1, 2 lead
    to x = 3, which no row fits, so a line through the targets extrapolates: w' = 1.5 gamma w."""
    feat = np.array([0.0, 1.0, 2.0, 3.0], np.float32)

    def obs_fn(t, position):
        return np.stack([feat[t], np.zeros(len(t), np.float32)], axis=1)

    t, z = np.array([0, 1, 2], np.int32), np.zeros(3, np.float32)
    buffer = ReplayBuffer(8, obs_fn, seed=0)
    buffer.add(Transitions(t, z, t * 0, z, np.full(3, 0.99, np.float32), np.array([0, 3, 3]), z))
    return buffer


def test_a_diverging_iteration_is_reported_and_the_learner_keeps_its_weights(caplog) -> None:
    from tradeforge.agents.learner import DQNLearner
    from tradeforge.config import DQNConfig

    spec = NetworkSpec(obs_dim=2, num_actions=2, hidden=())
    weights = [np.array([[0.1, 0.1], [0.0, 0.0]], np.float32), np.zeros(2, np.float32)]
    fit = fit_head(
        spec, weights, _diverging_buffer(), reward_scale=1.0, noise=np.zeros(2), augment=False
    )
    assert not fit.converged and fit.sweeps < 100  # stopped as soon as it ran away
    learner = DQNLearner(spec, DQNConfig(obs_noise=0.0), seed=0)
    before = learner.get_weights()
    stats = learner.fit_head(_diverging_buffer())
    assert stats["ls_fit_converged"] is False
    for got, want in zip(learner.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert "did not converge" in caplog.text and "keeps its SGD weights" in caplog.text
