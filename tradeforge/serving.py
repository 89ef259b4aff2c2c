"""``tradeforge serve``: the champions over HTTP (FastAPI; no Prefect, no TensorFlow on the hot path).

- ``ChampionBook`` holds one verified policy per ticker and re-checks each champion pointer's
  ETag every ``poll_s`` seconds (a HEAD request): a moved pointer loads the new champion
  (card against the pointer, files against the card); a corrupt or tampered one is refused,
  the refusal is reported in ``/models`` and ``/health``, and the previous champion keeps serving.
- The observation of each ticker's latest bar (from the source recorded in the model card) is
  cached per version: a local file is re-read when its size or modification time changes,
  any other source after ``data_ttl_s`` seconds. A prediction is then one numpy forward pass.
- ``create_app(book)`` is the FastAPI app: ``GET /health``, ``GET /models``, ``POST /predict``.
- Portfolio champions (``models/portfolio/<name>/``) are kept by a second book over the
  registry's portfolio space (``book.portfolios``); ``POST /predict`` with ``portfolio`` and
  ``current_weights`` returns the target weights for the latest bar (issue 27). The universe's
  latest bar (every asset's observation before the client's weights, and its slot weights) is
  cached per version by the same rule; the client's weights only set each asset's held flag.

Requests cannot name a data source or a store: the server reads only what its champions'
cards record, so a client cannot make it open arbitrary files or URLs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tradeforge.artifact import ArtifactError, LoadedPolicy, card_interval, load_champion_policy
from tradeforge.inference import (
    DEFAULT_POSITION,
    BarsError,
    LatestBar,
    act,
    bars_frame,
    check_bars,
    latest_bar,
    read_latest_bars,
    resolve_source,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from storage.registry import ModelRegistry
    from tradeforge.portfolio.predict import UniverseBar
    from tradeforge.serving_security import Guard

log = logging.getLogger("tradeforge.serve")
#: Seconds between listings of the store for new tickers (when no ``tickers`` were given): a
#: listing walks every object under ``models/``, the per-ticker ETag check is one HEAD.
DISCOVER_EVERY_S = 30.0


class ChampionUnavailable(LookupError):
    """The ticker is known but no champion could be loaded (none promoted, or refused)."""


class Bar(BaseModel):
    """One OHLCV bar; ``timestamp`` is ISO 8601 (a date means midnight UTC)."""

    model_config = ConfigDict(extra="forbid")
    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float = Field(ge=0)


class PredictRequest(BaseModel):
    """What to act on: the ticker, optionally its bars, and what the account holds; or a
    portfolio (a universe's name) and its current weights."""

    # The field docstrings become the OpenAPI schema's descriptions (the docs' HTTP reference).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    ticker: Annotated[str, AfterValidator(str.upper)] | None = Field(
        None, min_length=1, max_length=32
    )
    """Upper-cased, as ``train`` and the registry spell it (``spy`` is SPY)."""
    portfolio: str | None = Field(None, min_length=1, max_length=128)
    """A universe's name: its portfolio champion's target weights (instead of ``ticker``)."""
    current_weights: dict[str, float] | None = Field(None, max_length=1_000)
    """With ``portfolio``: ticker -> weight and ``cash``, summing to 1; default all cash."""
    position: Literal["flat", "long"] | None = None
    """Default flat (the response says it was assumed)."""
    bars: list[Bar] | None = Field(default=None, max_length=100_000)
    """Oldest first, enough for the features' warm-up plus the window; default: the latest
    bars from the source recorded in the champion's model card."""

    @model_validator(mode="after")
    def _one_target(self) -> PredictRequest:
        if (self.ticker is None) == (self.portfolio is None):
            raise ValueError("give one of ticker or portfolio")
        if self.portfolio is not None and (self.position or self.bars is not None):
            raise ValueError(
                "position and bars are for a ticker; a portfolio takes current_weights"
            )
        if self.ticker is not None and self.current_weights is not None:
            raise ValueError("current_weights is for a portfolio; a ticker takes position")
        return self


@dataclass(frozen=True)
class Slot:
    """What the server knows about one ticker's champion: replaced whole, never mutated."""

    ticker: str
    policy: LoadedPolicy | None = None
    error: str | None = None
    """Why the latest champion pointer was not loaded (the previous policy keeps serving)."""
    refused_etag: str | None = None
    """Pointer ETag of a refused champion: not retried until the pointer moves again."""
    checked_at: float = 0.0


