"""Target weights of a universe's champion for the latest bar (issue 27), without TensorFlow.

``tradeforge predict --portfolio NAME`` runs ``predict_portfolio``: load the verified champion
(card against the pointer, ``policy.npz`` against the card), check the client's current weights
against its universe (``WeightsError`` naming the problem, before any bar is read), read and
check each asset's latest bars from the card's source, align them on one calendar, and let the
shared Q-network decide each asset's long/flat on the latest bar; a held asset gets its slot
(1/N or inverse volatility, as trained), the rest is cash. ``target_weights`` is the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.artifact import LoadedPolicy, card_interval, card_window


class WeightsError(ValueError):
    """The client's current weights do not fit the universe (outside it, not summing to 1)."""


def check_current(policy: LoadedPolicy, weights: dict[str, float] | None) -> np.ndarray:
    """The client's holdings as ``(N,)`` in the card's ticker order; all cash when None."""
    from tradeforge.portfolio.champion import card_tickers
    from tradeforge.portfolio.simulator import current_weights

    tickers = card_tickers(policy.card)
    if weights is None:
        return np.zeros(len(tickers))
    try:
        return current_weights(weights, tickers)
    except ValueError as exc:
        raise WeightsError(f"current_weights: {exc}") from None


def asset_observations(
    policy: LoadedPolicy, features: np.ndarray, t: int, held: np.ndarray
) -> np.ndarray:
    """``(N, obs_dim)`` float32: each asset's window of ``features`` (``(T, N, F)``, the
    allocator's context features) ending on bar ``t``, and whether it is held (``held``, 0/1),
    as the shared Q-network reads them (``tradeforge.portfolio.allocator``)."""
    from tradeforge.envs.observation import observations_at

    window = card_window(policy.card)
    obs = np.concatenate(
        [
            observations_at(features[:, i, :], window, np.array([t]), held[i : i + 1])
            for i in range(features.shape[1])
        ]
    )
    if obs.shape[1] != policy.obs_dim:
        raise ValueError(
            f"portfolio {policy.ticker}: observations have {obs.shape[1]} values, version "
            f"{policy.version_id} expects {policy.obs_dim} (card and network disagree)"
        )
    return obs


@dataclass(frozen=True)
class UniverseBar:
    """What a champion sees of its universe's latest common bar before the client's weights:
    each asset's observation (held flag, the last value, 0 here), its slot weight (1/N or
    inverse volatility) and the bar's time. ``serve`` caches it per version."""

    observations: np.ndarray
    slots: np.ndarray
    timestamp: str


def universe_bar(policy: LoadedPolicy, frames: dict[str, pd.DataFrame]) -> UniverseBar:
    """The latest common bar of ``frames`` (canonical, aligned) as ``policy`` observes it."""
    from tradeforge.portfolio.allocator import context_features
    from tradeforge.portfolio.champion import allocator_market, card_tickers
    from tradeforge.portfolio.env import slot_weights

    card = policy.card
    market = allocator_market(frames, card)
    features, _ = context_features(market)
    t = market.end - 1
    obs = asset_observations(policy, features, t, np.zeros(len(card_tickers(card)), np.float32))
    slots = slot_weights(market, card["allocation"], card["vol_lookback"])[t]
    return UniverseBar(obs, slots, pd.Timestamp(market.timestamps[t]).isoformat())


def weights_for(policy: LoadedPolicy, bar: UniverseBar, current: np.ndarray) -> dict[str, Any]:
    """Each asset's long/flat on ``bar`` given ``current`` holdings (an asset with weight > 0
    is held, as in training); the target weights and cash."""
    from tradeforge.portfolio.champion import card_tickers

    tickers = card_tickers(policy.card)
    obs = bar.observations.copy()
    obs[:, -1] = (current > 0).astype(np.float32)
    q = policy.q_values(obs)
    long = np.argmax(q, axis=1) == 1  # ties go to flat, as the single-asset policy
    target = np.where(long, bar.slots, 0.0)
    return {
        "portfolio": policy.ticker,
        "timestamp": bar.timestamp,
        "weights": {k: round(float(w), 10) for k, w in zip(tickers, target, strict=True)},
        "cash": round(float(1.0 - target.sum()), 10),
        "current_weights": {k: float(w) for k, w in zip(tickers, current, strict=True)},
        "turnover": round(float(np.abs(target - current).sum()), 10),
        "q_values": {k: [float(v) for v in row] for k, row in zip(tickers, q, strict=True)},
        "version_id": policy.version_id,
        "agent": policy.agent,
        "version_uri": policy.uri,
        "loaded_from": policy.loaded_from,
    }


def target_weights(
    policy: LoadedPolicy, frames: dict[str, pd.DataFrame], current: np.ndarray
) -> dict[str, Any]:
    """Each asset's long/flat on the latest common bar of ``frames`` (canonical, aligned), given
    ``current`` holdings (an asset with weight > 0 is held); the target weights and cash."""
    return weights_for(policy, universe_bar(policy, frames), current)


def predict_portfolio(
    name: str,
    store: str,
    *,
    current: dict[str, float] | None = None,
    source: str | None = None,
    start: str | None = None,
    end: str | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The universe ``name``'s champion's target weights for the latest bar, read from
    ``source`` (default: the one in its model card). ``current`` (ticker -> weight, ``cash``
    for the rest) defaults to all cash, and the result says it was assumed."""
    from storage import open_store
    from tradeforge.inference import champion_policy, resolve_source
    from tradeforge.portfolio.champion import portfolio_registry

    registry = portfolio_registry(open_store(store, endpoint_url=endpoint_url))
    policy = champion_policy(name, registry, allow_keras=False)
    held = check_current(policy, current)  # a bad request fails before any bar is read
    frames = latest_frames(
        policy, source, start=start, end=end, offline=offline, endpoint_url=endpoint_url,
        snapshot_store=store,
    )  # fmt: skip
    return target_weights(policy, frames, held) | {
        "weights_assumed": current is None,
        "source": resolve_source(policy, source),
    }


def latest_frames(
    policy: LoadedPolicy,
    source: str | None,
    *,
    start: str | None = None,
    end: str | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
    snapshot_store: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Each asset's bars from ``source`` (default: the card's), checked by the contract's error
    rules and aligned on one calendar as in training."""
    from tradeforge.inference import check_bars, read_latest_bars, resolve_source
    from tradeforge.portfolio.champion import card_tickers
    from tradeforge.portfolio.universe import align_universe

    where = resolve_source(policy, source)
    interval = card_interval(policy.card)
    frames = {}
    for ticker in card_tickers(policy.card):
        frame, _ = read_latest_bars(
            ticker, where, start=start, end=end, interval=interval, offline=offline,
            endpoint_url=endpoint_url, snapshot_store=snapshot_store,
        )  # fmt: skip
        frames[ticker] = check_bars(frame, ticker, interval)
    align = policy.card.get("config", {}).get("portfolio", {}).get("align", "refuse")
    return dict(align_universe(frames, align=align).frames)
