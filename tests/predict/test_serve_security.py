"""Who may call ``tradeforge serve`` and how often (SECURITY.md's threats S1-S4).

The endpoint tests run the real console script on a free 127.0.0.1 port (``serving``) and speak
HTTP to it; the token bucket and the guard's settings are also tested on their own.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.ports import free_port
from tests.predict.champions import SPY, publish
from tests.predict.test_serve import TRADEFORGE, serving
from tradeforge.config import DataConfig
from tradeforge.serving_security import (
    TOKEN_ENV,
    GuardError,
    TokenBucket,
    describe,
    is_loopback,
    make_guard,
    token_file_warning,
)

PREDICT = json.dumps({"ticker": "SPY"}).encode()
#: Every route that must ask for the token, with what it answers once the token is right.
#: Unknown paths and the API docs are protected too: protection is the default, not a list.
PROTECTED = [
    ("GET", "/models", None, 200),
    ("POST", "/predict", PREDICT, 200),
    ("GET", "/docs", None, 200),
    ("GET", "/openapi.json", None, 200),
    ("GET", "/ledger/SPY", None, 404),
]


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    *,
    authorization: str | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One request from ``source`` (a loopback address); status, headers (lower-case), body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=60, source_address=(source, 0)
    )
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["authorization"] = authorization
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory) -> str:
    """A local store with a promoted SPY champion (the file source recorded in its card)."""
    from tradeforge.data import ingest

    tmp = tmp_path_factory.mktemp("serve-security")
    frame = ingest("SPY", DataConfig(source=str(SPY))).frame
    store = str(tmp / "store")
    publish(store, frame, str(SPY), workdir=tmp)
    return store


def _token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "serve-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


# ------------------------------------------------------------------ S1: who may call the API


def test_every_protected_endpoint_refuses_a_missing_or_wrong_token(
    champion_store: str, tmp_path: Path
) -> None:
    token = secrets.token_urlsafe(32)
    with serving(champion_store, "--token-file", str(_token_file(tmp_path, token))) as url:
        # The one open path: its status for anyone, the details for token holders only.
        status, headers, body = request(url, "GET", "/health")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert headers["content-length"] == str(len(body))
        assert request(url, "GET", "/health", token="x" * 20)[2] == body
        status, _, body = request(url, "GET", "/health", token=token)
        assert status == 200 and json.loads(body)["serving"] == ["SPY"]
        for method, path, payload, ok in PROTECTED:
            status, headers, body = request(url, method, path, payload)
            assert status == 401, (path, status, body)
            assert headers["www-authenticate"].startswith("Bearer"), path
            assert "missing bearer token" in json.loads(body)["detail"]
            status, _, body = request(url, method, path, payload, "x" + token[1:])
            assert status == 403 and json.loads(body) == {"detail": "invalid bearer token"}, path
            status, headers, _ = request(url, method, path, payload, authorization=f"Basic {token}")
            assert status == 401 and "invalid_request" in headers["www-authenticate"], path
            status, _, body = request(url, method, path, payload, token)
            assert status == ok, (path, status, body)
        _, _, body = request(url, "POST", "/predict", PREDICT, token)
        assert json.loads(body)["ticker"] == "SPY"


def test_a_token_from_the_environment_is_enforced_on_loopback_too(champion_store: str) -> None:
    token = secrets.token_urlsafe(24)
    with serving(champion_store, env={TOKEN_ENV: token}) as url:
        assert request(url, "GET", "/models")[0] == 401
        assert request(url, "GET", "/models", token=token)[0] == 200


def test_loopback_without_a_token_stays_open(champion_store: str) -> None:
    with serving(champion_store) as url:
        assert request(url, "GET", "/models")[0] == 200
        assert request(url, "POST", "/predict", PREDICT)[0] == 200


def _serve_exit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return subprocess.run(
        [str(TRADEFORGE), "serve", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )


def test_binding_beyond_loopback_without_a_token_is_refused_at_start(tmp_path: Path) -> None:
    # Refused before anything binds: no server on 0.0.0.0 is ever started by this test.
    # 192.0.2.1 (TEST-NET-1) is on no interface: were the refusal gone, the bind would fail.
    done = _serve_exit("--store", str(tmp_path / "store"), "--host", "192.0.2.1")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "--host 192.0.2.1 reaches beyond this machine" in line
    assert "--token-file" in line and TOKEN_ENV in line and "--insecure-no-auth" in line
    assert not (tmp_path / "store").exists()  # the store was not even opened
    token = _token_file(tmp_path, secrets.token_urlsafe(24))
    both = _serve_exit("--store", "s", "--token-file", str(token), "--insecure-no-auth")
    assert both.returncode == 2 and "contradict" in both.stderr


def test_guard_settings() -> None:
    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", "10.0.0.1"):
        assert not is_loopback(host), host
    with pytest.raises(GuardError, match="reaches beyond this machine"):
        make_guard("192.168.1.10", None, environ={})
    open_guard = make_guard("127.0.0.1", None, environ={})
    assert open_guard.token is None and "loopback only" in describe(open_guard, "127.0.0.1")
    insecure = make_guard("0.0.0.0", None, insecure_no_auth=True, environ={})
    assert "NONE (--insecure-no-auth)" in describe(insecure, "0.0.0.0")
    guarded = make_guard("0.0.0.0", None, environ={TOKEN_ENV: "a" * 20}, rate=5, burst=10)
    assert guarded.token == "a" * 20 and guarded.source == TOKEN_ENV
    assert "a" * 20 not in repr(guarded) + describe(guarded, "0.0.0.0")
    assert "5/s per client, burst 10" in describe(guarded, "0.0.0.0")


def test_token_files(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    path = _token_file(tmp_path, token)
    guard = make_guard("0.0.0.0", path, environ={TOKEN_ENV: "b" * 20})  # the file wins
    assert guard.token == token and guard.source == f"--token-file {path}"
    assert token_file_warning(path) is None
    path.chmod(0o644)
    assert "readable by others (mode 644); chmod 600 it" in (token_file_warning(path) or "")
    with pytest.raises(GuardError, match=r"--token-file .*missing: cannot read it \(No such file"):
        make_guard("127.0.0.1", tmp_path / "missing", environ={})


def test_a_route_added_later_is_protected_by_default(champion_store: str) -> None:
    """The guard wraps the whole app: a route added later needs the token without anyone
    remembering to protect it, as the paper ledger's ``/ledger/{ticker}`` (issue 25) does."""
    from fastapi.testclient import TestClient

    from tradeforge.serving import create_app, open_book

    token = secrets.token_urlsafe(24)
    guard = make_guard("127.0.0.1", None, environ={TOKEN_ENV: token})
    app = create_app(open_book(champion_store), guard=guard)

    @app.get("/added-later/{ticker}")
    async def added(ticker: str) -> dict[str, str]:
        return {"ticker": ticker}

    client = TestClient(app)
    auth = {"authorization": f"Bearer {token}"}
    for path in ("/added-later/SPY", "/ledger/SPY"):
        assert client.get(path).status_code == 401, path
    assert client.get("/added-later/SPY", headers=auth).json() == {"ticker": "SPY"}
    assert client.get("/ledger/SPY", headers=auth).status_code == 404  # in: no record yet
    assert client.get("/health").status_code == 200


