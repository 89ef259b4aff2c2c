"""A universe: N validated tickers aligned on one calendar, fixed at its first date.

Each ticker's bars come from the single-ticker ingest and data contract unchanged; this module
only puts them side by side. A bar is kept when every asset has it; the bars some asset lacks
are reported, not filled (a forward-filled price would trade at a price nobody quoted). The
universe is fixed at its first date: a ticker with no bar then is refused by name, so no asset
joins because it survived until the data was chosen (FinRL #433's survivorship by accident).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradeforge.envs.market import iso
from tradeforge.validation.derived import CRYPTO, asset_class_of

#: Missing dates named per ticker in a report (the count is always complete).
EXAMPLES = 5


class UniverseError(ValueError):
    """The universe cannot be traded as one: the message names the tickers and the problem."""


@dataclass(frozen=True, eq=False)
class Universe:
    """N tickers' canonical frames on one shared calendar, and what aligning them dropped."""

    tickers: tuple[str, ...]
    frames: dict[str, pd.DataFrame]
    """Each ticker's canonical frame restricted to the shared calendar (same timestamps, in order)."""
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Ticker -> dates (ISO) inside the universe's span on which some asset traded but it did not."""
    notes: tuple[str, ...] = ()
    """What aligning did, one line each (bars dropped, where the universe ends and why)."""

    @property
    def timestamps(self) -> np.ndarray:
        """The shared calendar, UTC-naive datetime64[ns] (as ``MarketData.timestamps``)."""
        first = self.frames[self.tickers[0]]["timestamp"]
        return first.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")

    @property
    def asset_class(self) -> str:
        """``stock`` when any asset trades on an exchange calendar (the universe then does),
        else ``crypto``: what annualises its returns."""
        return CRYPTO if all(asset_class_of(t) == CRYPTO for t in self.tickers) else "stock"

    def prices(self, column: str) -> np.ndarray:
        """``(T, N)`` float64 array of one price column, assets in ``tickers`` order."""
        return np.column_stack([self.frames[t][column].to_numpy("float64") for t in self.tickers])

    def report(self) -> list[dict[str, object]]:
        """One row per ticker: bars kept, bars it lacked on the calendar, examples."""
        return [
            {
                "ticker": t,
                "bars": len(self.frames[t]),
                "first": iso(self.timestamps[0]),
                "last": iso(self.timestamps[-1]),
                "missing_bars": len(self.missing.get(t, [])),
                "missing_examples": ", ".join(self.missing.get(t, [])[:EXAMPLES]),
            }
            for t in self.tickers
        ]


def align_universe(frames: Mapping[str, pd.DataFrame], *, align: str = "refuse") -> Universe:
    """Put validated canonical frames (ticker -> frame) on one calendar.

    ``align="refuse"`` refuses a 24/7 crypto asset beside exchange-traded ones (their calendars
    differ on every weekend); ``"exchange_sessions"`` keeps the exchange's sessions only (the
    crypto bars of other days are dropped and noted). Raises ``UniverseError`` for fewer than
    two tickers, no date every ticker traded on, or a ticker without a bar on the universe's
    first date.
    """
    tickers = tuple(frames)
    if len(tickers) < 2:
        raise UniverseError(
            f"universe {', '.join(tickers) or '(empty)'}: a portfolio needs 2 or more tickers"
        )
    stamps = {t: _stamps(frames[t]) for t in tickers}
    crypto = [t for t in tickers if asset_class_of(t) == CRYPTO]
    listed = [t for t in tickers if t not in crypto]
    notes: list[str] = []
    if crypto and listed:
        if align != "exchange_sessions":
            raise UniverseError(
                f"universe mixes 24/7 crypto ({', '.join(crypto)}) with exchange-traded "
                f"tickers ({', '.join(listed)}): their calendars differ on every weekend and "
                "holiday; set --portfolio.align exchange_sessions to trade on the exchange's "
                "sessions only"
            )
        sessions = pd.DatetimeIndex(sorted(set().union(*(stamps[t] for t in listed))))
        for t in crypto:
            kept = stamps[t].intersection(sessions)
            notes.append(
                f"{t}: {len(stamps[t]) - len(kept)} bar(s) off the exchange's sessions dropped"
            )
            stamps[t] = kept
    _check_overlap(tickers, stamps)
    union = pd.DatetimeIndex(sorted(set().union(*stamps.values())))
    first = union[0]
    late = [t for t in tickers if stamps[t][0] > first]
    if late:
        raise UniverseError(
            f"universe is fixed at its first date {_day(first)}: "
            + "; ".join(f"{t} has no bar then (its first is {_day(stamps[t][0])})" for t in late)
            + ". Start where every ticker has bars (--start "
            + _day(max(stamps[t][0] for t in late))
            + ") or leave "
            + ", ".join(late)
            + " out: a universe chosen by who is listed today is survivorship bias"
        )
    end = min(stamps[t][-1] for t in tickers)
    common = union[union <= end]
    for t in tickers:
        common = common.intersection(stamps[t])
    span = union[union <= end]
    missing = {
        t: [_day(d) for d in span.difference(stamps[t])]
        for t in tickers
        if len(span.difference(stamps[t]))
    }
    for t, days in missing.items():
        notes.append(f"{t}: no bar on {len(days)} date(s) others traded (dropped for all)")
    early = [t for t in tickers if stamps[t][-1] == end]
    if any(stamps[t][-1] > end for t in tickers):
        notes.append(f"universe ends {_day(end)}, the last bar of {', '.join(early)}")
    aligned = {t: _on(frames[t], common) for t in tickers}
    return Universe(tickers=tickers, frames=aligned, missing=missing, notes=tuple(notes))


def _stamps(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(frame["timestamp"].dropna()).sort_values()


def _day(stamp: pd.Timestamp) -> str:
    return iso(np.datetime64(stamp.tz_convert("UTC").tz_localize(None), "ns"))


def _check_overlap(tickers: tuple[str, ...], stamps: dict[str, pd.DatetimeIndex]) -> None:
    """At least two dates every ticker traded on, else an error with each ticker's span."""
    common = stamps[tickers[0]]
    for t in tickers[1:]:
        common = common.intersection(stamps[t])
    if len(common) < 2:
        spans = ", ".join(
            f"{t} {_day(stamps[t][0])}..{_day(stamps[t][-1])}" if len(stamps[t]) else f"{t} none"
            for t in tickers
        )
        raise UniverseError(
            f"universe {', '.join(tickers)} has {len(common)} date(s) every ticker traded on "
            f"(their bars: {spans}); a portfolio needs overlapping dates"
        )


def _on(frame: pd.DataFrame, calendar: pd.DatetimeIndex) -> pd.DataFrame:
    """The frame's rows on ``calendar`` (each date once: validation refused repeats)."""
    keep = frame["timestamp"].isin(calendar)
    return frame[keep].sort_values("timestamp").reset_index(drop=True)
