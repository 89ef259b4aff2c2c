"""DQN and ParallelDQN as allocators (issue 27): one shared Q-network scores every asset.

EIIE's parameter sharing (Jiang et al. 2017): the same Q-network reads each asset's row, its
own window of features plus the universe's context on that bar (the asset's features minus the
cross-sectional mean: how it stands against the others), and whether the asset is held. Each
asset's long/flat decision comes from its own two Q-values; the env puts a held asset in its
slot of capital (1/N or inverse volatility) and leaves the rest in cash. The network's size and
the action space do not grow with N (2 actions per asset, not 2^N).

Training reuses the single-asset agents unchanged. The universe is laid out as one long
``MarketData``: asset 0's bars, then asset 1's, ... (rows ``i * T + t``), with the context
columns beside the features. ``AssetEpisodesEnv`` is the single-asset ``VectorTradingEnv`` whose
episodes each stay inside one asset's stretch, so every step is a single-asset long/flat step of
one slot, paid by the same ``Accounts``: the replay buffer stores ``(row, position)`` indices,
the reward table of action augmentation and the exact refit of the last layer (``ls_fit``)
apply as they are. A slot's reward is its relative return after its own trade costs; the
portfolio's return is the slot-weighted sum of these (up to the drift between rebalances, which
evaluation charges, see ``tradeforge.portfolio.simulator``). The cash weight is not an input:
it depends on the other assets' decisions, which an index transition cannot rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig
from tradeforge.envs.market import MarketData
from tradeforge.envs.vector_env import VectorTradingEnv
from tradeforge.portfolio.env import slot_weights
from tradeforge.portfolio.market import PortfolioMarket
from tradeforge.portfolio.simulator import PortfolioEpisode, run_weights


@dataclass(frozen=True, eq=False)
class AssetRows(MarketData):
    """The universe as one long single-asset market: asset i's bar t is row ``i * T + t``.

    ``[start, end)`` covers every asset's stretch; ``stride`` is T, and each asset's steppable
    bars are ``[i * T + first, i * T + last)`` with the universe's own ``first, last``.
    """

    stride: int = 0
    first: int = 0
    last: int = 0
    num_assets: int = 0

    def asset_view(self, i: int) -> MarketData:
        """Asset ``i``'s rows as a plain ``MarketData`` over its stretch (for greedy runs)."""
        base = i * self.stride
        return MarketData(
            self.timestamps, self.features, self.open, self.close, self.feature_names,
            base + self.first, base + self.last, f"{self.ticker}[{i}]",
        )  # fmt: skip


def context_features(market: PortfolioMarket) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(T, N, 2F)`` float32: each asset's scaled features, then the same minus the bar's
    cross-sectional mean (bar t only: causal); and the column names."""
    own = market.features
    relative = own - own.mean(axis=1, keepdims=True)
    names = market.feature_names + tuple(f"xs_{n}" for n in market.feature_names)
    return np.concatenate([own, relative], axis=2).astype(np.float32), names


def asset_rows(market: PortfolioMarket) -> AssetRows:
    """The universe's rows (see ``AssetRows``) with the context columns, over its range."""
    feats, names = context_features(market)
    t, n = market.close.shape
    return AssetRows(
        timestamps=np.tile(market.timestamps, n),
        features=np.ascontiguousarray(feats.transpose(1, 0, 2).reshape(n * t, -1)),
        open=np.ascontiguousarray(market.open.T.reshape(-1)),
        close=np.ascontiguousarray(market.close.T.reshape(-1)),
        feature_names=names,
        start=market.start,
        end=(n - 1) * t + market.end,
        ticker="universe",
        stride=t,
        first=market.start,
        last=market.end,
        num_assets=n,
    )


class AssetEpisodesEnv(VectorTradingEnv):
    """The single-asset vector env over ``AssetRows``: each episode picks an asset at random and
    a random start inside its stretch, so no step crosses from one asset to the next."""

    def _begin(self, mask: np.ndarray) -> None:
        rows: AssetRows = self.market
        count = int(mask.sum())
        asset = self._rng.integers(0, rows.num_assets, size=count)
        first, last = rows.first, rows.last - 1
        length = self.config.episode_length
        if self.random_start and last - first > length:
            starts = self._rng.integers(first, last - length + 1, size=count)
            ends = starts + length
        else:
            starts, ends = np.full(count, first), np.full(count, last)
        base = asset * rows.stride
        self._accounts.reset(mask, base + starts, base + ends)


def make_asset_episodes_env(rows: AssetRows, env: EnvConfig, num_envs: int, seed: int) -> Any:
    """``DQNBuilder``'s env factory for the allocator (module level: ParallelDQN pickles it)."""
    return AssetEpisodesEnv(rows, env, num_envs, random_start=True, seed=seed)


# Its steps are ``Accounts`` steps of one asset: the reward table (action augmentation) holds.
make_asset_episodes_env.single_asset_accounting = True  # type: ignore[attr-defined]


def train_allocator(
    kind: str,
    market: PortfolioMarket,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    seed: int,
    **options: Any,
) -> Any:
    """Train the shared Q-network (``"dqn"`` or ``"parallel_dqn"``) on the universe's training
    range; ``options`` as ``tradeforge.agents.train_agent``'s (``checkpoint_dir``, ...)."""
    from tradeforge.agents.dqn import DQN
    from tradeforge.agents.parallel import ParallelDQN
    from tradeforge.agents.qagent import KERAS_LOCK

    rows = asset_rows(market)
    rows.check_window(env.window)
    options = {"progress": False, **options, "env_factory": make_asset_episodes_env}
    with KERAS_LOCK:
        if kind == "dqn":
            return DQN(rows, env, dqn, seed, **options).train()
        if kind == "parallel_dqn":
            return ParallelDQN(rows, env, dqn, parallel, seed, **options).train()
    raise ValueError(f"agent kind {kind!r} is not one of dqn, parallel_dqn")


def allocator_weights(
    policy: Any, market: PortfolioMarket, env: EnvConfig, slots: np.ndarray
) -> np.ndarray:
    """``(num_steps, N)`` target weights of a greedy per-asset policy over ``market``'s range:
    each asset's long/flat path from its own Q-values, times its slot on each bar."""
    from tradeforge.envs.episode import greedy_actions

    rows = asset_rows(market)
    held = np.column_stack(
        [
            greedy_actions(policy, rows.asset_view(i), env.window, env.min_hold)
            for i in range(market.num_assets)
        ]
    )
    return held * slots[market.start : market.end - 1]


def evaluate_allocator(
    policy: Any,
    market: PortfolioMarket,
    env: EnvConfig,
    *,
    allocation: str = "equal",
    vol_lookback: int = 20,
) -> PortfolioEpisode:
    """The greedy allocator's episode over ``market``'s whole range, costs charged on turnover."""
    slots = slot_weights(market, allocation, vol_lookback)
    return run_weights(allocator_weights(policy, market, env, slots), market, env)
