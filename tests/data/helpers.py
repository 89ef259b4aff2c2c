"""Paths to the real vendor files in ../shared and small helpers to inject one fault."""

from __future__ import annotations

from pathlib import Path

MARKET = Path(__file__).resolve().parents[3] / "shared" / "data" / "market"


def market_file(name: str) -> Path:
    """A real vendor file in ../shared/data/market (read-only: never edited)."""
    path = MARKET / name
    assert path.is_file(), f"missing shared data file {path}"
    return path


def vendor_files() -> list[Path]:
    """Every vendor CSV in ../shared/data/market; none is an error, not an empty parameter set.

    Tests parametrised with it would otherwise be skipped ("got empty parameter set") and the
    run go green without checking a single real file.
    """
    files = sorted(MARKET.glob("*.csv"))
    if not files:
        raise FileNotFoundError(
            f"no vendor CSV files in {MARKET}: the tests need the shared market data "
            "(../shared/data/market beside the repository)"
        )
    return files


def interval_of(path: Path) -> str:
    """The bar interval a vendor file name announces."""
    return "1h" if "hourly" in path.name else "1d"
