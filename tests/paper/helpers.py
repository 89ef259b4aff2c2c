"""Paper-trading test helpers: growing CSV sources, and champions whose decisions are known.

``publish_rule`` publishes a TensorFlow-free policy with hand-set weights (no training, no
TensorFlow): ``always`` long or flat, or ``momentum`` (long when the last bar's first feature,
``logret_1``, is positive). The registry needs a ``model.keras`` file; acting reads only
``policy.npz`` / ``policy.json``, so a placeholder stands in for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from storage import open_store
from storage.registry import ModelRegistry, VersionRef
from tests.predict.champions import SPY, WINDOW
from tradeforge.config import FeatureConfig, SplitConfig

HIDDEN = 4


def spy_frame() -> pd.DataFrame:
    """The SPY daily bars 2010-2017 as a checked canonical frame."""
    from tradeforge.inference import check_bars, read_latest_bars

    frame, _ = read_latest_bars("SPY", str(SPY))
    return check_bars(frame, "SPY")


def write_source(frame: pd.DataFrame, path: Path, bars: int) -> str:
    """The first ``bars`` bars of ``frame`` as a CSV source (what a growing feed looks like)."""
    cut = frame.iloc[:bars]
    out = cut[["timestamp", "open", "high", "low", "close", "volume"]].copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d")
    out = out.rename(columns={"timestamp": "Date"}).rename(columns=str.title)
    out.to_csv(path, index=False)
    return str(path)


def rule_weights(rule: str, n_features: int) -> list[np.ndarray]:
    """Weights of a one-hidden-layer Q-network that follows ``rule``."""
    obs_dim = WINDOW * n_features + 1
    kernel = np.zeros((obs_dim, HIDDEN), np.float32)
    bias = np.zeros(HIDDEN, np.float32)
    q_kernel = np.zeros((HIDDEN, 2), np.float32)
    q_bias = np.zeros(2, np.float32)
    if rule == "always_long":
        q_bias[:] = (0.0, 1.0)
    elif rule == "always_flat":
        q_bias[:] = (1.0, 0.0)
    elif rule == "momentum":
        last = (WINDOW - 1) * n_features  # logret_1 of the latest bar in the window
        kernel[last, 0], kernel[last, 1] = 1.0, -1.0  # relu(+x), relu(-x)
        q_kernel[0, 1], q_kernel[1, 0] = 1.0, 1.0  # long when x > 0, flat when x < 0
    else:
        raise ValueError(rule)
    return [kernel, bias, q_kernel, q_bias]


def publish_rule(
    store: str,
    frame: pd.DataFrame,
    source: str,
    rule: str,
    *,
    env: dict | None = None,
    validation: list[float] | None = None,
) -> VersionRef:
    """Publish and promote a champion following ``rule``; returns its version."""
    from tradeforge.agents.network import NetworkSpec
    from tradeforge.artifact import policy_files_for
    from tradeforge.features import prepare

    ticker = str(frame["ticker"].iloc[0])
    prepared = prepare(frame, FeatureConfig(), SplitConfig(), WINDOW)
    n = len(prepared.feature_names)
    spec = NetworkSpec(WINDOW * n + 1, 2, (HIDDEN,), False)
    files = {
        "model.keras": b"placeholder: acting reads policy.npz",
        **policy_files_for([(spec, rule_weights(rule, n))]),
    }
    card = {
        "features": list(prepared.feature_names),
        "window": WINDOW,
        "scaler": prepared.scaler,
        "data": {"source": source, "boundaries": prepared.boundaries, "sha256": "test"},
        "config": {"env": {"window": WINDOW, **(env or {})}},
        "rule": rule,
    }
    if validation is not None:  # the out-of-sample record the monitor judges live returns by
        card["walk_forward"] = {"returns": list(validation)}
    registry = ModelRegistry(open_store(store))
    version = registry.publish(ticker, "dqn", files, card)
    before = registry.champion(ticker)
    assert registry.promote(
        ticker,
        version,
        {"promote": True, "reason": f"test: {rule}"},
        before.etag if before else None,
    )
    return version


def champion(store: str, ticker: str = "SPY"):
    """The store's verified champion policy."""
    from tradeforge.inference import champion_policy, open_registry

    return champion_policy(ticker, open_registry(store))


def file_frame(ticker: str, path: Path) -> pd.DataFrame:
    """A vendor file's bars as a checked canonical frame."""
    from tradeforge.inference import check_bars, read_latest_bars

    frame, _ = read_latest_bars(ticker, str(path))
    return check_bars(frame, ticker)


def append_bad_bar(path: Path) -> None:
    """Append a bar whose high is below its low (the contract refuses it)."""
    rows = pd.read_csv(path)
    last = rows.iloc[-1].copy()
    last["Date"] = (pd.Timestamp(last["Date"]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    last["High"], last["Low"] = last["Low"] - 1.0, last["High"] + 1.0
    pd.concat([rows, last.to_frame().T]).to_csv(path, index=False)
