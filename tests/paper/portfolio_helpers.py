"""Portfolio paper-trading test helpers: a synthetic universe as growing CSV files, and portfolio
champions with hand-set TensorFlow-free Q-networks (``tests/paper/helpers.rule_weights``: the
same rules read each asset's row), published in the registry's portfolio space with the card
``tradeforge.portfolio.champion.gate_and_promote`` writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.synthetic import momentum
from storage import open_store
from storage.registry import VersionRef
from tests.paper.helpers import HIDDEN, rule_weights
from tests.portfolio.test_universe import _csv
from tests.predict.champions import WINDOW
from tradeforge.config import (
    DataConfig,
    EnvConfig,
    FeatureConfig,
    PipelineConfig,
    PortfolioConfig,
    SplitConfig,
)

TICKERS = ("A0", "A1", "A2")
SPLIT = SplitConfig(folds=2, gap=2)
BARS = 700
#: Costs and a hold rule, so settlement and ``min_hold`` both matter in the parity test.
ENV = {"commission": 0.001, "slippage": 0.0005, "min_hold": 2}


def universe() -> dict[str, pd.DataFrame]:
    """Three AR(1) momentum assets on one exchange calendar (canonical frames)."""
    return {t: momentum(i, BARS).assign(ticker=t) for i, t in enumerate(TICKERS)}


def write_universe(frames: dict[str, pd.DataFrame], folder: Path, bars: int) -> str:
    """The first ``bars`` bars of each asset as ``<folder>/<TICKER>.csv`` (a growing feed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, frame in frames.items():
        _csv(frame.iloc[:bars], folder / f"{ticker}.csv")
    return str(folder)


def publish_portfolio_rule(
    store: str,
    frames: dict[str, pd.DataFrame],
    source: str,
    rule: str,
    *,
    name: str = "mom3",
    allocation: str = "inverse_vol",
    validation: list[float] | None = None,
) -> VersionRef:
    """Publish and promote a portfolio champion following ``rule`` on every asset."""
    from tradeforge.agents.network import NetworkSpec
    from tradeforge.artifact import policy_files_for
    from tradeforge.portfolio.champion import portfolio_registry
    from tradeforge.portfolio.market import prepare_portfolio

    prepared = prepare_portfolio(frames, FeatureConfig(), SPLIT, WINDOW)
    n = 2 * len(prepared.feature_names)  # each asset's features and the cross-sectional context
    spec = NetworkSpec(WINDOW * n + 1, 2, (HIDDEN,), False)
    files = {
        "model.keras": b"placeholder: acting reads policy.npz",
        **policy_files_for([(spec, rule_weights(rule, n))]),
    }
    cfg = PipelineConfig(
        data=DataConfig(tickers=TICKERS, source=source),
        split=SPLIT,
        env=EnvConfig(window=WINDOW, **ENV),
        portfolio=PortfolioConfig(tickers=TICKERS, name=name, allocation=allocation),
    )
    card = {
        "tickers": list(TICKERS),
        "agent": "dqn",
        "config": cfg.model_dump(mode="json"),
        "data": {"source": source, "interval": "1d", "boundaries": prepared.boundaries},
        "features": list(prepared.feature_names),
        "window": WINDOW,
        "scalers": prepared.last.scalers,
        "allocation": allocation,
        "vol_lookback": cfg.portfolio.vol_lookback,
        "rule": rule,
    }
    if validation is not None:  # the pooled validation record the monitor judges by
        card["walk_forward"] = {"returns": list(validation)}
    registry = portfolio_registry(open_store(store))
    version = registry.publish(name, "dqn", files, card)
    before = registry.champion(name)
    assert registry.promote(
        name, version, {"promote": True, "reason": f"test: {rule}"}, before.etag if before else None
    )
    return version
