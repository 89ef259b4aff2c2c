"""Two synthetic markets for the paper deployment on the real stack: one whose structure holds,
one whose structure breaks just after the champion goes live.

Both are AR(1) momentum markets (``benchmarks/synthetic.py``, phi 0.5, 1% a bar: the
benchmark's ``MOMENTUM``) traded by the same rule champion (``tests/paper/helpers``'s
``momentum``: long after an up bar). ``STBL`` keeps its structure; in ``BRKN`` the
autocorrelation flips to -0.8 and the volatility rises to 2.5% a bar ``BREAK_AFTER`` bars into
live trading (a regime change: the rule now buys the bars that reverse). Each champion's card
carries its validation record: the rule's net returns, by the project's simulator, on the 500
bars before live trading (``benchmarks/paper_monitor.rule_returns``), which is what the monitor
judges the live ledger against. Checked offline with ``first_alarm`` on the same returns (seed
1): ``BRKN`` is demoted 12 live returns in, ``STBL`` not within 40.

Sources are CSV objects in the stack's S3 (``s3://<bucket>/market/<T>.csv``), rewritten with
one more bar (or several) before each run: a feed that grows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of scripts, not a package on the path
    sys.path.insert(0, str(ROOT))

from benchmarks import paper_monitor, synthetic  # noqa: E402

#: Bars before live trading: 100 of warm-up for the features, then the 500-bar validation record.
LIVE_START = 100 + paper_monitor.VALIDATION_BARS
#: Live bars the frames hold (the 30-run script uses 30).
LIVE_BARS = 40
BREAK_AFTER = 3
SEED = 1
TICKERS = ("STBL", "BRKN")


def market(ticker: str, seed: int = SEED) -> pd.DataFrame:
    """The ticker's bars: ``LIVE_START + LIVE_BARS + 1`` daily bars on exchange sessions."""
    momentum = paper_monitor.MOMENTUM
    if ticker == "STBL":
        rng = np.random.default_rng([seed, 26])
        r = synthetic.ar1_returns(rng, LIVE_START + LIVE_BARS + 1, **momentum)
    elif ticker == "BRKN":
        rng = np.random.default_rng([seed, 25])
        before = LIVE_START + BREAK_AFTER
        r = np.r_[
            synthetic.ar1_returns(rng, before, **momentum),
            synthetic.ar1_returns(rng, LIVE_BARS + 1 - BREAK_AFTER, phi=-0.8, vol=0.025),
        ]
    else:
        raise ValueError(ticker)
    return synthetic._frame(r, rng, ticker)


def validation_record(frame: pd.DataFrame) -> list[float]:
    """The rule's net returns on the 500 bars before live trading (the champion's promise)."""
    returns = paper_monitor.rule_returns(frame.iloc[: LIVE_START + 1], synthetic.last_return_rule)
    return returns[100:LIVE_START].tolist()


def put_source(store: object, ticker: str, frame: pd.DataFrame, bars: int) -> None:
    """Write the first ``bars`` bars as ``<T>.csv`` into ``store`` (an ``ObjectStore``)."""
    from tests.paper.helpers import write_source

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{ticker}.csv"
        write_source(frame, path, bars)
        store.put_bytes(f"{ticker}.csv", path.read_bytes())


def publish_champions(store: str, market_uri: str) -> dict[str, pd.DataFrame]:
    """Both champions published and promoted in ``store``, their sources in ``market_uri``
    holding the bars up to the first live bar; returns the frames."""
    from storage import open_store
    from tests.paper.helpers import publish_rule

    sources = open_store(market_uri)
    frames = {}
    for ticker in TICKERS:
        frame = market(ticker)
        put_source(sources, ticker, frame, LIVE_START + 1)
        publish_rule(
            store,
            frame.iloc[: LIVE_START + 1],
            f"{market_uri}/{ticker}.csv",
            "momentum",
            validation=validation_record(frame),
        )
        frames[ticker] = frame
    return frames
