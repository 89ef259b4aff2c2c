"""Data configuration: where bars come from and which dates feed which split."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tradeforge.config._base import OptionalDate, OptionalText, Section, as_date

#: The source keyword for the demo data set shipped by gym-anytrading (GOOGL daily, 2009-2018).
DEMO_SOURCE = "demo"
Interval = Literal["1d", "1h"]
INTERVALS: tuple[str, ...] = ("1d", "1h")
#: A ticker symbol as the model registry stores it: SPY, BTC-USD, ^GSPC, BRK.B, EURUSD=X.
TICKER_PATTERN = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.\-_=^]{0,31}$")


def check_symbols(tickers: tuple[str, ...]) -> None:
    """``ValueError`` naming the first entry that is not a ticker symbol."""
    for t in tickers:
        if not TICKER_PATTERN.match(t) or ".." in t:
            raise ValueError(
                f"{t!r} is not a ticker symbol (letters, digits and .-_=^, e.g. SPY, BTC-USD, ^GSPC)"
            )


class DataConfig(Section):
    """Which instruments, from which source, over which dates."""

    tickers: tuple[str, ...] = Field(
        ("GOOGL",),
        min_length=1,
        description="Instruments to train on, e.g. SPY,BTC-USD (default: GOOGL, or the file's ticker).",
    )
    source: str = Field(
        DEMO_SOURCE,
        min_length=1,
        description="Where bars come from: demo (GOOGL 2009-2018 from gym-anytrading) | yahoo | s3://bucket/prefix | a CSV/Parquet file or folder.",
    )
    start: OptionalDate = Field(None, description="First bar to use (inclusive, YYYY-MM-DD).")
    end: OptionalDate = Field(None, description="Last bar to use (exclusive, YYYY-MM-DD).")
    interval: Interval = Field("1d", description="Bar interval.")
    offline: bool = Field(False, description="Serve Yahoo requests from stored snapshots only.")
    s3_endpoint_url: OptionalText = Field(
        None,
        description="Endpoint of an S3-compatible server (SeaweedFS, MinIO); empty = AWS or $AWS_ENDPOINT_URL.",
    )

    @field_validator("tickers")
    @classmethod
    def _symbols(cls, tickers: tuple[str, ...]) -> tuple[str, ...]:
        check_symbols(tickers)
        if len(set(tickers)) != len(tickers):
            raise ValueError(f"{list(tickers)} names a ticker twice")
        return tickers

    @model_validator(mode="after")
    def _dates_in_order(self) -> DataConfig:
        start, end = as_date(self.start), as_date(self.end)
        if start is not None and end is not None and not start < end:
            raise ValueError(f"end: {self.end} is not after start {self.start}")
        return self


class SplitConfig(Section):
    """Walk-forward folds and the final test window, by date.

    The bars from ``val_start`` to ``test_start`` are cut into ``folds`` consecutive validation
    stretches; fold k trains on every bar before its stretch (less ``gap`` bars) and is
    validated on it (expanding window). Selection and the promotion gate use the validation
    returns pooled over the folds; the test window is reported, never used to choose. Without
    dates, each validation stretch is ``val_fraction`` of the bars and the test window the last
    ``test_fraction`` (3 folds: train 40%, validation 3 x 15%, test 15%).
    """

    folds: int = Field(
        3,
        ge=1,
        le=20,
        description="Walk-forward folds (expanding train window, one validation stretch each).",
    )
    gap: int = Field(
        10,
        ge=0,
        description="Bars left out between each fold's training and validation bars (no reward of a training step looks into validation).",
    )
    val_start: OptionalDate = Field(
        None,
        description="First bar of the first fold's validation (YYYY-MM-DD); empty = by val_fraction.",
    )
    test_start: OptionalDate = Field(
        None, description="First bar of the test window (YYYY-MM-DD); empty = by test_fraction."
    )
    val_fraction: float = Field(
        0.15,
        gt=0,
        lt=0.5,
        description="Share of bars in each fold's validation stretch without val_start.",
    )
    test_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="Share of bars in the test window without test_start."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> SplitConfig:
        val, test = as_date(self.val_start), as_date(self.test_start)
        if val is not None and test is not None and not val < test:
            raise ValueError(
                f"test_start: {self.test_start} is not after val_start {self.val_start}"
            )
        return self
