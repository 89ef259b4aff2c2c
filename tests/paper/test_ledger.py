"""The ledger: one immutable Parquet object per (ticker, bar), written put-if-absent.

Checked to fail without its behaviour: with ``if_none_match=True`` removed from
``Ledger.append`` the conflict test overwrites the record and the race test sees 16 winners;
with the ``differences`` check short-circuited to ``[]`` the conflict tests see no error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from storage import open_store
from tradeforge.paper.ledger import Ledger, LedgerConflict, LedgerRecord, bar_stamp


def record(bar: str, **changes) -> LedgerRecord:
    """A plausible record of ``bar``."""
    base = LedgerRecord(
        ticker="SPY",
        bar_time=pd.Timestamp(bar, tz="UTC"),
        decided_at=pd.Timestamp("2026-01-01T22:00:00", tz="UTC"),
        run_id="run-a",
        version_id="20260101T120000000000Z-0a1b2c3d",
        agent="dqn",
        card_sha256="c" * 64,
        policy_sha256="p" * 64,
        obs_sha256="o" * 64,
        q_flat=0.1,
        q_long=0.2,
        action=1,
        position_before=0.0,
        position_after=1.0,
        hold_bars=1,
        close=101.5,
        prev_bar_time=None,
        traded=False,
        fill_price=None,
        cost=None,
        net_return=None,
        equity=1.0,
    )
    return replace(base, **changes)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    return open_store(request.getfixturevalue("s3_uri"))


def test_append_is_idempotent_and_conflicts_are_refused(store) -> None:
    ledger = Ledger(store, "SPY")
    first = record("2024-01-02")
    assert ledger.append(first) is True
    # A retry by another run at another time: the same decision, nothing written again.
    again = replace(first, run_id="run-b", decided_at=pd.Timestamp.now(tz="UTC"))
    assert ledger.append(again) is False
    assert ledger.keys() == ["ledger/SPY/20240102T000000Z.parquet"]
    assert ledger.read(ledger.keys()[0]) == first  # the first writer's run fields kept
    # Another decision of the same bar: refused, naming the field, the record unchanged.
    with pytest.raises(
        LedgerConflict, match=r"action 1 vs 0.*run 'run-a'|run 'run-a'.*action 1 vs 0"
    ):
        ledger.append(replace(first, action=0, position_after=0.0))
    assert ledger.last() == first


def test_records_read_back_as_one_dataset_in_bar_order(store) -> None:
    ledger = Ledger(store, "SPY")
    bars = ["2024-01-03", "2024-01-02", "2024-01-05"]  # appended out of order on purpose
    for bar in bars:
        ledger.append(record(bar, close=float(bar[-1])))
    frame = ledger.frame()
    assert list(frame["bar_time"].dt.strftime("%Y-%m-%d")) == sorted(bars)
    assert frame["close"].tolist() == [2.0, 3.0, 5.0]
    assert frame["prev_bar_time"].isna().all() and frame["net_return"].isna().all()
    assert ledger.last().bar_time == pd.Timestamp("2024-01-05", tz="UTC")
    other = Ledger(store, "AAPL")
    assert other.last() is None and other.frame().empty


def test_local_ledger_is_a_parquet_dataset(tmp_path) -> None:
    """pandas reads the folder directly (in-flight temp files start with '.' and are skipped)."""
    ledger = Ledger(open_store(str(tmp_path)), "SPY")
    ledger.append(record("2024-01-02"))
    ledger.append(record("2024-01-03", equity=1.01))
    frame = pd.read_parquet(tmp_path / "ledger" / "SPY")
    assert sorted(frame["equity"]) == [1.0, 1.01]


def test_bar_stamp_is_utc_and_sortable() -> None:
    assert bar_stamp(pd.Timestamp("2024-01-02 15:30", tz="America/New_York")) == "20240102T203000Z"
    assert bar_stamp(pd.Timestamp("2024-01-02")) == "20240102T000000Z"


def race_appends(writers: int, prepare: Callable[[int], tuple[Ledger, Any]]) -> list[object]:
    """``writers`` threads each build a ledger client and a record (``prepare(i)``), then
    append at once (a barrier); each one's outcome: True / False, or its ``LedgerConflict``.
    A portfolio's ledger races the same way (``tests/paper/test_portfolio.py``)."""
    barrier = threading.Barrier(writers)
    outcomes: list[object] = [None] * writers

    def write(i: int) -> None:
        ledger, mine = prepare(i)
        barrier.wait()
        try:
            outcomes[i] = ledger.append(mine)
        except LedgerConflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return outcomes


def check_one_winner(outcomes: list[object], same: bool) -> int:
    """Exactly one writer created the record; the others saw the same decision (no-op) or a
    different one (``LedgerConflict``). Returns the winner's index."""
    assert outcomes.count(True) == 1
    losers = [o for o in outcomes if o is not True]
    if same:
        assert losers == [False] * (len(outcomes) - 1)
    else:
        assert all(isinstance(o, LedgerConflict) for o in losers)
    return outcomes.index(True)


@pytest.mark.parametrize("same", [True, False], ids=["same-decision", "different-decisions"])
def test_sixteen_racing_writers_of_one_bar_on_seaweedfs(s3_uri, same) -> None:
    """16 writers (each with its own S3 client) append one bar at once: exactly one creates it;
    the others see the same decision (no-op) or a different one (LedgerConflict)."""

    def prepare(i: int) -> tuple[Ledger, LedgerRecord]:
        mine = record("2024-01-02", run_id=f"run-{i}", q_long=0.2 if same else 0.2 + i)
        return Ledger(open_store(s3_uri), "SPY"), mine

    winner = check_one_winner(race_appends(16, prepare), same)
    (only,) = Ledger(open_store(s3_uri), "SPY").records()
    assert only.run_id == f"run-{winner}"
