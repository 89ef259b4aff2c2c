"""Champions for the predict and serve tests: small seeded Q-networks published through the real
registry, with (new) or without (published before issue 13) the TensorFlow-free policy files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from storage import open_store
from storage.registry import ModelRegistry, VersionRef
from tradeforge.config import FeatureConfig, SplitConfig

WINDOW = 5
ROOT = Path(__file__).resolve().parents[2]
SPY = ROOT.parent / "shared" / "data" / "market" / "SPY_2010-2017_yahoo.csv"


@dataclass
class Published:
    """A published (and maybe promoted) version and what made it."""

    store: str
    version: VersionRef
    agent: Any
    prepared: Any


def publish(
    store: str,
    frame: pd.DataFrame,
    source: str,
    *,
    seed: int = 3,
    hidden: tuple[int, ...] = (16,),
    dueling: bool = False,
    numpy_policy: bool = True,
    promote: bool = True,
    workdir: Path,
    features: FeatureConfig = FeatureConfig(),  # noqa: B008 - frozen
    window: int = WINDOW,
    split: SplitConfig = SplitConfig(),  # noqa: B008 - frozen
) -> Published:
    """Build a seeded network for ``frame``'s features, publish it and (by default) promote it."""
    from tradeforge.agents import QAgent
    from tradeforge.agents.network import NetworkSpec, build_q_network
    from tradeforge.artifact import policy_files
    from tradeforge.features import prepare

    ticker = str(frame["ticker"].iloc[0])
    prepared = prepare(frame, features, split, window)
    n_features = len(prepared.feature_names)
    spec = NetworkSpec(window * n_features + 1, 2, hidden, dueling)
    agent = QAgent(build_q_network(spec, seed=seed))
    model = agent.save(workdir / f"model-{seed}-{dueling}-{window}.keras")
    files: dict[str, Any] = {"model.keras": model}
    if numpy_policy:
        files.update(policy_files(agent))
    card = {
        "features": list(prepared.feature_names),
        "window": window,
        "scaler": prepared.scaler,
        "data": {"source": source, "boundaries": prepared.boundaries, "sha256": "test"},
        "metrics": {"validation": {"sharpe": 0.5, "max_drawdown": 0.1}},
        "seed": seed,
    }
    registry = ModelRegistry(open_store(store))
    version = registry.publish(ticker, "dqn", files, card)
    if promote:
        before = registry.champion(ticker)
        assert registry.promote(
            ticker,
            version,
            {"promote": True, "reason": "test"},
            before.etag if before is not None else None,
        )
    return Published(store, version, agent, prepared)
