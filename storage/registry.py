"""The model registry: immutable versions, a champion pointer per key, a promotion history.

A key is a ticker (``TICKERS``, the single-asset models) or a portfolio's universe name
(``PORTFOLIOS``, under ``models/portfolio/<name>/``): the same code, the key space validated
by its own rule. Layout of the ticker space inside any ``ObjectStore`` (local directory or S3)::

    models/<ticker>/<agent>/<version>/model.keras        the files of one version (plots, ...)
    models/<ticker>/<agent>/<version>/model_card.json    written LAST: a version without its card
                                                         is incomplete and is never promoted
    models/<ticker>/champion.json                        the pointer, moved by conditional writes
    models/<ticker>/history/<time>-<id>.json             one object per decision, never rewritten

and the same under ``models/portfolio/<name>/`` for portfolios (``portfolio`` is not a ticker).

Every object of a version is written with If-None-Match, so a version can never change once
written. The card records the sha256 of every file; reading a version verifies them all, and the
pointer records the card's own sha256. The pointer is created with If-None-Match and then only
moved with If-Match on the ETag the caller read, so of two racing promotions exactly one wins.
Only JSON and raw bytes are stored: nothing is ever unpickled.

A champion whose live record breaks from its validation record is demoted (``demote``): the
pointer moves, by the same If-Match, back to the previous champion or to a *tombstone* (a
pointer naming no version, with the demotion's reason), and the history records why. A
tombstone reads as "no champion"; the next promotion replaces it with If-Match.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.errors import (
    IntegrityError,
    InvalidKey,
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
)
from storage.objectstore import ObjectStore

ROOT = "models"
CARD = "model_card.json"
MODEL = "model.keras"
CHAMPION = "champion.json"
HISTORY = "history"
#: What a history entry records.
OUTCOMES = ("promoted", "rejected", "lost_race", "demoted")

_TICKER = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.\-_=^]{0,31}$")
#: The longest universe name (``models/portfolio/<name>/``); the config's ``portfolio.name``
#: and the default name (the tickers joined by ``-``) are checked against the same rule.
PORTFOLIO_NAME_MAX = 128
_PORTFOLIO = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9.\-_=^]{{0,{PORTFOLIO_NAME_MAX - 1}}}$")
#: The folder of portfolio champions inside ``models/``: reserved, never a ticker.
PORTFOLIO_FOLDER = "portfolio"
_AGENT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_VERSION = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_ticker(ticker: str) -> str:
    """Return ``ticker`` or raise ``InvalidKey`` (letters, digits, ``.-_=^``, up to 32)."""
    if not isinstance(ticker, str) or not _TICKER.match(ticker) or ".." in ticker:
        raise InvalidKey(f"ticker {ticker!r}: not a ticker symbol (e.g. SPY, BTC-USD, ^GSPC)")
    if ticker.lower() == PORTFOLIO_FOLDER:
        raise InvalidKey(f"ticker {ticker!r}: reserved for portfolio champions (models/portfolio/)")
    return ticker


def check_portfolio_name(name: str) -> str:
    """Return ``name`` or raise ``InvalidKey``: a universe name (letters, digits, ``.-_=^``, up
    to ``PORTFOLIO_NAME_MAX``, no ``/`` or ``..``), e.g. ``mega7`` or ``AAPL-MSFT-NVDA``."""
    if not isinstance(name, str) or not _PORTFOLIO.match(name) or ".." in name:
        raise InvalidKey(
            f"portfolio {name!r}: not a universe name (letters, digits and .-_=^, 1 to "
            f"{PORTFOLIO_NAME_MAX} characters, e.g. mega7; name a long universe with "
            "--portfolio.name)"
        )
    return name


@dataclass(frozen=True)
class KeySpace:
    """Where a kind of model lives in the store and how its keys are checked."""

    root: str
    """Key prefix of the space: ``models`` or ``models/portfolio``."""
    check: Callable[[str], str]
    """Returns a valid key or raises ``InvalidKey``."""
    label: str
    """The JSON field naming the key in cards, pointers and history (``ticker``/``portfolio``)."""


#: Single-asset models: ``models/<ticker>/...``.
TICKERS = KeySpace(ROOT, check_ticker, "ticker")
#: Portfolio models: ``models/portfolio/<name>/...``, one champion per named universe.
PORTFOLIOS = KeySpace(f"{ROOT}/{PORTFOLIO_FOLDER}", check_portfolio_name, "portfolio")


def check_agent(agent: str) -> str:
    """Return ``agent`` or raise ``InvalidKey`` (lower-case identifier such as ``dqn``)."""
    if not isinstance(agent, str) or not _AGENT.match(agent):
        raise InvalidKey(f"agent {agent!r}: not an agent kind (e.g. dqn, parallel_dqn)")
    return agent


def check_version(version_id: str) -> str:
    """Return ``version_id`` or raise ``InvalidKey`` (``YYYYMMDDTHHMMSSffffffZ-<8 hex>``)."""
    if not isinstance(version_id, str) or not _VERSION.match(version_id):
        raise InvalidKey(
            f"version {version_id!r}: not a version id (like 20260101T120000000000Z-0a1b2c3d)"
        )
    return version_id


def check_file_name(name: str) -> str:
    """Return ``name`` or raise ``InvalidKey``: a plain file name, no folders."""
    if not isinstance(name, str) or not _FILE.match(name) or ".." in name or name == CARD:
        raise InvalidKey(f"file name {name!r}: must be a plain name (no '/', not {CARD})")
    return name


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    """Sortable UTC timestamp with microseconds: ``20260101T120000123456Z``."""
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays, Paths: the rest is refused (the card must be plain JSON)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def to_json(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no NaN/Infinity)."""
    try:
        text = json.dumps(obj, sort_keys=True, indent=2, allow_nan=False, default=_json_default)
    except ValueError as exc:
        raise ValueError(f"not storable as JSON (NaN or Infinity?): {exc}") from None
    return (text + "\n").encode()


