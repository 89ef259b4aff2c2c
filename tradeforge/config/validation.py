"""Validation configuration: the data contract's thresholds and declared splits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tradeforge.config._base import OptionalCount, Section


def parse_split(value: str) -> tuple[str, str, float]:
    """``"NVDA:2021-07-20=4"`` -> ``("NVDA", "2021-07-20", 4.0)``; no ticker = every ticker (``*``)."""
    where, sep, ratio_text = value.rpartition("=")
    ticker, _, date = where.rpartition(":")
    try:
        ratio = float(ratio_text)
    except ValueError:
        ratio = float("nan")
    if not sep or not date or not ratio > 0:
        raise ValueError(f"{value!r} is not TICKER:YYYY-MM-DD=RATIO (e.g. NVDA:2021-07-20=4)")
    return (ticker.upper() or "*", date, ratio)


class ValidationConfig(Section):
    """What the great-expectations contract tolerates before it stops a run."""

    max_stale_bars: OptionalCount = Field(
        None,
        ge=0,
        description="Longest run of identical zero-volume bars dropped with a warning (longer stops the run); empty = 5 daily / 14 hourly stock bars, 21 / 24 crypto.",
    )
    suspected_splits: Literal["error", "warning"] = Field(
        "error",
        description="A bar that moved like an undeclared split: stop the run (error) or only warn.",
    )
    splits: tuple[str, ...] = Field(
        (),
        description="Declared splits of unadjusted data, TICKER:YYYY-MM-DD=RATIO (bars before are adjusted), e.g. NVDA:2021-07-20=4.",
    )

    @field_validator("splits")
    @classmethod
    def _splits(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            parse_split(value)
        return values

    def splits_for(self, ticker: str) -> dict[str, float] | None:
        """The splits declared for ``ticker`` (and for every ticker), date -> ratio."""
        out: dict[str, float] = {}
        for name, date, ratio in sorted(map(parse_split, self.splits), key=lambda s: s[0] != "*"):
            if name in ("*", ticker.upper()):
                out[date] = ratio
        return out or None
