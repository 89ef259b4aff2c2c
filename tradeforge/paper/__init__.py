"""Paper trading: the champion decides on every new bar and an append-only ledger records it.

No Prefect here (``flows/paper.py`` and ``tasks/paper.py`` wrap it). ``ledger`` holds the
records (one immutable Parquet object per ticker and bar), ``trader`` the one loop that
decides and settles bars (``step``), which live runs, catch-up and replay all drive.
"""

from tradeforge.paper.ledger import (
    LIVE_ROOT,
    REPLAY_ROOT,
    Ledger,
    LedgerConflict,
    LedgerError,
    LedgerRecord,
)
from tradeforge.paper.trader import card_env, decide_bar, paper_market, settle, step

__all__ = [
    "LIVE_ROOT",
    "REPLAY_ROOT",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "LedgerRecord",
    "card_env",
    "decide_bar",
    "paper_market",
    "settle",
    "step",
]