@dataclass(frozen=True)
class VersionRef:
    """One immutable version of a model."""

    ticker: str
    agent: str
    version_id: str
    uri: str
    """Where the version's folder lives (path or ``s3://...``)."""
    root: str = ROOT
    """The key space's prefix (``KeySpace.root``); ``ticker`` is then a portfolio name."""

    @property
    def prefix(self) -> str:
        """The version's key prefix inside the store."""
        return f"{self.root}/{self.ticker}/{self.agent}/{self.version_id}"


@dataclass(frozen=True)
class Champion:
    """The current champion of a ticker, as read from its pointer."""

    ticker: str
    agent: str
    version_id: str
    uri: str
    etag: str
    """The pointer's ETag: pass it to ``promote(expected_etag=...)`` to move it safely."""
    card_sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    promoted_at: str = ""
    previous: str | None = None
    reason: str = ""
    root: str = ROOT
    """The key space's prefix (``KeySpace.root``)."""

    @property
    def version(self) -> VersionRef:
        """The champion's ``VersionRef``."""
        return VersionRef(self.ticker, self.agent, self.version_id, self.uri, self.root)


@dataclass(frozen=True)
class Demotion:
    """What ``ModelRegistry.demote`` did."""

    moved: bool
    """False when the pointer had moved since it was read (nothing changed, nothing recorded)."""
    ticker: str
    demoted: str
    """The version taken off the pointer (or that was to be)."""
    champion: str | None
    """The champion now: the restored previous one, or None."""
    reason: str


@dataclass(frozen=True)
class LoadedVersion:
    """A version whose files were verified and written into a local folder."""

    ref: VersionRef
    card: dict[str, Any]
    directory: Path
    files: dict[str, Path]
    """File name -> local path, every one checked against the card's sha256."""
    card_sha256: str = ""
    """sha256 of the card as stored (what a champion pointer records)."""

    @property
    def model_path(self) -> Path:
        """The ``.keras`` model file."""
        return self.files[MODEL]


@dataclass(frozen=True)
class VerifiedFiles:
    """Some files of a version, in memory, every one checked against the card's sha256."""

    ref: VersionRef
    card: dict[str, Any]
    card_sha256: str
    """sha256 of the card as stored (what a champion pointer records)."""
    files: dict[str, bytes]