@dataclass
class _Cached:
    bar: LatestBar | UniverseBar
    fingerprint: Any
    expires: float


@dataclass
class ChampionBook:
    """The champions a server acts with, kept current by ``refresh()``."""

    registry: ModelRegistry
    tickers: tuple[str, ...] | None = None
    """Tickers (or universe names) to serve; None = every one of the store that has a
    champion, polled for new ones; empty = none."""
    endpoint_url: str | None = None
    """S3 endpoint for data sources on S3 (the registry's store has its own)."""
    data_ttl_s: float = 60.0
    discover_s: float = DISCOVER_EVERY_S
    """Seconds between listings of the store for new tickers (when ``tickers`` is None)."""
    portfolios: ChampionBook | None = None
    """The portfolio champions (a book over the registry's portfolio space), refreshed along."""
    warm: bool = True
    """Read a new champion's latest bars at once (single-asset books)."""
    slots: dict[str, Slot] = field(default_factory=dict)
    _discovered: tuple[tuple[str, ...], float] = ((), float("-inf"))
    _cache: dict[tuple[str, str], _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self) -> list[str]:
        """Check every champion pointer's ETag; load the ones that moved. Returns messages."""
        messages = []
        for ticker in self._tickers():
            message = self._refresh_one(ticker)
            if message:
                messages.append(message)
                log.warning(message) if "refused" in message else log.info(message)
        if self.portfolios is not None:
            messages += self.portfolios.refresh()
        return messages

    def _tickers(self) -> tuple[str, ...]:
        if self.tickers is not None:
            return self.tickers
        known, at = self._discovered
        if time.monotonic() - at >= self.discover_s:
            known = tuple(self.registry.tickers())
            self._discovered = (known, time.monotonic())
        return known

    def _refresh_one(self, ticker: str) -> str | None:
        from storage.errors import StoreError, StoreUnavailable

        slot = self.slots.get(ticker, Slot(ticker))
        now = time.time()
        try:
            etag = self.registry.champion_etag(ticker)
        except StoreError as exc:
            self.slots[ticker] = replace(slot, error=f"store unavailable: {exc}", checked_at=now)
            return None
        if etag is None or (slot.policy is not None and slot.policy.etag == etag):
            self.slots[ticker] = replace(slot, checked_at=now)
            return None
        if etag == slot.refused_etag:
            return None
        try:
            policy = load_champion_policy(self.registry, ticker)
        except StoreUnavailable as exc:  # the store is away: try again at the next poll
            self.slots[ticker] = replace(slot, error=f"store unavailable: {exc}", checked_at=now)
            return None
        except (StoreError, ArtifactError, ValueError, KeyError) as exc:
            # A checksum mismatch, a missing file, a malformed card or policy: refused until
            # the pointer moves again.
            keeps = slot.policy.version_id if slot.policy else "nothing"
            error = f"{ticker}: champion refused ({exc}); still serving {keeps}"
            self.slots[ticker] = replace(slot, error=error, refused_etag=etag, checked_at=now)
            return error
        if policy is None:  # demoted to none (a tombstone): stop acting with the old one
            if slot.policy is None:
                return None
            why = (self.registry.demotion(ticker) or {}).get("reason", "no champion")
            self.slots[ticker] = Slot(ticker, error=f"no champion ({why})", checked_at=now)
            return f"{ticker}: stopped serving {slot.policy.version_id} ({why})"
        before = slot.policy.version_id if slot.policy else None
        self.slots[ticker] = Slot(ticker, policy=policy, checked_at=now)
        if self.warm:
            self._warm(ticker)
        return f"{ticker}: serving {policy.version_id} ({policy.loaded_from}; was {before})"

    def _warm(self, ticker: str) -> None:
        """Read the new champion's latest bars now, so its first request is a cache hit."""
        try:
            self.latest_bar(ticker)
        except Exception as exc:  # reported again, as a 502, to whoever asks for it
            log.warning("%s: latest bars not read yet: %s", ticker, exc)

    def policy(self, ticker: str) -> LoadedPolicy:
        """The ticker's current policy; ``LookupError`` if none is served."""
        slots = dict(self.slots)
        slot = slots.get(ticker)
        if slot is None:
            served = sorted(t for t, s in slots.items() if s.policy is not None)
            raise LookupError(f"no champion for {ticker!r} is served (serving: {served})")
        if slot.policy is None:
            raise ChampionUnavailable(
                f"{ticker}: no champion loaded ({slot.error or 'none promoted yet'})"
            )
        return slot.policy

    def cached_bar(self, ticker: str) -> tuple[LoadedPolicy, LatestBar] | None:
        """The latest bar's observation if cached and still fresh (no I/O beyond a stat)."""
        policy = self.policy(ticker)
        hit = self._cache.get((ticker, policy.version_id))
        if hit is None or hit.fingerprint != self._fingerprint(policy) or time.time() > hit.expires:
            return None
        return policy, hit.bar

    def latest_bar(self, ticker: str) -> tuple[LoadedPolicy, LatestBar]:
        """The latest bar from the champion's recorded source (cached; see the module doc)."""
        return self._cached(ticker, self._read_bar)

    def latest_universe(self, name: str) -> tuple[LoadedPolicy, UniverseBar]:
        """A portfolio champion's latest common bar of its universe, every asset's bars read
        from the card's source (cached as ``latest_bar``; see the module doc)."""
        return self._cached(name, self._read_universe)

    def _cached(self, key: str, read: Callable[[LoadedPolicy], Any]) -> tuple[LoadedPolicy, Any]:
        cached = self.cached_bar(key)
        if cached is not None:
            return cached
        policy = self.policy(key)
        fingerprint = self._fingerprint(policy)
        bar = read(policy)
        with self._lock:
            self._cache[(key, policy.version_id)] = _Cached(
                bar, fingerprint, time.time() + self.data_ttl_s
            )
        return policy, bar

    def _read_bar(self, policy: LoadedPolicy) -> LatestBar:
        frame, _ = read_latest_bars(
            policy.ticker,
            resolve_source(policy, None),
            interval=card_interval(policy.card),
            offline=False,
            endpoint_url=self.endpoint_url,
            snapshot_store=self.registry.store.uri,
        )
        return latest_bar(policy, check_bars(frame, policy.ticker, card_interval(policy.card)))

    def _read_universe(self, policy: LoadedPolicy) -> UniverseBar:
        from tradeforge.portfolio.predict import latest_frames, universe_bar

        frames = latest_frames(
            policy, None, endpoint_url=self.endpoint_url, snapshot_store=self.registry.store.uri
        )
        return universe_bar(policy, frames)

    @staticmethod
    def _fingerprint(policy: LoadedPolicy) -> Any:
        source = resolve_source(policy, None)
        path = Path(source)
        if source in ("demo", "yahoo") or source.startswith("s3://") or not path.is_file():
            return source
        stat = path.stat()
        return (source, stat.st_size, stat.st_mtime_ns)

    def describe(self) -> list[dict[str, Any]]:
        """Every ticker's served version (or its absence) and the last refusal, for ``/models``."""
        out = []
        for ticker, slot in sorted(dict(self.slots).items()):
            row: dict[str, Any] = {"ticker": ticker, "serving": slot.policy is not None}
            if slot.policy is not None:
                row.update(slot.policy.describe())
                row["metrics"] = slot.policy.card.get("metrics", {})
            row["error"] = slot.error
            row["checked_at"] = slot.checked_at
            out.append(row)
        return out


