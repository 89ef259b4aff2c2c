"""Small local reader of the real vendor files in ../shared/data/market, for tests only.

The data engineer's ingest is the real loader; this keeps the feature and env tests independent
of it (a plain Yahoo-layout CSV read, sorted ascending, into the canonical frame).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

MARKET_DIR = Path(__file__).resolve().parents[3] / "shared/data/market"


def load_yahoo(name: str, ticker: str) -> pd.DataFrame:
    """A canonical OHLCV frame from a Yahoo-layout CSV (Date,Open,High,Low,Close,Volume,...)."""
    raw = pd.read_csv(MARKET_DIR / name)
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "timestamp": pd.to_datetime(raw["Date"], utc=True),
            "open": raw["Open"].astype("float64"),
            "high": raw["High"].astype("float64"),
            "low": raw["Low"].astype("float64"),
            "close": raw["Close"].astype("float64"),
            "volume": raw["Volume"].astype("float64"),
        }
    )
    return frame.sort_values("timestamp").reset_index(drop=True)


def synthetic_frame(n: int = 300, seed: int = 0, ticker: str = "TOY") -> pd.DataFrame:
    """A random-walk canonical frame with consistent OHLC (high >= open, close >= low)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    volume = rng.integers(1_000, 10_000, n).astype("float64")
    timestamps = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "ticker": ticker,
            "timestamp": timestamps,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )
