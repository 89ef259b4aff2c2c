"""The allocators (issue 27): one shared Q-network over every asset's rows, trained by the
project's own DQN / ParallelDQN with action augmentation and the exact refit."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import momentum, random_walk
from tradeforge.config import DQNConfig, EnvConfig, FeatureConfig, ParallelConfig, SplitConfig
from tradeforge.portfolio.allocator import (
    allocator_weights,
    asset_rows,
    evaluate_allocator,
    make_asset_episodes_env,
    train_allocator,
)
from tradeforge.portfolio.env import slot_weights
from tradeforge.portfolio.market import prepare_portfolio
from tradeforge.portfolio.simulator import run_weights

ENV = EnvConfig(window=3)


def _universe(make, n_assets: int = 3, bars: int = 600, folds: int = 1):
    frames = {f"A{i}": make(i, bars).assign(ticker=f"A{i}") for i in range(n_assets)}
    return prepare_portfolio(frames, FeatureConfig(), SplitConfig(folds=folds, gap=2), window=3)


class _Always:
    def __init__(self, action: int) -> None:
        self.action = action

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.action)


def test_rows_hold_each_assets_features_and_its_cross_sectional_context() -> None:
    market = _universe(random_walk).last.train
    rows = asset_rows(market)
    t_len, n = market.close.shape
    for i in range(n):
        block = rows.features[i * t_len : (i + 1) * t_len]
        np.testing.assert_array_equal(block[:, :8], market.features[:, i])
        relative = market.features[:, i] - market.features.mean(axis=1)
        np.testing.assert_allclose(block[:, 8:], relative, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(rows.close[i * t_len : (i + 1) * t_len], market.close[:, i])


def test_training_episodes_never_cross_from_one_asset_to_the_next() -> None:
    market = _universe(random_walk).last.train
    rows = asset_rows(market)
    env = make_asset_episodes_env(rows, ENV.replace(episode_length=50), 16, seed=3)
    env.reset()
    t, _ = env.state_index()
    asset = t // rows.stride
    seen = set(asset.tolist())
    for _ in range(400):
        _, _, _, done, info = env.step(np.random.default_rng(0).integers(0, 2, 16))
        now, _ = env.state_index()
        last = np.where(done, info.get("final_state_index", (now, None))[0], now)
        assert (last // rows.stride == asset).all()  # an episode stays on its asset
        assert ((last % rows.stride >= rows.first) & (last % rows.stride < rows.last)).all()
        asset = now // rows.stride
        seen |= set(asset.tolist())
    assert seen == {0, 1, 2}  # every asset is trained on


def test_each_held_asset_fills_its_slot_and_the_rest_is_cash() -> None:
    market = _universe(random_walk).last.val
    slots = slot_weights(market, "inverse_vol", 20)
    weights = allocator_weights(_Always(1), market, ENV, slots)
    np.testing.assert_allclose(weights, slots[market.start : market.end - 1])
    assert (allocator_weights(_Always(0), market, ENV, slots) == 0).all()
    everything = evaluate_allocator(_Always(1), market, ENV)
    equal = run_weights(np.full((market.num_steps, 3), 1 / 3), market, ENV)
    np.testing.assert_allclose(everything.net_worth, equal.net_worth)  # all held = 1/N


def test_dqn_allocator_learns_a_momentum_universe_with_augmentation_and_refit() -> None:
    prepared = _universe(momentum, bars=800)
    result = train_allocator(
        "dqn", prepared.last.train, ENV, DQNConfig(total_steps=1_000, num_envs=8),
        ParallelConfig(), seed=0,
    )  # fmt: skip
    assert result.stats["action_augmentation"] == "on"
    assert result.stats["steps"] == 1_000
    assert result.agent.obs_dim == 3 * 16 + 1  # window x (own + context features) + held
    gains = {}
    for name in ("val", "test"):
        market = getattr(prepared.last, name)
        agent = evaluate_allocator(result.agent, market, ENV).net_worth
        equal = run_weights(np.full((market.num_steps, 3), 1 / 3), market, ENV).net_worth
        gains[name] = (agent[-1] / agent[0], equal[-1] / equal[0])
    pooled_agent = np.prod([g[0] for g in gains.values()])
    pooled_equal = np.prod([g[1] for g in gains.values()])
    assert pooled_agent > pooled_equal + 0.05, gains


@pytest.mark.parametrize("kind", ["parallel_dqn"])
def test_parallel_dqn_with_one_synchronous_actor_reproduces_dqn(kind: str) -> None:
    market = _universe(random_walk, n_assets=2, bars=400).last.train
    cfg = DQNConfig(total_steps=200, num_envs=4, ls_fit=False)
    dqn = train_allocator("dqn", market, ENV, cfg, ParallelConfig(), seed=1)
    par = train_allocator(kind, market, ENV, cfg, ParallelConfig(num_actors=1, synchronous=True), 1)
    for a, b in zip(dqn.agent.model.get_weights(), par.agent.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_portfolio_training_of_a_run_resumes_from_its_checkpoint(tmp_path) -> None:
    """What a Ctrl-C'd (or killed) portfolio run leaves, a checkpoint in the run's folder, is
    where the same run's training of that candidate and fold starts again (``--run.resume``),
    as single-ticker trainings do; once trained, the checkpoints are removed."""
    from tradeforge.agents.checkpoint import load_checkpoint
    from tradeforge.config import PortfolioConfig
    from tradeforge.portfolio.evaluate import train_and_score
    from tradeforge.records import CandidateId
    from tradeforge.training import run_dirs

    fold = _universe(random_walk, folds=1).last
    portfolio = PortfolioConfig(tickers=("A0", "A1", "A2"), name="u3")
    cid = CandidateId(agent="dqn", seed=0, reward=ENV.reward)
    dirs = run_dirs(str(tmp_path), "run-1", "portfolio/u3", cid, fold.index)
    cfg = DQNConfig(total_steps=200, num_envs=4, checkpoint_every=100, eval_every=0)
    train_allocator("dqn", fold.train, ENV, cfg, ParallelConfig(), 0,
                    checkpoint_dir=str(dirs.checkpoints))  # fmt: skip
    _, meta = load_checkpoint(dirs.checkpoints)
    saved_at = int(meta["env_steps"])
    assert saved_at > 0
    resumed = train_and_score(
        "dqn", 0, fold, ENV, cfg.replace(total_steps=saved_at + 100), ParallelConfig(), portfolio,
        test=False, work_dir=str(tmp_path), run_id="run-1",
    )  # fmt: skip
    assert resumed.stats["resumed_from"] == saved_at
    assert resumed.stats["steps"] == saved_at + 100
    assert not dirs.checkpoints.exists()
    assert any(dirs.tensorboard.rglob("events.out.tfevents.*"))