class Watcher:
    """A daemon thread calling ``book.refresh()`` every ``poll_s`` seconds until stopped."""

    def __init__(self, book: ChampionBook, poll_s: float) -> None:
        self.book = book
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.poll_s))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.book.refresh()
            except Exception:  # a poll must never kill the watcher; the next one retries
                log.exception("champion refresh failed")


#: Largest request body accepted by default: 1 MiB, about ten thousand bars (413 beyond).
MAX_BODY_BYTES = 1 << 20
#: Most validation errors a 422 lists (each names its field and row, never the input).
MAX_ERRORS = 10


class BodyLimit:
    """ASGI middleware: a request body past ``limit`` bytes is refused with 413 before the app
    parses it (issue 24: a 10 MB body was parsed, and echoed back in its 422)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return
        chunks, size, first = [], 0, None
        while True:  # a body sent without a length (chunked) is counted as it comes
            message = await receive()
            if message["type"] != "http.request":
                first = message
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(send, size)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                if first is not None:
                    return first
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any, size: int) -> None:
        import json

        body = json.dumps(
            {"detail": f"request body of {size} bytes is over the limit of {self.limit} bytes"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _no_echo(app: FastAPI) -> None:
    """422s that name each bad field and row (``["body", "bars", 3, "close"]``) and the rule,
    never the input (FastAPI's default echoes it: the whole payload for a too-long list)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        shown = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors[:MAX_ERRORS]
        ]
        return JSONResponse({"detail": shown, "errors": len(errors)}, status_code=422)


