"""What keeps agents from memorising their training path (issue 12): best-checkpoint selection
on the validation window, the seed ensemble, and a toy market learned with the defaults."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.agents.markets import sine_market, total_return
from tradeforge.agents import QAgent, train_agent
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork, build_q_network
from tradeforge.agents.training import ValidationSelector
from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig

MARKET = sine_market(n=600, period=20, amplitude=0.02, window=4)
ENV = EnvConfig(window=4, commission=0.001, episode_length=64)
SPEC = NetworkSpec(obs_dim=4 * 2 + 1, num_actions=2, hidden=(1,))


def _constant_policy(action: int) -> list[np.ndarray]:
    """Weights whose Q-values ignore the observation and prefer ``action``."""
    bias = np.array([1.0, 0.0] if action == 0 else [0.0, 1.0], np.float32)
    return [np.zeros((SPEC.obs_dim, 1), np.float32), np.zeros(1, np.float32),
            np.zeros((1, 2), np.float32), bias]  # fmt: skip


class _ScriptedLearner:
    """Hands out a fixed sequence of weights, one per evaluation."""

    def __init__(self, weights: list[list[np.ndarray]]) -> None:
        self._weights = iter(weights)

    def get_weights(self) -> list[np.ndarray]:
        return next(self._weights)


@pytest.mark.parametrize("falling", [False, True])
def test_selection_keeps_the_checkpoint_with_the_best_validation_score(falling: bool) -> None:
    # a market that only rises (holding is best) or only falls (cash is best)
    close = 100.0 * (0.995 if falling else 1.005) ** np.arange(600)
    market = replace(MARKET.slice(300, 600), close=close, open=np.r_[close[0], close[:-1]])
    hold = total_return(np.ones(market.num_steps, int), market, ENV)
    assert (hold < 0) if falling else (hold > 0)
    cfg = DQNConfig(eval_every=100, learning_starts=100)
    selector = ValidationSelector(market, ENV, cfg, NumpyQNetwork(SPEC))
    script = [_constant_policy(a) for a in (0, 1, 0, 1)]
    learner = _ScriptedLearner(script)
    for step in (50, 100, 150, 200, 260):  # due at 100, 200; 50 and 150 are not
        selector.maybe_evaluate(learner, step)
    selector.maybe_evaluate(learner, 300, final=True)
    # scores: step 100 flat (0), 200 long (buy-and-hold), 300 flat (0)
    assert [s for s, _ in selector.history] == [100, 200, 300]
    np.testing.assert_allclose([v for _, v in selector.history], [0.0, hold, 0.0], atol=1e-6)
    assert selector.best_step == (100 if falling else 200)
    assert selector.best_score == pytest.approx(max(0.0, hold), abs=1e-12)
    expected = script[0] if falling else script[1]
    for got, want in zip(selector.best_weights, expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("kind", "ls_fit"), [("dqn", True), ("parallel_dqn", True), ("dqn", False)]
)
def test_train_agent_returns_the_best_validation_checkpoint(kind: str, ls_fit: bool) -> None:
    train, val = MARKET.slice(4, 400), MARKET.slice(400, 600)
    cfg = DQNConfig(
        total_steps=1600, num_envs=8, hidden=(16,), learning_starts=200, eval_every=400,
        target_update_interval=100, gamma=0.9, ls_fit=ls_fit,
    )  # fmt: skip
    result = train_agent(
        kind, train, ENV, cfg, ParallelConfig(num_actors=1, synchronous=True), 0,
        validation=val, progress=False,
    )  # fmt: skip
    history = result.stats["validation_history"]
    steps = [s for s, _ in history]
    if ls_fit:  # the last SGD weights and the exact refit are both scored at the end
        assert steps[-2:] == [result.stats["steps"]] * 2
        assert result.stats["ls_fit_converged"]
    else:
        assert steps[-1] == result.stats["steps"] and steps.count(steps[-1]) == 1
        assert "ls_fit_converged" not in result.stats
    best_step, best = max(history, key=lambda h: (h[1], -h[0]))
    assert result.stats["selected_step"] == best_step
    assert result.stats["selected_validation_score"] == pytest.approx(best, abs=1e-6)
    assert total_return(result.agent, val, ENV) == pytest.approx(best, abs=1e-6)


def test_ensemble_q_values_are_the_mean_of_its_members(tmp_path) -> None:
    members = [QAgent(build_q_network(SPEC, seed=s)) for s in (1, 2, 3)]
    ensemble = QAgent.ensemble(members)
    obs = np.random.default_rng(0).normal(size=(50, SPEC.obs_dim)).astype(np.float32)
    mean = np.mean([m.q_values(obs) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.q_values(obs), mean, rtol=1e-6)
    np.testing.assert_array_equal(ensemble.act(obs), mean.argmax(axis=1))
    np.testing.assert_allclose(ensemble.model(obs).numpy(), mean, rtol=1e-5, atol=1e-6)
    loaded = QAgent.load(ensemble.save(tmp_path / "ensemble.keras"))
    assert loaded.num_members == 3
    np.testing.assert_array_equal(loaded.q_values(obs), ensemble.q_values(obs))
    with pytest.raises(ValueError, match="at least 2"):
        QAgent.ensemble(members[:1])


def test_a_mean_reverting_market_is_learned_with_the_default_settings() -> None:
    """The defaults (a linear Q, input noise, weight decay, the last weights) learn a known rule:
    out of sample the agent beats buy-and-hold and cash. Only the training length is cut."""
    from benchmarks import synthetic
    from tradeforge.config import FeatureConfig, SplitConfig
    from tradeforge.features import prepare

    env = EnvConfig()  # 10 bp commission, fills at the next open
    frame = synthetic.make("mean_reversion", 0, n=1500)
    prep = prepare(frame, FeatureConfig(), SplitConfig(), env.window)
    rule = synthetic.rule_actions(synthetic.below_sma_rule(frame), frame, prep.test)
    hold = total_return(np.ones(prep.test.num_steps, int), prep.test, env)
    assert total_return(rule, prep.test, env) > max(hold, 0.0) + 0.1  # the rule has an edge
    cfg = DQNConfig(total_steps=8_000, learning_starts=800)
    result = train_agent("dqn", prep.train, env, cfg, ParallelConfig(), 0, progress=False)
    agent_return = total_return(result.agent, prep.test, env)
    assert agent_return > max(hold, 0.0) + 0.05, (agent_return, hold)
