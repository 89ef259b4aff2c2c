"""Data sources and vendor formats -> the canonical OHLCV frame (no Prefect, no boto3 here)."""

from tradeforge.data.canonical import COLUMNS, infer_interval
from tradeforge.data.errors import (
    DataError,
    DataFormatError,
    DataSourceError,
    NoBarsInRange,
    SnapshotNotFound,
    TickerMismatch,
    YahooError,
    YahooNoData,
    YahooUnavailable,
)
from tradeforge.data.formats import LAYOUTS, describe_layouts, read_bars
from tradeforge.data.sources import (
    Ingested,
    check_file_ticker,
    expand_source,
    infer_ticker,
    ingest,
    is_single_file,
    split_source,
)
from tradeforge.data.yahoo import RetryPolicy, fetch_snapshots, fetch_yahoo

__all__ = [
    "COLUMNS",
    "LAYOUTS",
    "DataError",
    "DataFormatError",
    "DataSourceError",
    "Ingested",
    "NoBarsInRange",
    "RetryPolicy",
    "SnapshotNotFound",
    "TickerMismatch",
    "YahooError",
    "YahooNoData",
    "YahooUnavailable",
    "check_file_ticker",
    "describe_layouts",
    "expand_source",
    "fetch_snapshots",
    "fetch_yahoo",
    "infer_interval",
    "infer_ticker",
    "ingest",
    "is_single_file",
    "read_bars",
    "split_source",
]