def create_app(
    book: ChampionBook,
    *,
    poll_s: float = 2.0,
    guard: Guard | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app over ``book`` (already refreshed once); polls champions while it runs.

    ``guard``: token and rate limit for every route but ``/health`` (``serving_security``).
    Request bodies over ``max_body_bytes`` get 413; invalid ones 422 naming field and row.
    """
    from fastapi import FastAPI, HTTPException
    from fastapi.concurrency import run_in_threadpool

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = Watcher(book, poll_s)
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()

    app = FastAPI(
        title="tradeforge serve",
        summary="The champions' action for the latest bar.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    _no_echo(app)

    def _bars_policy(request: PredictRequest) -> tuple[LoadedPolicy, LatestBar]:
        # The bars of a request pass the contract of every other door (issue 24): the file
        # reader's parsing, then the same error rules.
        policy = book.policy(request.ticker)
        interval = card_interval(policy.card)
        bars = [b.model_dump() for b in request.bars or []]
        frame = bars_frame(bars, request.ticker, interval)
        return policy, latest_bar(policy, check_bars(frame, request.ticker, interval))

    @app.get("/health", responses={503: {"description": "No champion loaded."}})
    async def health() -> Any:
        """Whether any champion is served. Without the token (once one is set) only the status
        code and ``{"status": ...}``; with it also the store, the tickers served and the reason
        each refused champion was refused."""
        from fastapi.responses import JSONResponse

        slots = list(book.slots.values())
        served = [s.ticker for s in slots if s.policy is not None]
        errors = {s.ticker: s.error for s in slots if s.error}
        others = list(book.portfolios.slots.values()) if book.portfolios is not None else []
        portfolios = sorted(s.ticker for s in others if s.policy is not None)
        errors |= {f"portfolio/{s.ticker}": s.error for s in others if s.error}
        body = {
            "status": "ok" if served or portfolios else "no champion loaded",
            "store": book.registry.store.uri,
            "serving": sorted(served),
            "portfolios": portfolios,
            "errors": errors,
        }
        return JSONResponse(body, status_code=200 if served or portfolios else 503)

    @app.get("/models")
    async def models() -> dict[str, Any]:
        """Every champion served: ticker, agent, version, where it was loaded from, when it
        was promoted, its validation metrics; refused champions with the reason; and the
        portfolio champions."""
        portfolios = book.portfolios.describe() if book.portfolios is not None else []
        return {
            "store": book.registry.store.uri,
            "models": book.describe(),
            "portfolios": portfolios,
        }

    def _portfolio(request: PredictRequest) -> dict[str, Any]:
        from tradeforge.portfolio.predict import check_current, weights_for

        if book.portfolios is None:
            raise LookupError("this server serves no portfolios")
        policy = book.portfolios.policy(request.portfolio)
        held = check_current(policy, request.current_weights)  # before any bar is read
        # A name keeps its universe (a champion of other tickers is refused before training),
        # so the weights checked above fit the cached bar's version too.
        policy, bar = book.portfolios.latest_universe(request.portfolio)
        return weights_for(policy, bar, held) | {"weights_assumed": request.current_weights is None}

    @app.post(
        "/predict",
        responses={
            404: {"description": "Unknown ticker or portfolio."},
            422: {
                "description": "Bad JSON, position, bars or current_weights: names the field "
                "or row and rule."
            },
            502: {"description": "The latest bars could not be read from the recorded source."},
            503: {"description": "The ticker's champion is refused or not loaded."},
        },
    )
    async def predict(request: PredictRequest) -> Any:
        """The champion's greedy action for the latest bar: of the request's ``bars``, else of
        the source recorded in its model card (cached). Returns ticker, timestamp, close,
        position (and ``position_assumed``), action, action_name, q_values, version_id, agent,
        loaded_from and ``bars_from``. With ``portfolio``: the portfolio champion's target
        weights for the latest bar from ``current_weights``."""
        if request.portfolio is not None:
            return await _predict_portfolio(request)
        try:
            if request.bars is not None:
                policy, bar = await run_in_threadpool(_bars_policy, request)
                bars_from = "request"
            else:
                # The common case is a cache hit: one forward pass, done on the event loop.
                cached = book.cached_bar(request.ticker)
                policy, bar = cached or await run_in_threadpool(book.latest_bar, request.ticker)
                bars_from = resolve_source(policy, None)
        except ChampionUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        except LookupError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except (BarsError, ValueError) as exc:
            status = 422 if request.bars is not None else 502
            raise HTTPException(status_code=status, detail=str(exc)) from None
        except Exception as exc:  # the source could not be read (network, store, format)
            raise HTTPException(
                status_code=502, detail=f"{request.ticker}: latest bars unavailable: {exc}"
            ) from None
        result = act(policy, bar, request.position or DEFAULT_POSITION)
        result["position_assumed"] = request.position is None
        result["bars_from"] = bars_from
        return result

    async def _predict_portfolio(request: PredictRequest) -> Any:
        from fastapi.responses import JSONResponse

        from tradeforge.portfolio.predict import WeightsError

        try:
            return await run_in_threadpool(_portfolio, request)
        except WeightsError as exc:  # shaped as the validation 422s: the field named
            loc = ["body", "current_weights"]
            detail = [{"loc": loc, "msg": str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail, "errors": 1}, status_code=422)
        except ChampionUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        except LookupError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except Exception as exc:  # the sources could not be read, or their bars are unusable
            raise HTTPException(
                status_code=502, detail=f"{request.portfolio}: latest bars unusable: {exc}"
            ) from None

    @app.get(
        "/ledger/{ticker}",
        responses={404: {"description": "No ledger for the ticker."}},
    )
    async def ledger(ticker: str, last: int = 20) -> dict[str, Any]:
        """The paper ledger's ``last`` decisions and the monitor's verdict (as ``tradeforge
        ledger --json``): live against expected return, drawdown against its bound, alarms."""
        from tradeforge.paper.run import ledger_view

        try:  # read only: the paper run and its monitor write
            return await run_in_threadpool(ledger_view, book.registry, ticker, max(1, last))
        except LookupError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    if guard is not None:  # added last, so it is the outermost layer: checked before all else
        from tradeforge.serving_security import ServeGuard

        app.add_middleware(ServeGuard, guard=guard)
    return app


def open_book(
    store: str,
    tickers: tuple[str, ...] | None = None,
    *,
    portfolios: tuple[str, ...] | None = None,
    endpoint_url: str | None = None,
    data_ttl_s: float = 60.0,
    discover_s: float = DISCOVER_EVERY_S,
) -> ChampionBook:
    """A ``ChampionBook`` over a store, refreshed once (champions loaded and verified).

    ``tickers`` and ``portfolios`` (universe names) select what is served: None = every
    champion of that kind in the store (new ones picked up as they appear), empty = none
    (``portfolios=()``: no portfolio book, a portfolio request is told so)."""
    from tradeforge.inference import open_registry
    from tradeforge.portfolio.champion import portfolio_registry

    registry = open_registry(store, endpoint_url)
    book = ChampionBook(
        registry,
        tickers=None if tickers is None else tuple(tickers),
        endpoint_url=endpoint_url,
        data_ttl_s=data_ttl_s,
        discover_s=discover_s,
    )
    if portfolios is None or portfolios:
        book.portfolios = ChampionBook(
            portfolio_registry(registry.store),
            tickers=None if portfolios is None else tuple(portfolios),
            endpoint_url=endpoint_url,
            data_ttl_s=data_ttl_s,
            discover_s=discover_s,
            warm=False,
        )
    book.refresh()
    return book
