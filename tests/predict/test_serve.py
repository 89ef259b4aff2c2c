"""``tradeforge serve`` for real: the console script on a free 127.0.0.1 port, called over HTTP.

Champions are published and promoted through the real registry (local directory and SeaweedFS);
the server must pick up a new champion without a restart and refuse a tampered one while the
previous champion keeps serving.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from storage import open_store
from storage.registry import ModelRegistry, sha256_hex, to_json
from tests.ports import start_on_free_ports
from tests.predict.champions import SPY, publish
from tradeforge.artifact import load_champion_policy
from tradeforge.config import DataConfig
from tradeforge.inference import act_on_latest, bars_frame, check_bars, predict

ROOT = Path(__file__).resolve().parents[2]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"


class ServeExited(RuntimeError):
    """``tradeforge serve`` exited while starting; the message carries its log."""


def _start_serve(
    store: str, extra: tuple[str, ...], port: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """``tradeforge serve`` on ``port``, answering ``/models``; returns the process and URL."""
    log = Path(store).parent / f"serve-{port}.log" if "://" not in store else None
    out = log.open("w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [str(TRADEFORGE), "serve", "--store", store, "--port", str(port), *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        start_new_session=True,
    )
    if log:
        out.close()  # the child has its own copy
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise ServeExited(
                f"serve exited with {proc.returncode}: {log.read_text() if log else ''}"
            )
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).close()
            return proc, url
        except urllib.error.HTTPError:  # it answers: a 401 when a token is required
            return proc, url
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
                raise AssertionError("serve did not answer within 120 s") from None
            time.sleep(0.2)


@contextmanager
def serving(store: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``tradeforge serve`` on a free port until the block ends; yields its base URL.

    ``env``: variables added to the server's environment (``TRADEFORGE_SERVE_TOKEN``).
    """
    proc, url = start_on_free_ports(lambda ports: _start_serve(store, extra, ports[0], env))
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def call(url: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """GET (no body) or POST JSON; returns the status and the decoded JSON answer."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        url + path, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def spy_frame():
    from tradeforge.data import ingest

    return ingest("SPY", DataConfig(source=str(SPY))).frame


def _models(url: str) -> dict[str, Any]:
    return {m["ticker"]: m for m in call(url, "/models")[1]["models"]}


def test_requests_and_their_errors(spy_frame, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    publish(store, spy_frame, str(SPY), dueling=True, workdir=tmp_path)
    with serving(store) as url:
        assert url.startswith("http://127.0.0.1:")
        status, health = call(url, "/health")
        assert status == 200 and health["serving"] == ["SPY"] and health["errors"] == {}
        model = _models(url)["SPY"]
        assert model["loaded_from"] == "policy.npz" and model["source"] == str(SPY)

        status, out = call(url, "/predict", {"ticker": "SPY"})
        assert status == 200, out
        expected = predict("SPY", store)
        assert out["q_values"] == pytest.approx(expected["q_values"], abs=1e-6)
        assert (
            out["timestamp"] == expected["timestamp"] and out["version_id"] == model["version_id"]
        )
        assert out["position"] == "flat" and out["position_assumed"] is True
        assert out["bars_from"] == str(SPY)
        _, held = call(url, "/predict", {"ticker": "SPY", "position": "long"})
        assert held["position_assumed"] is False
        assert held["q_values"] == pytest.approx(predict("SPY", store, position="long")["q_values"])

        # Bars in the request: every bar of the file gives the source's answer; a recent slice
        # gives what the same code computes in-process on that slice.
        bars = [
            {
                "timestamp": ts.isoformat(),
                **{k: float(row[k]) for k in ("open", "high", "low", "close", "volume")},
            }
            for ts, (_, row) in zip(spy_frame["timestamp"], spy_frame.iterrows(), strict=True)
        ]
        status, given = call(url, "/predict", {"ticker": "SPY", "bars": bars})
        assert status == 200 and given["bars_from"] == "request"
        assert given["q_values"] == pytest.approx(out["q_values"], abs=1e-6)
        policy = load_champion_policy(ModelRegistry(open_store(store)), "SPY")
        recent = bars[-150:]
        local = act_on_latest(policy, check_bars(bars_frame(recent, "SPY"), "SPY"))
        _, sliced = call(url, "/predict", {"ticker": "SPY", "bars": recent})
        assert sliced["q_values"] == pytest.approx(local["q_values"], abs=1e-6)

        status, body = call(url, "/predict", {"ticker": "QQQ"})
        assert status == 404 and "no champion for 'QQQ'" in body["detail"]
        status, body = call(url, "/predict", {"ticker": "SPY", "position": "short"})
        assert status == 422 and body["detail"][0]["loc"] == ["body", "position"]
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": bars[-3:]})
        assert status == 422 and "too few bars" in body["detail"]
        broken = [dict(b) for b in recent]
        broken[-1]["high"] = broken[-1]["low"] - 1
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": broken})
        assert status == 422 and "row 149" in body["detail"] and "high < max" in body["detail"]
        status, body = call(url, "/predict", raw=b"{not json")
        assert status == 422 and body["detail"][0]["type"] == "json_invalid"
        status, body = call(url, "/predict", {"ticker": "SPY", "source": "/etc/passwd"})
        assert status == 422 and body["detail"][0]["type"] == "extra_forbidden"


def test_bars_are_read_again_when_the_file_changes_or_after_the_ttl(
    spy_frame, tmp_path: Path
) -> None:
    """The champion's source is a local file: a new bar appended shows at once (size and
    modification time changed); an edit that keeps both shows only after ``--data-ttl``."""
    lines = SPY.read_text().splitlines(keepends=True)  # newest bar first (Yahoo's layout)
    header, newest, rest = lines[0], lines[1], lines[2:]
    source = tmp_path / "SPY.csv"
    source.write_text(header + "".join(rest))  # the day before the newest bar
    store = str(tmp_path / "store")
    publish(store, spy_frame, str(source), workdir=tmp_path)
    ttl = 3.0
    with serving(store, "--data-ttl", str(ttl)) as url:
        _, before = call(url, "/predict", {"ticker": "SPY"})
        assert before["timestamp"] == "2017-03-28" and before["bars_from"] == str(source)

        source.write_text(header + newest + "".join(rest))  # the newest bar arrives
        _, after = call(url, "/predict", {"ticker": "SPY"})
        assert after["timestamp"] == "2017-03-29"  # re-read at once: the file changed
        assert after["close"] == pytest.approx(235.539993)

        # A correction of the newest close and adjusted close (within the bar's high and low),
        # same size, same modification time: the cached bar is served until the TTL has
        # passed, then the file is read again.
        stat = source.stat()
        fixed = ",235.439993,53156500,235.439993"
        source.write_text(source.read_text().replace(",235.539993,53156500,235.539993", fixed))
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert source.stat().st_size == stat.st_size
        edited = time.monotonic()
        _, cached = call(url, "/predict", {"ticker": "SPY"})
        if time.monotonic() - edited < ttl - 0.5:  # answered well within the TTL
            assert cached["close"] == pytest.approx(235.539993)
        wait_for(
            lambda: (
                call(url, "/predict", {"ticker": "SPY"})[1]["close"] == pytest.approx(235.439993)
            ),
            "the TTL to expire",
            timeout=ttl + 30,
        )
        assert time.monotonic() - edited >= ttl - 0.5  # not before the TTL


def _bars(frame) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": ts.isoformat(),
            **{k: float(row[k]) for k in ("open", "high", "low", "close", "volume")},
        }
        for ts, (_, row) in zip(frame["timestamp"], frame.iterrows(), strict=True)
    ]


def test_hostile_requests_get_the_file_contract_and_no_echo(spy_frame, tmp_path: Path) -> None:
    """Issue 24, drills 4, 6 and 10 on the real server: request bars pass the very checks a
    file's bars do (422 naming bars[i] and the rule), a body over the limit gets 413, and a
    422 never echoes the payload."""
    store = str(tmp_path / "store")
    publish(store, spy_frame, str(SPY), workdir=tmp_path)
    recent = _bars(spy_frame)[-150:]
    with serving(store, "--max-body-bytes", "200000") as url:
        status, out = call(url, "/predict", {"ticker": "spy", "bars": recent})
        assert status == 200 and out["ticker"] == "SPY", out  # upper-cased, as train does

        zones = [dict(b) for b in recent]
        zones[-1]["timestamp"] = zones[-1]["timestamp"].replace("+00:00", "+09:00")
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": zones})
        assert status == 422 and "mixes time zones" in body["detail"], body
        assert "bars[149]" in body["detail"]

        huge = [dict(b) for b in recent]
        huge[-1].update(high=1e308, close=1e308)
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": huge})
        assert status == 422 and "row 149" in body["detail"], body
        assert "plausible_values: high=1e+308 > 1e+09" in body["detail"]

        saturday = [dict(b) for b in recent]
        saturday[-1]["timestamp"] = "2017-04-01T00:00:00+00:00"  # the file ends 2017-03-29
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": saturday})
        assert status == 422 and "off_calendar" in body["detail"], body

        mixed = [dict(b) for b in recent]
        mixed[10]["timestamp"] = "08/15/2016"
        status, body = call(url, "/predict", {"ticker": "SPY", "bars": mixed})
        assert status == 422 and "bars[10]: '08/15/2016'" in body["detail"], body
        assert "You might want to try" not in body["detail"]  # pandas' advice, not ours

        status, body = call(url, "/predict", {"ticker": "SPY", "bars": recent * 20})
        assert status == 413 and "over the limit of 200000 bytes" in body["detail"], body

        typo = [dict(b) for b in recent]
        typo[3]["close"] = "x" * 50_000
        raw = json.dumps({"ticker": "SPY", "bars": typo}).encode()
        status, body = call(url, "/predict", raw=raw)
        assert status == 422 and body["detail"][0]["loc"] == ["body", "bars", 3, "close"], body
        assert "xxxxxxxxxx" not in json.dumps(body) and "input" not in body["detail"][0]


def test_serve_says_a_port_in_use_before_printing_its_address(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(TRADEFORGE), "serve", "--store", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "http://" not in done.stdout


def test_new_champion_is_picked_up_and_a_tampered_one_refused(spy_frame, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    first = publish(store, spy_frame, str(SPY), seed=3, workdir=tmp_path)
    registry = ModelRegistry(open_store(store))
    with serving(store, "--poll-interval", "0.3") as url:
        _, out = call(url, "/predict", {"ticker": "SPY"})
        assert out["version_id"] == first.version.version_id

        # A promotion through the registry: served without a restart.
        second = publish(store, spy_frame, str(SPY), seed=4, workdir=tmp_path)
        v2 = second.version.version_id
        wait_for(lambda: _models(url)["SPY"].get("version_id") == v2, "the new champion")
        _, out2 = call(url, "/predict", {"ticker": "SPY"})
        assert out2["version_id"] == v2 and out2["q_values"] != out["q_values"]

        # A version altered after publishing, made champion by writing the pointer directly
        # (as someone with write access to the bucket could): refused, v2 keeps serving.
        third = publish(store, spy_frame, str(SPY), seed=5, promote=False, workdir=tmp_path)
        npz = Path(third.version.uri) / "policy.npz"
        npz.write_bytes(npz.read_bytes()[:-8] + b"\x00" * 8)
        card_raw = (Path(third.version.uri) / "model_card.json").read_bytes()
        pointer = {
            "ticker": "SPY",
            "agent": "dqn",
            "version_id": third.version.version_id,
            "uri": third.version.uri,
            "card_sha256": sha256_hex(card_raw),
        }
        etag = registry.champion("SPY").etag
        registry.store.put_bytes("models/SPY/champion.json", to_json(pointer), if_match=etag)
        wait_for(lambda: _models(url)["SPY"]["error"] is not None, "the refusal")
        model = _models(url)["SPY"]
        assert "policy.npz: checksum mismatch" in model["error"]
        assert model["version_id"] == v2
        status, health = call(url, "/health")
        assert status == 200 and "checksum mismatch" in health["errors"]["SPY"]
        _, out3 = call(url, "/predict", {"ticker": "SPY"})
        assert out3["version_id"] == v2 and out3["q_values"] == out2["q_values"]

        # The next proper promotion is served again and clears the refusal.
        fourth = publish(store, spy_frame, str(SPY), seed=6, workdir=tmp_path)
        v4 = fourth.version.version_id
        wait_for(lambda: _models(url)["SPY"].get("version_id") == v4, "the repaired champion")
        assert _models(url)["SPY"]["error"] is None
        _, out4 = call(url, "/predict", {"ticker": "SPY"})
        assert out4["version_id"] == v4


def test_serving_from_s3_follows_the_pointer_etag(spy_frame, s3_uri, tmp_path: Path) -> None:
    first = publish(s3_uri, spy_frame, str(SPY), seed=3, workdir=tmp_path)
    with serving(s3_uri, "--tickers", "SPY", "--poll-interval", "0.3") as url:
        status, out = call(url, "/predict", {"ticker": "SPY", "position": "long"})
        assert status == 200, out
        assert out["version_id"] == first.version.version_id
        assert out["version_uri"].startswith("s3://")
        second = publish(s3_uri, spy_frame, str(SPY), seed=4, workdir=tmp_path)
        v2 = second.version.version_id
        wait_for(lambda: _models(url)["SPY"].get("version_id") == v2, "the new S3 champion")
        assert call(url, "/predict", {"ticker": "SPY"})[1]["version_id"] == v2


def test_the_stack_starts_serve_beside_its_s3(
    spy_frame, s3_server, monkeypatch, tmp_path: Path
) -> None:
    """``make up``'s serve service: on the stack's store, up with no champion yet, then serving
    the first champion a training promotes, without a restart."""
    from ops.stack import StackConfig, serve_service, start_service, stop_service

    def start(ports: list[int]) -> StackConfig:
        cfg = StackConfig(
            state_dir=tmp_path / "stack",
            s3_port=s3_server.ports["s3.port"],
            bucket=s3_server.bucket,
            s3_keys=(s3_server.access_key, s3_server.secret_key),
            serve_port=ports[0],
        )
        service = serve_service(cfg)
        assert service.argv[service.argv.index("--host") + 1] == "127.0.0.1"
        # The store is listed for a first champion every 30 s by default: 1 s here, or the test
        # waits half a minute for the listing it checks.
        argv = (*service.argv, "--discover-interval", "1")
        start_service(dataclasses.replace(service, argv=argv), cfg.logs, cfg.pids)
        return cfg

    cfg = start_on_free_ports(start)
    try:
        status, health = call(cfg.serve_url, "/health")
        assert status == 503 and health["status"] == "no champion loaded"
        for name, value in s3_server.env().items():
            monkeypatch.setenv(name, value)
        first = publish(cfg.store_uri, spy_frame, str(SPY), workdir=tmp_path)
        wait_for(lambda: call(cfg.serve_url, "/health")[0] == 200, "the first champion")
        _, out = call(cfg.serve_url, "/predict", {"ticker": "SPY"})
        assert out["version_id"] == first.version.version_id
    finally:
        stop_service("serve", cfg.pids)


def test_a_first_champion_that_fails_its_checksum_is_never_served(
    spy_frame, tmp_path: Path
) -> None:
    from tradeforge.serving import ChampionUnavailable, open_book

    store = str(tmp_path / "store")
    first = publish(store, spy_frame, str(SPY), workdir=tmp_path)
    spec = Path(first.version.uri) / "policy.json"
    spec.write_bytes(spec.read_bytes().replace(b'"relu"', b'"tanh"', 1))
    book = open_book(store)
    (row,) = book.describe()
    assert row["serving"] is False and "policy.json: checksum mismatch" in row["error"]
    with pytest.raises(ChampionUnavailable, match="SPY: no champion loaded"):
        book.policy("SPY")
    assert book.refresh() == []  # refused once, not re-read until the pointer moves
    with pytest.raises(LookupError, match=r"no champion for 'QQQ' is served \(serving: \[\]\)"):
        book.policy("QQQ")


def test_serving_imports_neither_tensorflow_nor_prefect(spy_frame, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    publish(store, spy_frame, str(SPY), workdir=tmp_path)
    probe = (
        "import json, sys\n"
        "from tradeforge.serving import create_app, open_book\n"
        f"book = open_book({store!r})\n"
        "create_app(book)\n"
        "policy, bar = book.latest_bar('SPY')\n"
        "assert policy.loaded_from == 'policy.npz'\n"
        "heavy = {'tensorflow', 'keras', 'prefect', 'great_expectations'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
    )
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_tickers_and_portfolio_choose_what_is_served(spy_frame, tmp_path: Path) -> None:
    """A store with a ticker champion and a portfolio champion (hand-set rules, no training):
    naming neither serves both; ``--tickers`` alone serves no portfolio (a portfolio request
    is told so), ``--portfolio`` alone no ticker; a bad universe name exits 2 before a port
    is bound."""
    from tests.paper.helpers import publish_rule, write_source
    from tests.paper.portfolio_helpers import publish_portfolio_rule, universe, write_universe

    store = str(tmp_path / "store")
    publish_rule(store, spy_frame, write_source(spy_frame, tmp_path / "SPY.csv", 1500), "momentum")
    frames = universe()
    publish_portfolio_rule(
        store, frames, write_universe(frames, tmp_path / "bars", 600), "momentum"
    )
    for extra, tickers, portfolios in [
        ((), ["SPY"], ["mom3"]),
        (("--tickers", "spy"), ["SPY"], []),
        (("--portfolio", "mom3"), [], ["mom3"]),
    ]:
        with serving(store, *extra) as url:
            status, health = call(url, "/health")
            assert status == 200 and health["serving"] == tickers, (extra, health)
            assert health["portfolios"] == portfolios, (extra, health)
            if not portfolios:
                status, out = call(url, "/predict", {"portfolio": "mom3"})
                assert status == 404 and "serves no portfolios" in out["detail"], out
            if not tickers:
                status, out = call(url, "/predict", {"ticker": "SPY"})
                assert status == 404 and "no champion for 'SPY' is served" in out["detail"], out
    logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "  portfolio mom3: " in logs  # the start-up listing names the universes too
    # A subprocess with a timeout: were the name not checked, the server would start (and
    # serve "../x" as a missing champion) instead of exiting.
    done = subprocess.run(
        [str(TRADEFORGE), "serve", "--store", store, "--portfolio", "../x", "--port", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "--portfolio" in done.stderr, done.stderr