# ----------------------------------------------------------------- S2: the token never leaks


def test_the_token_appears_in_no_log_line_or_response(champion_store: str, tmp_path: Path) -> None:
    sentinel = "SENTINEL" + secrets.token_hex(16)
    store = champion_store
    seen: list[bytes] = []
    before = set(Path(store).parent.glob("serve-*.log"))
    with serving(
        store,
        "--log-level",
        "debug",
        "--rate-limit",
        "5",
        "--rate-burst",
        "40",
        env={TOKEN_ENV: sentinel},
    ) as url:
        for method, path, payload, _ in PROTECTED:
            for token in (None, sentinel[:-1] + "x", sentinel, sentinel + "x"):
                _, headers, body = request(url, method, path, payload, token)
                seen += [body, json.dumps(headers).encode()]
        for raw in (b"{not json", json.dumps({"ticker": "SPY", "bars": [{}]}).encode()):
            seen.append(request(url, "POST", "/predict", raw, sentinel)[2])
        seen.append(request(url, "GET", "/models", authorization=f"Basic {sentinel}")[2])
        answers = [request(url, "GET", "/models", token=sentinel) for _ in range(60)]
        assert answers[-1][0] == 429  # the rate limit's answer is searched too
        seen += [body for _, _, body in answers]
        # The server's command line holds no token either (it came from the environment).
        cmdlines = subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout
    assert sentinel not in cmdlines
    (log,) = set(Path(store).parent.glob("serve-*.log")) - before
    text = log.read_text()
    assert sentinel not in text
    assert "auth: bearer token (TRADEFORGE_SERVE_TOKEN)" in text  # the banner names the source
    assert "Started server process" in text  # uvicorn's own logging was on
    for chunk in seen:
        assert sentinel.encode() not in chunk
    # Refusals of unusable tokens do not echo them either.
    short = _serve_exit("--store", "s", env={TOKEN_ENV: "SENTINEL-short"})
    bad = _serve_exit("--store", "s", env={TOKEN_ENV: "SENTINEL with spaces " + sentinel})
    assert short.returncode == bad.returncode == 2
    assert "has 14 characters" in short.stderr and "may hold only" in bad.stderr
    for done in (short, bad):
        assert "SENTINEL" not in done.stderr + done.stdout


