"""The portfolio env (issue 27): exact accounting with costs on every unit of turnover, fills
at the next open, per-asset slots, and no look-ahead in any asset's observation."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import random_walk
from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
from tradeforge.portfolio.env import PortfolioVectorEnv, slot_weights
from tradeforge.portfolio.market import PortfolioMarket, prepare_portfolio
from tradeforge.portfolio.simulator import run_weights

SPLIT = SplitConfig(folds=2, gap=2, val_fraction=0.2, test_fraction=0.2)


def _toy(opens: list[list[float]], closes: list[list[float]]) -> PortfolioMarket:
    o, c = np.array(opens, float), np.array(closes, float)
    t, n = c.shape
    return PortfolioMarket(
        timestamps=np.arange(t).astype("datetime64[D]").astype("datetime64[ns]"),
        features=np.zeros((t, n, 1), np.float32), open=o, close=c,
        tickers=tuple(f"A{i}" for i in range(n)), feature_names=("f",), start=0, end=t,
    )  # fmt: skip


def _frames(n_assets: int = 3, bars: int = 400) -> dict:
    return {f"RW{i}": random_walk(i, bars).assign(ticker=f"RW{i}") for i in range(n_assets)}


def test_fills_at_next_open_and_charges_every_unit_of_turnover() -> None:
    market = _toy([[10, 20], [11, 20], [12, 25]], [[10, 20], [12, 22], [12, 24]])
    env = EnvConfig(window=1, commission=0.01, slippage=0.005, initial_cash=100.0)
    episode = run_weights(np.array([[0.5, 0.5], [0.0, 0.5]]), market, env)
    # Step 1: decided on bar 0, filled at bar 1's opens from all cash: turnover 1.
    after = 100.0 * (1 - 0.015 * 1.0)
    units = np.array([0.5 * after / 11, 0.5 * after / 20])
    worth1 = units @ [12, 22]
    # Step 2: filled at bar 2's opens; the drifted holdings sell asset 0 entirely.
    value = units * [12, 25]
    worth_open = value.sum()
    turnover = abs(0 - value[0] / worth_open) + abs(0.5 - value[1] / worth_open)
    after2 = worth_open * (1 - 0.015 * turnover)
    worth2 = 0.5 * after2 / 25 * 24 + 0.5 * after2
    np.testing.assert_allclose(episode.net_worth, [100.0, worth1, worth2], rtol=1e-12)
    np.testing.assert_allclose(episode.turnover, [1.0, turnover], rtol=1e-12)


def test_same_close_execution_fills_at_the_decision_bars_close() -> None:
    market = _toy([[10, 20], [11, 20]], [[10, 20], [12, 22]])
    env = EnvConfig(window=1, commission=0.0, execution="same_close", initial_cash=1.0)
    episode = run_weights(np.array([[1.0, 0.0]]), market, env)
    assert episode.net_worth[-1] == pytest.approx(12 / 10)


def test_env_holds_each_assets_slot_and_rewards_the_net_log_return() -> None:
    prepared = prepare_portfolio(_frames(), FeatureConfig(), SPLIT, window=3)
    market = prepared.last.train
    env_cfg = EnvConfig(window=3, commission=0.001, slippage=0.0005)
    env = PortfolioVectorEnv(market, env_cfg, 2, random_start=False)
    obs, _ = env.reset()
    assert obs.shape == (2, 3, 3 * 8 + 2) and (obs[:, :, -1] == 1.0).all()  # all cash
    actions = np.array([[1, 1, 1], [1, 0, 0]])
    worth, rewards = [env.net_worth], []
    for _ in range(market.num_steps):
        obs, r, _, done, info = env.step(actions)
        rewards.append(r)
        worth.append(info["final_net_worth"] if done.any() else env.net_worth)
    assert done.all()
    # All held = 1/N rebalanced each step; one held = a third in it, the rest cash.
    steps = market.num_steps
    for row, weights in ((0, [1 / 3] * 3), (1, [1 / 3, 0, 0])):
        expected = run_weights(np.tile(weights, (steps, 1)), market, env_cfg).net_worth
        np.testing.assert_allclose([w[row] for w in worth], expected, rtol=1e-10)
        np.testing.assert_allclose(
            np.sum(rewards, axis=0)[row], np.log(expected[-1] / expected[0]), rtol=1e-10
        )
    with pytest.raises(ValueError, match="expected 0/1 of shape"):
        env.step(np.array([[1, 2, 0], [0, 0, 0]]))


def test_bad_weights_are_refused() -> None:
    market = _toy([[10, 20], [11, 20]], [[10, 20], [12, 22]])
    with pytest.raises(ValueError, match=r"sum to 1\.2.* > 1"):
        run_weights(np.array([[0.6, 0.6]]), market, EnvConfig(window=1))
    with pytest.raises(ValueError, match=">= 0"):
        run_weights(np.array([[-0.1, 0.6]]), market, EnvConfig(window=1))


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_no_asset_observation_or_slot_looks_ahead(where: float) -> None:
    """Perturb every asset's bars after ``cut`` (in the test window, so no scaler changes):
    every asset's observations and inverse-volatility slots up to ``cut`` stay identical."""
    frames = _frames(bars=400)
    before = prepare_portfolio(frames, FeatureConfig(), SPLIT, window=3).last.test
    cut = before.start + 1 + round(where * (before.end - before.start - 3))  # 1 .. end - 2
    cut_time = before.timestamps[cut]
    rng = np.random.default_rng(5)
    changed = {}
    for ticker, frame in frames.items():
        later = frame["timestamp"].dt.tz_localize(None).to_numpy() > cut_time
        factor = rng.uniform(0.5, 1.5, later.sum())
        frame = frame.copy()
        for col in ("open", "high", "low", "close"):
            frame.loc[later, col] = frame.loc[later, col] * factor
        changed[ticker] = frame
    after = prepare_portfolio(changed, FeatureConfig(), SPLIT, window=3).last.test
    env_cfg = EnvConfig(window=3)
    obs = {}
    for name, market in (("before", before), ("after", after)):
        view = market.slice(before.start, cut + 1)
        env = PortfolioVectorEnv(view, env_cfg, 1, random_start=False)
        first, _ = env.reset()
        rows = [first]
        for _ in range(view.num_steps):  # up to the observation of bar cut itself
            step_obs, _, _, done, info = env.step(np.ones((1, 3), int))
            rows.append(info["final_obs"] if done.any() else step_obs)
        obs[name] = np.concatenate(rows)
        obs[name + "_slots"] = slot_weights(market, "inverse_vol", 20)[: cut + 1]
    np.testing.assert_array_equal(obs["before"], obs["after"])
    np.testing.assert_array_equal(obs["before_slots"], obs["after_slots"])
    np.testing.assert_array_equal(before.features[: cut + 1], after.features[: cut + 1])
    # The perturbation is real: every asset's later features did change.
    assert (before.features[cut + 1 :] != after.features[cut + 1 :]).any(axis=(0, 2)).all()


