"""Who may call ``tradeforge serve``, and how often: a bearer token and a per-client rate limit.

``ServeGuard`` is a plain ASGI middleware around the whole app, so protection is the default for
every route, including any added later (``/ledger/...``), the API docs and unknown paths; only
``OPEN_PATHS`` (``/health``, for load balancers and probes) answer without the token, and then
with their status code and JSON ``status`` field only (not which tickers are served, the store's
address or refusal reasons). Per request:

1. rate limit, keyed by the client's address (before authentication, so token guessing is
   throttled too): over the limit -> 429 with ``Retry-After``;
2. if a token is configured and the path is not open: no ``Authorization: Bearer`` header ->
   401 with ``WWW-Authenticate: Bearer``; a wrong token -> 403. Tokens are compared as SHA-256
   digests with ``hmac.compare_digest`` (constant time, and not even the length leaks).

The token is never logged, echoed or put in an error body: the middleware keeps only its digest,
and ``Guard`` hides it from ``repr``. Behind a reverse proxy on 127.0.0.1, uvicorn's proxy-header
handling (trusted for 127.0.0.1 by default) makes the client address the real client's, so each
client still has its own bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Paths that answer without a token (exact match on the request path).
OPEN_PATHS = frozenset({"/health"})
TOKEN_ENV = "TRADEFORGE_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16
#: RFC 6750's b64token: what may follow ``Bearer `` in a header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAKE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GuardError(ValueError):
    """The serve command's security settings are unusable; the message says how to fix them."""


@dataclass(frozen=True)
class Guard:
    """What ``ServeGuard`` enforces: the token (None = no authentication) and the rate limit."""

    token: str | None = field(default=None, repr=False)
    rate: float = 0.0
    """Requests per second each client may sustain; 0 = no rate limit."""
    burst: int = 1
    """Requests a client may send at once before the rate applies (the bucket's size)."""
    source: str = "none"
    """Where the token came from (``--token-file PATH`` or the variable's name), for the banner."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name counts as reachable."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere: fail closed


def read_token(
    token_file: Path | None, environ: MutableMapping[str, str] | None = None
) -> tuple[str | None, str]:
    """The token and where it came from: ``token_file`` first, then ``$TRADEFORGE_SERVE_TOKEN``.

    Returns ``(None, "none")`` when neither is set; raises ``GuardError`` for an unusable token.
    """
    environ = os.environ if environ is None else environ
    if token_file is not None:
        where = f"--token-file {token_file}"
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise GuardError(f"{where}: cannot read it ({exc.strerror})") from None
    elif environ.get(TOKEN_ENV):
        where, token = TOKEN_ENV, environ[TOKEN_ENV].strip()
    else:
        return None, "none"
    # The messages never contain the token, only its length.
    if len(token) < MIN_TOKEN_CHARS:
        raise GuardError(
            f"{where}: the token has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            f"(make one with: {MAKE_TOKEN})"
        )
    if not _B64TOKEN.fullmatch(token):
        raise GuardError(
            f"{where}: the token may hold only letters, digits and -._~+/ (then =); "
            f"make one with: {MAKE_TOKEN}"
        )
    return token, where


def token_file_warning(token_file: Path | None) -> str | None:
    """A warning when others than the owner may read the token file, else None."""
    if token_file is None:
        return None
    mode = token_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"warning: {token_file} is readable by others (mode {mode & 0o777:o}); chmod 600 it"
    return None


def make_guard(
    host: str,
    token_file: Path | None,
    *,
    insecure_no_auth: bool = False,
    rate: float = 0.0,
    burst: int = 1,
    environ: MutableMapping[str, str] | None = None,
) -> Guard:
    """The guard for serving on ``host``; ``GuardError`` if that would be unsafe or unclear.

    Beyond loopback a token is required unless ``insecure_no_auth``; on loopback without a token
    the server stays open (one machine, one user), but a configured token is enforced there too.
    """
    token, source = read_token(token_file, environ)
    if insecure_no_auth and token is not None:
        raise GuardError(f"--insecure-no-auth and a token ({source}) contradict: drop one")
    if token is None and not insecure_no_auth and not is_loopback(host):
        raise GuardError(
            f"--host {host} reaches beyond this machine: set a token with --token-file FILE or "
            f"{TOKEN_ENV} (make one with: {MAKE_TOKEN}), or pass --insecure-no-auth"
        )
    if rate < 0 or burst < 1:
        raise GuardError(f"rate limit {rate}/s, burst {burst}: use a rate >= 0 and a burst >= 1")
    return Guard(token=token, rate=rate, burst=burst, source=source)


def describe(guard: Guard, host: str) -> str:
    """One banner line saying what protects the server (never the token itself)."""
    if guard.token is not None:
        auth = f"bearer token ({guard.source}) on every path but {', '.join(sorted(OPEN_PATHS))}"
    elif is_loopback(host):
        auth = "none (loopback only; set --token-file or TRADEFORGE_SERVE_TOKEN to require one)"
    else:
        auth = (
            "NONE (--insecure-no-auth): anyone who reaches this port gets every champion's signal"
        )
    limit = f"{guard.rate:g}/s per client, burst {guard.burst}" if guard.rate else "off"
    return f"  auth: {auth}\n  rate limit: {limit}"


class TokenBucket:
    """One token bucket per key: ``rate`` tokens per second refill it, up to ``burst``.

    Used from the event loop only (one thread), so it needs no lock. A bucket that has refilled
    to ``burst`` is the same as no bucket, so such entries are pruned once more than ``max_keys``
    clients are known: memory stays bounded by the clients active within ``burst / rate`` s.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate {rate} must be > 0 and burst {burst} >= 1")
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._prune_at = max_keys

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if granted, else the seconds until one is available."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._prune_at:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        # Amortised: prune again only after the table has doubled.
        self._prune_at = max(self.max_keys, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)


class ServeGuard:
    """ASGI middleware enforcing a ``Guard`` on every request (see the module doc)."""

    def __init__(self, app: ASGIApp, guard: Guard, open_paths: frozenset[str] = OPEN_PATHS):
        self.app = app
        self.open_paths = open_paths
        # Only the digest is kept: the token itself is in no attribute of the running app.
        self._digest = None if guard.token is None else _digest(guard.token.encode())
        self.limiter = TokenBucket(guard.rate, guard.burst) if guard.rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websocket route exists: refuse rather than guess
            return await send({"type": "websocket.close", "code": 1008})
        if self.limiter is not None:
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                detail = f"rate limit exceeded: retry after {retry} s"
                return await _reject(send, 429, detail, [(b"retry-after", retry.encode())])
        refusal = None if self._digest is None else self._refusal(scope)
        if refusal is None:
            return await self.app(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if path not in self.open_paths:
            return await _reject(send, *refusal)
        await self.app(scope, receive, _status_only(send))

    def _refusal(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            return 401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            challenge = [
                (b"www-authenticate", b'Bearer realm="tradeforge", error="invalid_request"')
            ]
            return 401, "the Authorization header must be 'Bearer <token>'", challenge
        if not hmac.compare_digest(_digest(given.strip()), self._digest or b""):
            return 403, "invalid bearer token", []
        return None


_CHALLENGE = [(b"www-authenticate", b'Bearer realm="tradeforge"')]


def _status_only(send: Send) -> Send:
    """A ``send`` that passes on the response's status code and only the ``status`` field of its
    JSON body: what an open path tells a caller without the token."""
    start: Message = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        try:
            status = json.loads(b"".join(chunks)).get("status")
        except (ValueError, AttributeError):
            status = None
        body = json.dumps({"status": status}).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


async def _reject(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
