"""The paper-trading ledger: one immutable one-row Parquet object per (ticker, bar).

Layout inside any ``ObjectStore`` (local directory or S3)::

    ledger/<TICKER>/<YYYYMMDDTHHMMSSZ>.parquet          live paper trading (``LIVE_ROOT``)
    replay/<FROM>/<TICKER>/<YYYYMMDDTHHMMSSZ>.parquet   ``tradeforge paper --replay --from FROM``

Each object is created with If-None-Match (put-if-absent), the compare-and-swap the champion
pointer already relies on: of racing writers of one bar exactly one creates it. A writer that
loses reads the winner's record: the same decision (every field but ``decided_at`` and
``run_id``) is a no-op, a different one raises ``LedgerConflict`` naming the fields. Objects
are never rewritten, so a crash leaves whole records only, and the keys sort in bar order.

Why objects and not ``deltalake``: one record per bar is already the unit of idempotency, a
put-if-absent per bar needs no transaction log, works on both backends through the existing
``ObjectStore``, and adds no dependency. The folder is a Parquet dataset:
``pandas.read_parquet("<store>/ledger/SPY")`` or DuckDB's
``read_parquet('<store>/ledger/SPY/*.parquet')`` read it whole (``Ledger.frame`` does the same
through the store, for S3 too).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from storage.errors import PreconditionFailed
from storage.registry import check_ticker

if TYPE_CHECKING:
    import pyarrow as pa

    from storage.objectstore import ObjectStore

LIVE_ROOT = "ledger"
REPLAY_ROOT = "replay"
SUFFIX = ".parquet"
#: Fields that say when and by which run a record was written, not what was decided.
RUN_FIELDS = ("decided_at", "run_id")


class LedgerError(ValueError):
    """The ledger and the bars disagree, or a record is malformed; the message names both."""


class LedgerConflict(LedgerError):
    """A bar is already recorded with a different decision (another champion, other bars)."""


class RecordFields:
    """What every ledger record can do with its fields (a ticker's ``LedgerRecord``, a
    portfolio's ``tradeforge.paper.portfolio.PortfolioRecord``)."""

    def differences(self, other: Any) -> list[str]:
        """Names of the decision fields in which ``other`` differs (run fields ignored)."""
        return [
            f.name
            for f in fields(self)  # type: ignore[arg-type]
            if f.name not in RUN_FIELDS and not _same(getattr(self, f.name), getattr(other, f.name))
        ]

    def row(self) -> dict[str, Any]:
        """The record as one row of plain values."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class LedgerRecord(RecordFields):
    """One bar of paper trading: the champion's decision on it, and the outcome of the step into
    it (the previous decision's fill at this bar's open, by the backtest's own simulator)."""

    ticker: str
    bar_time: pd.Timestamp
    """The decision bar's time (UTC)."""
    decided_at: pd.Timestamp
    """Wall-clock time of the decision (UTC)."""
    run_id: str
    """The run that wrote the record (a Prefect flow run id, or ``cli``)."""
    version_id: str
    """The model version that decided."""
    agent: str
    card_sha256: str
    """sha256 of the version's model card (which pins every file's sha256)."""
    policy_sha256: str
    """sha256 of the file the policy was loaded from (``policy.npz`` or ``model.keras``)."""
    obs_sha256: str
    """sha256 of the float32 observation the policy saw (features window + position)."""
    q_flat: float
    q_long: float
    action: int
    """The greedy action wanted (0 flat, 1 long)."""
    position_before: float
    """Position held into this bar (the previous decision's ``position_after``)."""
    position_after: float
    """Position after this decision (``action``, unless ``min_hold`` kept the old one)."""
    hold_bars: int
    """Steps the position after this decision has been held (for ``min_hold``)."""
    close: float
    """This bar's close (where equity is valued)."""
    prev_bar_time: pd.Timestamp | None
    """The previous record's bar; None on the ledger's first record."""
    traded: bool
    """The previous decision changed the position (it filled at ``fill_price``)."""
    fill_price: float | None
    """The price the previous decision filled at (next open, or that bar's close)."""
    cost: float | None
    """Return lost to commission and slippage over the step into this bar."""
    net_return: float | None
    """Net return of the step from the previous bar's close to this bar's close."""
    equity: float
    """Paper equity at this bar's close (1.0 at the ledger's first record)."""


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b)


def _schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    types = {
        "ticker": pa.string(),
        "bar_time": ts,
        "decided_at": ts,
        "run_id": pa.string(),
        "version_id": pa.string(),
        "agent": pa.string(),
        "card_sha256": pa.string(),
        "policy_sha256": pa.string(),
        "obs_sha256": pa.string(),
        "q_flat": pa.float64(),
        "q_long": pa.float64(),
        "action": pa.int8(),
        "position_before": pa.float64(),
        "position_after": pa.float64(),
        "hold_bars": pa.int32(),
        "close": pa.float64(),
        "prev_bar_time": ts,
        "traded": pa.bool_(),
        "fill_price": pa.float64(),
        "cost": pa.float64(),
        "net_return": pa.float64(),
        "equity": pa.float64(),
    }
    names = [f.name for f in fields(LedgerRecord)]
    assert list(types) == names, "the Parquet schema must list LedgerRecord's fields in order"
    return pa.schema([pa.field(n, t, nullable=n in _NULLABLE) for n, t in types.items()])


_NULLABLE = ("prev_bar_time", "fill_price", "cost", "net_return")


def to_parquet(record: RecordFields, schema: pa.Schema | None = None) -> bytes:
    """The record as a one-row Parquet file (``schema``: its type's; a ticker's by default)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([record.row()], schema=schema or _schema())
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _records(table: pa.Table, where: str, kind: type = LedgerRecord) -> list[Any]:
    names = [f.name for f in fields(kind)]
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise LedgerError(f"{where}: not a ledger record (columns {missing} missing)")
    out = []
    for row in table.select(names).to_pylist():
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = pd.Timestamp(value)
            elif isinstance(value, list):  # Parquet lists come back as lists; records hold tuples
                row[key] = tuple(value)
        out.append(kind(**row))
    return out


def from_parquet(data: bytes, where: str, kind: type = LedgerRecord) -> Any:
    """The record (of type ``kind``) of a one-row Parquet object (``where`` names it in errors)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise LedgerError(f"{where}: not a readable Parquet file ({exc})") from None
    got = _records(table, where, kind)
    if len(got) != 1:
        raise LedgerError(f"{where}: holds {len(got)} rows; a ledger object holds one")
    return got[0]


def bar_stamp(bar_time: pd.Timestamp) -> str:
    """The key's name for a bar: ``20240102T000000Z`` (sortable, file-name safe)."""
    ts = pd.Timestamp(bar_time)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y%m%dT%H%M%SZ")


class Ledger:
    """One ticker's ledger in a store: append (put-if-absent), last record, whole dataset."""

    #: What one object holds: a ticker's record here; a portfolio's ledger
    #: (``tradeforge.paper.portfolio.PortfolioLedger``) stores its own through the same code.
    record_type: ClassVar[type] = LedgerRecord

    def schema(self) -> pa.Schema:
        """The Parquet schema of one record."""
        return _schema()

    def owner(self, record: Any) -> str:
        """The key a record belongs to (its ticker)."""
        return record.ticker

    def __init__(self, store: ObjectStore, ticker: str, root: str = LIVE_ROOT) -> None:
        self.store = store
        self.ticker = check_ticker(ticker)
        self.root = root.strip("/")
        self.prefix = f"{self.root}/{ticker}/"

    @classmethod
    def replay(cls, store: ObjectStore, ticker: str, start: str) -> Ledger:
        """The ledger a replay from ``start`` (YYYY-MM-DD) writes, apart from the live one."""
        return cls(store, ticker, f"{REPLAY_ROOT}/{pd.Timestamp(start).strftime('%Y-%m-%d')}")

    @property
    def uri(self) -> str:
        """Where the ledger's objects live."""
        return self.store.uri_for(self.prefix.rstrip("/"))

    def key(self, bar_time: pd.Timestamp) -> str:
        """The object key of a bar's record."""
        return f"{self.prefix}{bar_stamp(bar_time)}{SUFFIX}"

    def keys(self) -> list[str]:
        """Keys of every record, in bar order."""
        return [k for k in self.store.list(self.prefix) if k.endswith(SUFFIX)]

    def read(self, key: str) -> LedgerRecord:
        """One record by key."""
        return from_parquet(self.store.get_bytes(key), self.store.uri_for(key), self.record_type)

    def last(self) -> LedgerRecord | None:
        """The latest record (reads one object), or None for an empty ledger."""
        keys = self.keys()
        return self.read(keys[-1]) if keys else None

    def records(self) -> list[LedgerRecord]:
        """Every record, in bar order."""
        return [self.read(k) for k in self.keys()]

    def frame(self) -> pd.DataFrame:
        """Every record as one DataFrame (one row per bar, in bar order; empty with the columns
        when nothing is recorded)."""
        rows = [r.row() for r in self.records()]
        if not rows:
            return pd.DataFrame(columns=[f.name for f in fields(self.record_type)])
        return pd.DataFrame(rows)

    def append(self, record: LedgerRecord) -> bool:
        """Record a bar unless it is already recorded; True when this call wrote it.

        The same decision already recorded (a retried or concurrent run) is a no-op (False);
        a different one raises ``LedgerConflict`` and leaves the recorded one untouched.
        """
        if self.owner(record) != self.ticker:
            raise LedgerError(f"{self.uri}: a record for {self.owner(record)} does not belong here")
        key = self.key(record.bar_time)
        try:
            self.store.put_bytes(key, to_parquet(record, self.schema()), if_none_match=True)
            return True
        except PreconditionFailed:
            existing = self.read(key)
        diff = record.differences(existing)
        if diff:
            detail = ", ".join(
                f"{n} {getattr(existing, n)!r} vs {getattr(record, n)!r}" for n in diff
            )
            raise LedgerConflict(
                f"{self.store.uri_for(key)}: bar {record.bar_time} is already recorded by run "
                f"{existing.run_id!r} with a different decision ({detail}); left as it was"
            )
        return False