class ModelRegistry:
    """Versions, champion pointers and promotion history on top of an ``ObjectStore``.

    ``space`` chooses the models: ``TICKERS`` (default; the key is a ticker) or ``PORTFOLIOS``
    (the key is a universe name). Methods name the key ``ticker`` in either space."""

    def __init__(self, store: ObjectStore, space: KeySpace = TICKERS) -> None:
        self.store = store
        self.space = space

    # -- keys -------------------------------------------------------------------------------

    def _base(self, ticker: str) -> str:
        """The key's folder: ``models/<ticker>`` or ``models/portfolio/<name>`` (validated)."""
        return f"{self.space.root}/{self.space.check(ticker)}"

    def _ref(self, ticker: str, agent: str, version_id: str) -> VersionRef:
        prefix = f"{self._base(ticker)}/{check_agent(agent)}/{check_version(version_id)}"
        return VersionRef(ticker, agent, version_id, self.store.uri_for(prefix), self.space.root)

    def _champion_key(self, ticker: str) -> str:
        return f"{self._base(ticker)}/{CHAMPION}"

    # -- publish ----------------------------------------------------------------------------

    def publish(
        self, ticker: str, agent: str, files: dict[str, bytes | Path], card: dict[str, Any]
    ) -> VersionRef:
        """Write a new immutable version: every file, then the card (with their sha256s) last.

        ``files`` maps plain names to bytes or local paths and must include ``model.keras``.
        The registry adds ``ticker``, ``agent``, ``version_id``, ``created_at`` and ``files``
        (name -> sha256 and size) to ``card``. Returns the new version's reference.
        """
        self.space.check(ticker)
        check_agent(agent)
        if MODEL not in files:
            raise ValueError(f"publish {ticker}/{agent}: files must include {MODEL!r}")
        blobs = {check_file_name(name): _read(name, data) for name, data in files.items()}
        manifest = {name: {"sha256": sha256_hex(b), "bytes": len(b)} for name, b in blobs.items()}
        created = _now()
        digest = sha256_hex(to_json({"card": card, "files": manifest}))
        version_id = f"{_stamp(created)}-{digest[:4]}{secrets.token_hex(2)}"
        ref = self._ref(ticker, agent, version_id)
        full_card = {
            **card,
            self.space.label: ticker,
            "agent": agent,
            "version_id": version_id,
            "created_at": created.isoformat(),
            "files": manifest,
        }
        card_bytes = to_json(full_card)  # fails before anything is written if not JSON
        for name, data in blobs.items():
            self.store.put_bytes(f"{ref.prefix}/{name}", data, if_none_match=True)
        self.store.put_bytes(f"{ref.prefix}/{CARD}", card_bytes, if_none_match=True)
        return ref

    # -- read -------------------------------------------------------------------------------

    def card(self, ticker: str, agent: str, version_id: str) -> dict[str, Any]:
        """The version's model card; ``ObjectNotFound`` if the version is missing or incomplete."""
        return self._card_raw(self._ref(ticker, agent, version_id))[0]

    def _card_raw(self, ref: VersionRef) -> tuple[dict[str, Any], bytes]:
        try:
            raw = self.store.get_bytes(f"{ref.prefix}/{CARD}")
        except ObjectNotFound:
            raise ObjectNotFound(
                f"version {ref.ticker}/{ref.agent}/{ref.version_id}: no {CARD} at {ref.uri} "
                "(missing, or an upload that did not finish)"
            ) from None
        return _parse_json(raw, f"{ref.uri}/{CARD}"), raw

    def read_file(self, ticker: str, agent: str, version_id: str, name: str) -> bytes:
        """One file of a version, verified against the card's sha256 (``IntegrityError``)."""
        card = self.card(ticker, agent, version_id)
        return self._verified(self._ref(ticker, agent, version_id), card, check_file_name(name))

    def _verified(self, ref: VersionRef, card: dict[str, Any], name: str) -> bytes:
        entry = card.get("files", {}).get(name)
        if entry is None:
            raise ObjectNotFound(f"version {ref.uri}: its card lists no file {name!r}")
        data = self.store.get_bytes(f"{ref.prefix}/{name}")
        actual = sha256_hex(data)
        if actual != entry["sha256"]:
            raise IntegrityError(
                f"{ref.uri}/{name}: checksum mismatch (sha256 {actual[:16]}..., card says "
                f"{entry['sha256'][:16]}...); the object is corrupted or was altered: refused"
            )
        return data

    def read_verified(
        self,
        ticker: str,
        agent: str,
        version_id: str,
        names: list[str] | tuple[str, ...],
        *,
        expected_card_sha256: str | None = None,
    ) -> VerifiedFiles:
        """The card and only the named files of a version, each checked against its sha256.

        Reads the card once (a fast path for acting: no plots, no ``.keras`` when not asked
        for). ``expected_card_sha256`` (a champion pointer's ``card_sha256``) is checked first;
        a mismatch raises ``IntegrityError``, a name the card does not list ``ObjectNotFound``.
        """
        ref = self._ref(ticker, agent, version_id)
        card, raw = self._card_raw(ref)
        card_sha = sha256_hex(raw)
        if expected_card_sha256 is not None and card_sha != expected_card_sha256:
            raise IntegrityError(
                f"{ref.uri}/{CARD}: checksum mismatch with the champion pointer "
                f"(sha256 {card_sha[:16]}..., pointer says {expected_card_sha256[:16]}...); refused"
            )
        blobs = {name: self._verified(ref, card, check_file_name(name)) for name in names}
        return VerifiedFiles(ref=ref, card=card, card_sha256=card_sha, files=blobs)

    def verify(self, ticker: str, agent: str, version_id: str) -> dict[str, Any]:
        """Check every file of a version against its card; return the card."""
        return self._verify(self._ref(ticker, agent, version_id))[0]

    def _verify(self, ref: VersionRef) -> tuple[dict[str, Any], bytes]:
        card, raw = self._card_raw(ref)
        if MODEL not in card.get("files", {}):
            raise IntegrityError(f"{ref.uri}/{CARD}: lists no {MODEL}")
        for name in card["files"]:
            self._verified(ref, card, name)
        return card, raw

    def load_version(
        self, ticker: str, agent: str, version_id: str, dest: str | Path
    ) -> LoadedVersion:
        """Verify every file of a version and write them into ``dest``; nothing unverified is
        returned. ``dest/model.keras`` is ready for ``QAgent.load`` (Keras safe mode)."""
        ref = self._ref(ticker, agent, version_id)
        card, raw = self._card_raw(ref)
        blobs = {check_file_name(n): self._verified(ref, card, n) for n in card.get("files", {})}
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, data in blobs.items():
            paths[name] = folder / name
            paths[name].write_bytes(data)
        (folder / CARD).write_bytes(raw)
        return LoadedVersion(
            ref=ref, card=card, directory=folder, files=paths, card_sha256=sha256_hex(raw)
        )

    def load_champion(self, ticker: str, dest: str | Path) -> tuple[Champion, LoadedVersion]:
        """The champion and its verified files (the card itself checked against the pointer)."""
        champ = self.champion(ticker)
        if champ is None:
            raise ObjectNotFound(f"{self.store.uri_for(self._champion_key(ticker))}: no champion")
        loaded = self.load_version(ticker, champ.agent, champ.version_id, dest)
        if loaded.card_sha256 != champ.card_sha256:
            raise IntegrityError(
                f"{champ.uri}/{CARD}: checksum mismatch with the champion pointer; refused"
            )
        return champ, loaded

    def _pointer(self, ticker: str) -> tuple[dict[str, Any] | None, str | None]:
        """The pointer's JSON and ETag; ``(None, None)`` when there is none."""
        key = self._champion_key(ticker)
        try:
            raw, etag = self.store.get_with_etag(key)
        except ObjectNotFound:
            return None, None
        return _parse_json(raw, self.store.uri_for(key)), etag

    def demotion(self, ticker: str) -> dict[str, Any] | None:
        """When the last champion was demoted to none: the tombstone (``demoted``, ``reason``,
        ``demoted_at``); None while a champion holds (or before any)."""
        data, _ = self._pointer(ticker)
        return data if data is not None and data.get("version_id") is None else None

    def champion(self, ticker: str) -> Champion | None:
        """The ticker's champion, or None before the first promotion (or after a demotion to
        none: see ``demotion``)."""
        key = self._champion_key(ticker)
        data, etag = self._pointer(ticker)
        if data is None or data.get("version_id") is None:
            return None
        try:
            return Champion(
                ticker=data[self.space.label],
                agent=data["agent"],
                version_id=check_version(data["version_id"]),
                uri=data["uri"],
                etag=etag,
                card_sha256=data["card_sha256"],
                metrics=data.get("metrics", {}),
                promoted_at=data.get("promoted_at", ""),
                previous=data.get("previous"),
                reason=data.get("reason", ""),
                root=self.space.root,
            )
        except (KeyError, InvalidKey) as exc:
            raise StoreError(
                f"{self.store.uri_for(key)}: malformed champion pointer ({exc})"
            ) from None

    def champion_etag(self, ticker: str) -> str | None:
        """The champion pointer's ETag (a cheap HEAD), or None before the first promotion.

        A server watches it to pick up a new champion without re-reading the pointer."""
        return self.store.head(self._champion_key(ticker))

    def tickers(self) -> list[str]:
        """Keys (tickers, or portfolio names) with at least one stored object."""
        root = f"{self.space.root}/"
        names = {
            k[len(root) :].split("/")[0] for k in self.store.list(root) if "/" in k[len(root) :]
        }
        return sorted(n for n in names if self.space.root != ROOT or n != PORTFOLIO_FOLDER)

    def versions(self, ticker: str, agent: str | None = None) -> list[VersionRef]:
        """Complete versions (card present) of a key, oldest first."""
        base = f"{self._base(ticker)}/"
        prefix = base if agent is None else f"{base}{check_agent(agent)}/"
        refs = []
        for key in self.store.list(prefix):
            parts = key[len(base) :].split("/")
            if len(parts) == 3 and parts[2] == CARD and _VERSION.match(parts[1]):
                refs.append(self._ref(ticker, parts[0], parts[1]))
        return sorted(refs, key=lambda r: (r.version_id, r.agent))

    def history(self, ticker: str) -> list[dict[str, Any]]:
        """Every recorded decision of a key, oldest first."""
        prefix = f"{self._base(ticker)}/{HISTORY}/"
        return [
            _parse_json(self.store.get_bytes(k), self.store.uri_for(k))
            for k in self.store.list(prefix)
        ]

    # -- promote ----------------------------------------------------------------------------

    def promote(
        self,
        ticker: str,
        version: VersionRef,
        decision: dict[str, Any],
        expected_etag: str | None,
    ) -> bool:
        """Make ``version`` the ticker's champion if the pointer is still what the caller read.

        ``expected_etag`` is ``Champion.etag`` from the ``champion()`` the decision was based on,
        or None when there was no champion. The version is verified first (complete, every
        checksum right). Returns False, and records the lost race, when another promotion moved
        the pointer in between; any store failure raises and leaves the pointer as it was.
        A decision with ``promote: False`` is only recorded.
        """
        if version.ticker != ticker:
            raise ValueError(
                f"promote {ticker}: version {version.version_id} is for {version.ticker}"
            )
        if not decision.get("promote", True):
            current = self.champion(ticker)
            self.record_decision(
                ticker,
                version,
                decision,
                outcome="rejected",
                champion_before=current.version_id if current else None,
            )
            return False
        to_json(decision)  # a decision that cannot be recorded must fail before the pointer moves
        self.store.ensure_conditional_writes()
        card, card_raw = self._verify(self._ref(ticker, version.agent, version.version_id))
        before = self.champion(ticker)
        pointer = {
            self.space.label: ticker,
            "agent": version.agent,
            "version_id": version.version_id,
            "uri": version.uri,
            "card_sha256": sha256_hex(card_raw),
            "metrics": card.get("metrics", {}),
            "promoted_at": _now().isoformat(),
            "previous": before.version_id if before is not None else None,
            "reason": str(decision.get("reason", "")),
        }
        key = self._champion_key(ticker)
        if expected_etag is None:
            # "No champion" is no pointer or a demotion's tombstone: replace only that one.
            tomb, tomb_etag = self._pointer(ticker)
            if tomb is not None and tomb.get("version_id") is None:
                expected_etag = tomb_etag
        try:
            # The store evaluates the condition atomically: this is the only arbiter of races.
            if expected_etag is None:
                self.store.put_bytes(key, to_json(pointer), if_none_match=True)
            else:
                self.store.put_bytes(key, to_json(pointer), if_match=expected_etag)
        except PreconditionFailed:
            current = self.champion(ticker)
            self.record_decision(
                ticker,
                version,
                decision,
                outcome="lost_race",
                champion_before=current.version_id if current else None,
            )
            return False
        try:
            self.record_decision(
                ticker, version, decision, outcome="promoted", champion_before=pointer["previous"]
            )
        except StoreError as exc:
            raise StoreError(
                f"{ticker}: the champion pointer now names {version.version_id}, but its history "
                f"entry could not be written: {exc}"
            ) from exc
        return True

    def demote(
        self, ticker: str, version_id: str, reason: str, expected_etag: str, evidence: Any = None
    ) -> Demotion:
        """Take the champion ``version_id`` off the pointer, if the pointer is still what the
        caller read (``expected_etag``): back to the previous champion when it is complete,
        verifies and was never demoted itself, else to none (a tombstone naming the demotion).

        The history records the demotion with ``reason`` and ``evidence`` (plain JSON). A pointer
        that moved since it was read (a promotion, another demotion) is left alone:
        ``Demotion.moved`` is False and nothing is recorded.
        """
        current = self.champion(ticker)
        if current is None or current.version_id != version_id or current.etag != expected_etag:
            return Demotion(False, ticker, version_id, None, reason)
        entry = {"reason": reason, "evidence": evidence}
        to_json(entry)  # fails before the pointer moves if it cannot be recorded
        restored = self._fallback(ticker, current.previous)
        at = _now().isoformat()
        if restored is None:
            pointer: dict[str, Any] = {self.space.label: ticker, "version_id": None}
        else:
            ref, card_sha = restored
            pointer = {
                self.space.label: ticker,
                "agent": ref.agent,
                "version_id": ref.version_id,
                "uri": ref.uri,
                "card_sha256": card_sha,
                "metrics": self.card(ticker, ref.agent, ref.version_id).get("metrics", {}),
                "promoted_at": at,
                "previous": None,  # a restored champion demoted again goes to none
            }
        pointer |= {"demoted": version_id, "demoted_at": at, "reason": f"demoted: {reason}"}
        try:
            self.store.put_bytes(
                self._champion_key(ticker), to_json(pointer), if_match=expected_etag
            )
        except PreconditionFailed:
            return Demotion(False, ticker, version_id, None, reason)
        now = pointer["version_id"]
        self.record_decision(
            ticker,
            current.version,
            {**entry, "restored": now, "promote": False},
            outcome="demoted",
            champion_before=version_id,
        )
        return Demotion(True, ticker, version_id, now, reason)

    def previous_intact(self, ticker: str) -> tuple[VersionRef, str] | None:
        """The champion before the current one, when it is complete, verifies and was never
        demoted (what ``demote`` would restore): its ref and card sha256, else None."""
        current = self.champion(ticker)
        return None if current is None else self._fallback(ticker, current.previous)

    def _fallback(self, ticker: str, previous: str | None) -> tuple[VersionRef, str] | None:
        """The previous champion to restore: complete, every file verified, never demoted."""
        if previous is None:
            return None
        demoted = {h["version_id"] for h in self.history(ticker) if h["outcome"] == "demoted"}
        if previous in demoted:
            return None
        for ref in self.versions(ticker):
            if ref.version_id == previous:
                try:
                    _, raw = self._verify(ref)
                except StoreError:  # incomplete or tampered with: not a champion to go back to
                    return None
                return ref, sha256_hex(raw)
        return None

    def record_decision(
        self,
        ticker: str,
        version: VersionRef,
        decision: dict[str, Any],
        *,
        outcome: str,
        champion_before: str | None = None,
    ) -> str:
        """Append one decision (``promoted`` | ``rejected`` | ``lost_race`` | ``demoted``) to the history;
        returns its key. Entries are created with If-None-Match and never rewritten.

        ``champion_before`` is the champion the challenger was compared with (or that beat it
        to the pointer, for a lost race)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"record_decision: outcome {outcome!r} unknown")
        at = _now()
        entry = {
            "at": at.isoformat(),
            self.space.label: self.space.check(ticker),
            "agent": version.agent,
            "version_id": check_version(version.version_id),
            "outcome": outcome,
            "champion_before": champion_before,
            "decision": decision,
        }
        key = f"{self._base(ticker)}/{HISTORY}/{_stamp(at)}-{secrets.token_hex(4)}.json"
        self.store.put_bytes(key, to_json(entry), if_none_match=True)
        return key


def _read(name: str, data: bytes | Path) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"publish: file {name!r} from {path} does not exist")
    return path.read_bytes()


def _parse_json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise IntegrityError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data
