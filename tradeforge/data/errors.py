"""Errors of the data layer: each message names the input and what was wrong with it."""

from __future__ import annotations


class DataError(Exception):
    """Base class of every data-layer error."""


class DataFormatError(DataError, ValueError):
    """A file or object could not be read as OHLCV bars (unknown layout, bad value, bad date)."""


class DataSourceError(DataError):
    """A source could not deliver bars (missing file, key or bucket, denied access, empty range)."""


class TickerMismatch(DataSourceError):
    """One file asked for as another ticker's bars (issue 24: no silent relabelling)."""


class NoBarsInRange(DataSourceError):
    """The source holds no bars between the start and end asked for."""


class YahooError(DataSourceError):
    """Yahoo Finance gave no usable bars (base of the two cases below)."""


class YahooUnavailable(YahooError):
    """Rate limits or network errors outlasted every retry: trying later may succeed."""


class YahooNoData(YahooError):
    """Yahoo answered with nothing usable (unknown or delisted ticker, empty range): permanent."""


class SnapshotNotFound(DataSourceError):
    """Offline mode found no stored raw snapshot covering a request."""
