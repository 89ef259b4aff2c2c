"""Data configuration: where bars come from and which dates feed which split."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tradeforge.config._validate import require, require_choice

#: The source keyword for the demo data set shipped by gym-anytrading (GOOGL daily, 2009-2018).
DEMO_SOURCE = "demo"
INTERVALS = ("1d", "1h")


def _parse_date(value: str | None, field: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field}: {value!r} is not a date (use YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class DataConfig:
    """Which instruments, from which source, over which dates."""

    tickers: tuple[str, ...] = ("GOOGL",)
    """Instruments to train on, e.g. ``("SPY", "BTC-USD")``."""
    source: str = DEMO_SOURCE
    """``demo`` | ``yahoo`` | ``s3://bucket/prefix`` | a local file or folder."""
    start: str | None = None
    """First bar to use (inclusive, YYYY-MM-DD); None = from the first bar available."""
    end: str | None = None
    """Last bar to use (exclusive, YYYY-MM-DD); None = up to the last bar available."""
    interval: str = "1d"
    """Bar interval: ``1d`` or ``1h``."""
    offline: bool = False
    """Serve Yahoo requests from stored raw snapshots only (no network)."""
    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible server; None = AWS (or $AWS_ENDPOINT_URL)."""

    def __post_init__(self) -> None:
        require(len(self.tickers) > 0, "tickers", "at least one ticker is required")
        for t in self.tickers:
            require(bool(t) and t.strip() == t, "tickers", f"{t!r} is not a ticker symbol")
        require(bool(self.source), "source", "must not be empty")
        require_choice(self.interval, "interval", INTERVALS)
        start = _parse_date(self.start, "start")
        end = _parse_date(self.end, "end")
        if start is not None and end is not None:
            require(start < end, "end", f"{self.end} is not after start {self.start}")


@dataclass(frozen=True)
class SplitConfig:
    """Date boundaries of the train / validation / test windows.

    When dates are not given, the bars are split by the fractions (70% / 15% / 15% by default),
    and the boundaries actually used are reported with the run.
    """

    val_start: str | None = None
    """First bar of the validation window (YYYY-MM-DD); None = by ``val_fraction``."""
    test_start: str | None = None
    """First bar of the test window (YYYY-MM-DD); None = by ``test_fraction``."""
    val_fraction: float = 0.15
    """Share of bars in the validation window when ``val_start`` is not given."""
    test_fraction: float = 0.15
    """Share of bars in the test window when ``test_start`` is not given."""

    def __post_init__(self) -> None:
        val = _parse_date(self.val_start, "val_start")
        test = _parse_date(self.test_start, "test_start")
        if val is not None and test is not None:
            require(
                val < test,
                "test_start",
                f"{self.test_start} is not after val_start {self.val_start}",
            )
        require(0 < self.val_fraction < 0.5, "val_fraction", f"{self.val_fraction} not in (0, 0.5)")
        require(
            0 < self.test_fraction < 0.5, "test_fraction", f"{self.test_fraction} not in (0, 0.5)"
        )
