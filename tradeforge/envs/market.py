"""``MarketData``: the arrays an environment steps over, shared by train/val/test views."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class MarketData:
    """Scaled features and prices of one instrument, with the steppable bar range ``[start, end)``.

    Bars before ``start`` are look-back only: they fill the first observation's window. An episode
    observes bars ``start .. end-1``; each step moves from bar ``t`` to ``t+1``, so a full episode
    has ``end - start - 1`` steps and its net worth is known at ``end - start`` closes.
    """

    timestamps: np.ndarray
    """datetime64[ns] of each bar (UTC-naive values of UTC times), shape (T,)."""
    features: np.ndarray
    """float32 (T, F), already scaled; row t uses only bars <= t."""
    open: np.ndarray
    """float64 (T,) opening prices (fills in ``next_open`` mode)."""
    close: np.ndarray
    """float64 (T,) closing prices (valuation, and fills in ``same_close`` mode)."""
    feature_names: tuple[str, ...]
    """Column names of ``features``."""
    start: int
    """First steppable bar (index into the arrays)."""
    end: int
    """One past the last steppable bar."""
    ticker: str = ""
    """Instrument symbol, for messages and plots."""

    def __post_init__(self) -> None:
        n = len(self.close)
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise ValueError(
                f"MarketData: features shape {self.features.shape} does not match {n} bars"
            )
        if self.features.shape[1] != len(self.feature_names):
            raise ValueError(
                f"MarketData: {self.features.shape[1]} feature columns but "
                f"{len(self.feature_names)} names {self.feature_names}"
            )
        for name in ("timestamps", "open"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"MarketData: {name} has {len(getattr(self, name))} rows, not {n}")
        if self.features.dtype != np.float32:
            raise ValueError(f"MarketData: features dtype {self.features.dtype}, expected float32")
        if not (0 <= self.start < self.end <= n):
            raise ValueError(
                f"MarketData{self._label()}: range [{self.start}, {self.end}) is not inside "
                f"the {n} bars"
            )
        if not (np.all(self.close > 0) and np.all(self.open > 0)):
            raise ValueError(f"MarketData{self._label()}: prices must be positive")

    def _label(self) -> str:
        return f" {self.ticker}" if self.ticker else ""

    @property
    def num_bars(self) -> int:
        """Bars in the steppable range."""
        return self.end - self.start

    @property
    def num_steps(self) -> int:
        """Steps in one full episode over the range."""
        return self.end - self.start - 1

    def slice(self, start: int, end: int) -> MarketData:
        """A view with another steppable range over the same arrays (no copy)."""
        return replace(self, start=int(start), end=int(end))

    def check_window(self, window: int) -> None:
        """Raise unless every observation of the range has ``window`` bars of look-back."""
        if self.start < window - 1:
            raise ValueError(
                f"MarketData{self._label()}: start {self.start} leaves {self.start} look-back "
                f"bars; window {window} needs {window - 1}"
            )
        if self.num_bars < 2:
            raise ValueError(
                f"MarketData{self._label()}: range [{self.start}, {self.end}) has "
                f"{self.num_bars} bar(s); at least 2 are needed for one step"
            )

    def date(self, index: int) -> str:
        """ISO text of bar ``index``'s time (date only for midnight bars)."""
        return iso(self.timestamps[index])


def iso(value: np.datetime64) -> str:
    """ISO date for a midnight timestamp, ISO date-time otherwise."""
    ts = np.datetime64(value, "ns")
    day = ts.astype("datetime64[D]")
    if ts == day:
        return str(day)
    return str(ts.astype("datetime64[s]"))
