"""``PortfolioMarket``: the arrays a portfolio env steps over, and walk-forward folds of them.

The single-asset ``MarketData`` with an asset axis: features ``(T, N, F)``, prices ``(T, N)``.
Each asset's features are built and scaled by the single-asset ``tradeforge.features.prepare``
(its own scaler, fitted on each fold's train bars only); the folds of the N assets share their
dates because the universe is on one calendar (checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tradeforge.config import FeatureConfig, SplitConfig
from tradeforge.envs.market import MarketData, iso


@dataclass(frozen=True, eq=False)
class PortfolioMarket:
    """Scaled features and prices of N assets, steppable over ``[start, end)``."""

    timestamps: np.ndarray
    """datetime64[ns] (T,)."""
    features: np.ndarray
    """float32 (T, N, F), each asset scaled by its own scaler; row t uses only bars <= t."""
    open: np.ndarray
    """float64 (T, N)."""
    close: np.ndarray
    """float64 (T, N)."""
    tickers: tuple[str, ...]
    feature_names: tuple[str, ...]
    start: int
    end: int

    def __post_init__(self) -> None:
        t, n = self.close.shape
        if self.features.shape[:2] != (t, n) or self.open.shape != (t, n):
            raise ValueError(
                f"PortfolioMarket: features {self.features.shape}, open {self.open.shape} and "
                f"close {self.close.shape} disagree"
            )
        if n != len(self.tickers) or n < 2:
            raise ValueError(f"PortfolioMarket: {n} asset columns for tickers {self.tickers}")
        if not (0 <= self.start < self.end <= t):
            raise ValueError(f"PortfolioMarket: range [{self.start}, {self.end}) outside {t} bars")
        if not (np.all(self.close > 0) and np.all(self.open > 0)):
            raise ValueError("PortfolioMarket: prices must be positive")

    @property
    def num_assets(self) -> int:
        """N, the assets besides cash."""
        return len(self.tickers)

    @property
    def num_steps(self) -> int:
        """Steps in one full episode over the range."""
        return self.end - self.start - 1

    def slice(self, start: int, end: int) -> PortfolioMarket:
        """A view with another steppable range over the same arrays (no copy)."""
        return replace(self, start=int(start), end=int(end))

    def asset(self, i: int) -> MarketData:
        """Asset ``i`` alone as a single-asset market over the same range (a copy of its column)."""
        return MarketData(
            self.timestamps, np.ascontiguousarray(self.features[:, i, :]),
            np.ascontiguousarray(self.open[:, i]), np.ascontiguousarray(self.close[:, i]),
            self.feature_names, self.start, self.end, self.tickers[i],
        )  # fmt: skip

    @classmethod
    def stack(cls, markets: Sequence[MarketData]) -> PortfolioMarket:
        """N single-asset markets over the same bars and range, side by side."""
        first = markets[0]
        for m in markets[1:]:
            if not np.array_equal(m.timestamps, first.timestamps) or (m.start, m.end) != (
                first.start,
                first.end,
            ):
                raise ValueError(
                    f"PortfolioMarket: {m.ticker}'s bars or range differ from {first.ticker}'s "
                    "(align the universe first)"
                )
        return cls(
            timestamps=first.timestamps,
            features=np.stack([m.features for m in markets], axis=1),
            open=np.column_stack([m.open for m in markets]),
            close=np.column_stack([m.close for m in markets]),
            tickers=tuple(m.ticker for m in markets),
            feature_names=first.feature_names,
            start=first.start,
            end=first.end,
        )


@dataclass(frozen=True, eq=False)
class PortfolioFold:
    """One walk-forward fold of the universe (the single-asset ``Fold`` with an asset axis)."""

    index: int
    train: PortfolioMarket
    val: PortfolioMarket
    test: PortfolioMarket
    scalers: dict[str, dict[str, Any]]
    """Ticker -> that asset's scaler, fitted on this fold's train bars."""
    boundaries: dict[str, str]


@dataclass(frozen=True, eq=False)
class PortfolioPrepared:
    """The universe's folds and final test window; boundaries as the single-asset ``Prepared``."""

    folds: tuple[PortfolioFold, ...]
    boundaries: dict[str, str]
    feature_names: tuple[str, ...]
    tickers: tuple[str, ...]

    @property
    def last(self) -> PortfolioFold:
        """The fold trained on the most bars: its model is the one published."""
        return self.folds[-1]


def prepare_portfolio(
    frames: dict[str, Any], features: FeatureConfig, split: SplitConfig, window: int
) -> PortfolioPrepared:
    """Each aligned frame through the single-asset ``prepare``, the folds stacked per date."""
    from tradeforge.features import prepare

    tickers = tuple(frames)
    prepared = [prepare(frames[t], features, split, window) for t in tickers]
    first = prepared[0]
    for t, p in zip(tickers, prepared, strict=True):
        if p.boundaries != first.boundaries:
            raise ValueError(
                f"{t}: split boundaries {p.boundaries} differ from {tickers[0]}'s "
                f"{first.boundaries} (the universe must be aligned on one calendar)"
            )
    folds = []
    for k, fold in enumerate(first.folds):
        # A fold's train, val and test views share one feature array: stack it once.
        train = PortfolioMarket.stack([p.folds[k].train for p in prepared])
        folds.append(
            PortfolioFold(
                index=k,
                train=train,
                val=train.slice(fold.val.start, fold.val.end),
                test=train.slice(fold.test.start, fold.test.end),
                scalers={t: p.folds[k].scaler for t, p in zip(tickers, prepared, strict=True)},
                boundaries=fold.boundaries,
            )
        )
    return PortfolioPrepared(tuple(folds), dict(first.boundaries), first.feature_names, tickers)


def date_of(market: PortfolioMarket, index: int) -> str:
    """ISO date of bar ``index``."""
    return iso(market.timestamps[index])