# ---------------------------------------------------------- S3: one client cannot starve others


def test_a_burst_beyond_the_rate_limit_gets_429_with_retry_after(champion_store: str) -> None:
    token = secrets.token_urlsafe(24)
    limit = ("--rate-limit", "1", "--rate-burst", "5")
    with serving(champion_store, *limit, env={TOKEN_ENV: token}) as url:
        time.sleep(1.1)  # the start-up poll of /models spent a token: let the bucket refill
        statuses = [request(url, "GET", "/models", token=token)[0] for _ in range(5)]
        assert statuses == [200] * 5
        status, headers, body = request(url, "POST", "/predict", PREDICT, token)
        assert status == 429 and headers["retry-after"] == "1", (status, headers)
        assert "rate limit exceeded" in json.loads(body)["detail"]
        # The limit is checked before the token: guessing tokens is throttled as well.
        assert request(url, "GET", "/models", token="wrong" * 5)[0] == 429
        assert request(url, "GET", "/health")[0] == 429
        # Another client (another loopback address) is not affected.
        assert request(url, "GET", "/models", token=token, source="127.0.0.2")[0] == 200
        time.sleep(float(headers["retry-after"]) + 0.1)
        assert request(url, "GET", "/models", token=token)[0] == 200


def test_token_bucket_refills_at_its_rate_per_key() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)  # one token takes 1/rate s
    assert bucket.take("b") == 0.0  # its own bucket
    now[0] += 0.25
    assert bucket.take("a") == pytest.approx(0.25)
    now[0] += 0.25
    assert bucket.take("a") == 0.0
    now[0] += 100  # refills to the burst, never beyond
    assert [bucket.take("a") for _ in range(4)][-1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rate 0"):
        TokenBucket(rate=0, burst=1)


def test_token_bucket_memory_stays_bounded() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=2, clock=lambda: now[0], max_keys=100)
    for i in range(10_000):
        now[0] += 0.01  # each client's bucket is full again 0.2 s after its request
        bucket.take(f"10.0.{i // 256}.{i % 256}")
    assert len(bucket) <= 200
