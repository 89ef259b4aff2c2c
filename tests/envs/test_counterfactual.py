"""The reward table equals what the simulator pays for every (bar, position, action)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs.test_vector_env import cfg, five_bars
from tradeforge.envs.counterfactual import counterfactual_supported, reward_table
from tradeforge.envs.simulator import Accounts


def _simulated(market, config, t: int, position: int, action: int) -> float:
    """Reward of ``action`` at bar ``t`` from ``position``, by stepping real accounts."""
    acc = Accounts(market, config, 1)
    mask = np.ones(1, bool)
    if position:  # enter long one bar earlier, so the position is held at bar t
        acc.reset(mask, np.array([t - 1]), np.array([market.end - 1]))
        acc.step(np.array([1]))
    else:
        acc.reset(mask, np.array([t]), np.array([market.end - 1]))
    assert acc.t[0] == t and acc.position[0] == position
    rewards, _ = acc.step(np.array([action]))
    return float(rewards[0])


@pytest.mark.parametrize(
    "overrides",
    [
        {"execution": "next_open"},
        {"execution": "same_close"},
        {"execution": "next_open", "slippage": 0.02},
        {"reward": "pbr"},
        {"turnover_penalty": 0.003, "reward_clip": 0.05},
    ],
)
def test_table_matches_the_simulator_everywhere(overrides) -> None:
    market, config = five_bars(), cfg(**overrides)
    table = reward_table(market, config)
    assert table.shape == (5, 2, 2) and table.dtype == np.float32
    for t in range(1, 4):  # bar 0 has no bar before it to be long from
        for p in (0, 1):
            for a in (0, 1):
                expected = _simulated(market, config, t, p, a)
                assert table[t, p, a] == pytest.approx(expected, rel=1e-6, abs=1e-7), (t, p, a)
    assert np.isnan(table[-1]).all()  # no bar after the last one


def test_rewards_with_memory_have_no_table() -> None:
    for overrides in ({"reward": "risk_adjusted"}, {"reward": "differential_sharpe"}):
        reason = counterfactual_supported(cfg(**overrides))
        assert reason is not None and "earlier returns" in reason
        with pytest.raises(ValueError, match="no reward table"):
            reward_table(five_bars(), cfg(**overrides))
    assert "min_hold" in counterfactual_supported(cfg(min_hold=3))