def test_a_clients_current_weights_are_checked_against_the_universe() -> None:
    from tradeforge.portfolio.simulator import current_weights

    tickers = ("AAPL", "MSFT")
    got = current_weights({"AAPL": 0.25, "cash": 0.75}, tickers)
    np.testing.assert_array_equal(got, [0.25, 0.0])
    with pytest.raises(ValueError, match=r"sum to 0\.900000, not 1"):
        current_weights({"AAPL": 0.4, "MSFT": 0.5}, tickers)
    with pytest.raises(ValueError, match=r"TSLA not in the universe \(AAPL, MSFT, cash\)"):
        current_weights({"AAPL": 0.5, "TSLA": 0.5}, tickers)
    with pytest.raises(ValueError, match="MSFT must be finite and >= 0"):
        current_weights({"AAPL": 1.5, "MSFT": -0.5}, tickers)
    with pytest.raises(ValueError, match="AAPL must be finite") as nan:
        current_weights({"AAPL": float("nan"), "cash": 1.0}, tickers)
    assert "nan" not in str(nan.value)
    hostile = {f"{i:03d}" + "X" * 100_000: 0.001 for i in range(1000)}  # 100 MB of keys
    with pytest.raises(ValueError, match=r"not in the universe") as named:
        current_weights(hostile, tickers)
    message = str(named.value)
    assert len(message) < 400 and message.startswith("weights: 000XXX") and "995 more" in message
