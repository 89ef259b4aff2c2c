"""Inference on the champion: the action for the latest bar (no Prefect here; see flows/predict.py).

The champion's files are verified against their sha256 (and its card against the pointer)
before anything is loaded; the model is loaded with Keras safe mode; features are built with
the model card's own feature list and scaler, never refitted.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import pandas as pd

ACTIONS = {0: "flat", 1: "long"}
POSITIONS = {"flat": 0.0, "long": 1.0}


class NoChampionError(LookupError):
    """The store holds no champion for the ticker."""


def _registry(store: str, endpoint_url: str | None):
    from storage import open_store
    from storage.registry import ModelRegistry

    return ModelRegistry(open_store(store, endpoint_url=endpoint_url))


def parse_position(position: str | float) -> float:
    """``flat`` / ``long`` (or 0 / 1) -> the observation's position value."""
    if isinstance(position, str):
        if position.lower() not in POSITIONS:
            raise ValueError(f"position {position!r}: use 'flat' or 'long'")
        return POSITIONS[position.lower()]
    if float(position) not in (0.0, 1.0):
        raise ValueError(f"position {position!r}: use 0 (flat) or 1 (long)")
    return float(position)


def champion_info(ticker: str, store: str, *, endpoint_url: str | None = None) -> dict[str, Any]:
    """The ticker's champion, every file verified: version, agent, card sha256, metrics."""
    registry = _registry(store, endpoint_url)
    if registry.champion(ticker) is None:
        raise NoChampionError(
            f"no champion for {ticker} in {registry.store.uri}: train and promote one first "
            f"(tradeforge train --tickers {ticker} --store {store})"
        )
    with tempfile.TemporaryDirectory(prefix="tradeforge-champion-") as tmp:
        champ, loaded = registry.load_champion(ticker, tmp)
    card = loaded.card
    return {
        "ticker": champ.ticker,
        "agent": champ.agent,
        "version_id": champ.version_id,
        "uri": champ.uri,
        "card_sha256": champ.card_sha256,
        "promoted_at": champ.promoted_at,
        "features": list(card["features"]),
        "window": int(card["window"]),
        "metrics": card.get("metrics", {}),
        "data_boundaries": card.get("data", {}).get("boundaries"),
    }


def predict_latest(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    *,
    position: str | float = "flat",
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The champion's greedy action for the latest bar of ``frame`` (a validated canonical frame).

    ``champion`` is ``champion_info``'s result; the version it names is loaded again and
    re-verified here (files are never trusted between steps). ``position`` is what the account
    holds now, part of the agent's observation.
    """
    from storage.errors import IntegrityError
    from tradeforge.agents import QAgent
    from tradeforge.config import FeatureConfig
    from tradeforge.envs.observation import observations_at
    from tradeforge.features import market_for_inference

    pos = parse_position(position)
    ticker = champion["ticker"]
    tickers = set(frame["ticker"].unique()) if "ticker" in frame else set()
    if tickers and tickers != {ticker}:
        raise ValueError(f"predict: bars are for {sorted(tickers)}, the champion for {ticker}")
    registry = _registry(store, endpoint_url)
    with tempfile.TemporaryDirectory(prefix="tradeforge-predict-") as tmp:
        loaded = registry.load_version(ticker, champion["agent"], champion["version_id"], tmp)
        if loaded.card_sha256 != champion["card_sha256"]:
            raise IntegrityError(
                f"{loaded.ref.uri}: model card changed since the champion was read; refused"
            )
        agent = QAgent.load(loaded.model_path)
    card = loaded.card
    window = int(card["window"])
    features = FeatureConfig(features=tuple(card["features"]))
    market = market_for_inference(frame, features, card["scaler"], window)
    t = market.end - 1
    obs = observations_at(market.features, window, np.array([t]), np.array([pos]))
    if obs.shape[1] != agent.obs_dim:
        raise ValueError(
            f"predict: observation has {obs.shape[1]} values, the model expects {agent.obs_dim}"
        )
    q = agent.q_values(obs)[0]
    action = int(agent.act(obs)[0])
    return {
        "ticker": ticker,
        "timestamp": market.date(t),
        "close": float(market.close[t]),
        "position": ACTIONS[int(pos)],
        "action": action,
        "action_name": ACTIONS[action],
        "q_values": [float(v) for v in q],
        "version_id": champion["version_id"],
        "agent": champion["agent"],
        "version_uri": champion["uri"],
    }
