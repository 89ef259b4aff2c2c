"""The stack's Prefect server with its auth string (SECURITY.md's threats P1-P2), started alone.

``make up`` starts the same ``prefect_server_service`` (with ``PREFECT_SERVER_API_AUTH_STRING``)
and gives every client ``base_env`` (with ``PREFECT_API_AUTH_STRING``); this test starts only the
server, on a free 127.0.0.1 port with its state in a temporary folder, and checks what an
anonymous or wrong caller gets, that the stack's own clients (the ``prefect`` CLI, a flow run)
still work, and that the string lands in no log line or Prefect record. ``test_stack.py`` runs
the whole stack (worker, deployments, UI) with the same auth.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ops.stack import (
    StackConfig,
    api,
    api_refuses_anonymous,
    base_env,
    free_port,
    prefect,
    prefect_auth_string,
    prefect_server_service,
    serve_service,
    start_service,
    stop_service,
    write_env_file,
)
from tests.e2e.ui import LOGIN_REFUSED, capture_login, chromium_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "e2e-auth"

# A flow run against the authenticated server, leaving a log line, a task run and an artifact.
FLOW = """
from prefect import flow, task, get_run_logger
from prefect.artifacts import create_markdown_artifact

@task
def double(x: int) -> int:
    get_run_logger().info("doubling %s", x)
    return 2 * x

@flow(name="auth-probe", log_prints=True)
def probe(x: int = 21) -> int:
    y = double(x)
    print(f"probe result {y}")
    create_markdown_artifact(f"result **{y}**", key="auth-probe")
    return y

assert probe() == 42
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The stack's Prefect server with its generated auth string; stopped at the end."""
    cfg = StackConfig(
        state_dir=tmp_path_factory.mktemp("stack-auth"),
        prefect_port=free_port(),
        s3_keys=("key", "secret"),
    )
    try:
        start_service(prefect_server_service(cfg), cfg.logs, cfg.pids)
        yield cfg
    finally:
        stop_service("prefect-server", cfg.pids)


def _status(url: str, authorization: str | None = None, body: dict | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers), timeout=30
        ) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_the_api_refuses_requests_without_the_auth_string(server: StackConfig) -> None:
    auth = prefect_auth_string(server)
    assert auth == prefect_auth_string(server)  # made once per stack, then kept
    state = server.state_dir / "prefect-auth.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600

    api_url = server.api_url
    assert _status(api_url + "/health") == 200  # probes stay open
    for path, body in (
        ("/admin/version", None),
        ("/flow_runs/filter", {}),
        ("/variables/filter", {}),
    ):
        assert _status(api_url + path, body=body) == 401, path
        assert _status(api_url + path, _basic("tradeforge:wrong"), body) == 401, path
        assert _status(api_url + path, "Bearer " + auth, body) == 401, path
        assert _status(api_url + path, _basic(auth), body) == 200, path
    assert api_refuses_anonymous(server)

    # The stack's own clients carry it: the CLI works with base_env and fails without it.
    assert prefect(server, "work-pool", "ls").returncode == 0
    env = {k: v for k, v in base_env(server).items() if k != "PREFECT_API_AUTH_STRING"}
    anonymous = subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "work-pool", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert anonymous.returncode != 0
    assert "401" in anonymous.stdout + anonymous.stderr

    # The UI asks for it (Prefect's UI shows its login page when ui-settings says BASIC).
    with urllib.request.urlopen(server.ui_url + "/ui-settings", timeout=30) as resp:
        assert json.loads(resp.read())["auth"] == "BASIC"

    # env.sh exports it for the user's shell, and is readable by its owner only.
    env_sh = write_env_file(server)
    assert stat.S_IMODE(env_sh.stat().st_mode) == 0o600
    echoed = subprocess.run(
        ["bash", "-c", f'source {env_sh}; printf %s "$PREFECT_API_AUTH_STRING"'],
        env={"PATH": "/usr/bin:/bin", "HOME": str(server.state_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert echoed == auth

    # `tradeforge serve` never talks to Prefect: it is not given the string.
    assert "PREFECT_API_AUTH_STRING" not in serve_service(server).env


def test_the_auth_string_appears_in_no_log_line_or_prefect_record(server: StackConfig) -> None:
    auth = prefect_auth_string(server)
    secret = auth.split(":", 1)[1]
    forms = {auth, secret, base64.b64encode(auth.encode()).decode()}
    env = base_env(server)
    # Results stay local here: the stack's S3 result block is not part of this test.
    env.pop("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK")
    env["PREFECT_LOGGING_LEVEL"] = "DEBUG"
    run = subprocess.run(
        [sys.executable, "-c", FLOW],
        env=env,
        cwd=server.state_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    (flow_run,) = api(server, "/flow_runs/filter", {"flows": {"name": {"any_": ["auth-probe"]}}})
    assert flow_run["state_type"] == "COMPLETED"
    only_run = {"flow_runs": {"id": {"any_": [flow_run["id"]]}}}
    records = {
        "flow_runs": [flow_run, api(server, f"/flow_runs/{flow_run['id']}")],
        "task_runs": api(server, "/task_runs/filter", only_run),
        "logs": api(server, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}}}),
        "artifacts": api(server, "/artifacts/filter", {}),
        "events": api(server, "/events/filter", {"limit": 50}),
        "work_pools": api(server, "/work_pools/filter", {}),
        "variables": api(server, "/variables/filter", {}),
        "blocks": api(server, "/block_documents/filter", {"include_secrets": True}),
        "settings": api(server, "/admin/settings"),
    }
    messages = " ".join(entry["message"] for entry in records["logs"])
    assert "doubling 21" in messages and "probe result 42" in messages  # the records are real
    assert any(a["key"] == "auth-probe" for a in records["artifacts"])
    texts = {
        **{name: json.dumps(value) for name, value in records.items()},
        "flow run output": run.stdout + run.stderr,
        "server log": (server.logs / "prefect-server.log").read_text(errors="replace"),
    }
    for name, text in texts.items():
        for form in forms:
            assert form not in text, f"the auth string is in the {name}"


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (ops/ci-deps.sh)")
def test_the_ui_asks_for_the_auth_string(server: StackConfig) -> None:
    shutil.rmtree(OUTPUT, ignore_errors=True)  # no screenshot of an earlier run is left
    login = capture_login(server.ui_url, prefect_auth_string(server), OUTPUT)
    assert "Login" in login.before_text and "admin:pass" in login.before_html
    assert any(text in login.wrong_text for text in LOGIN_REFUSED)
    assert "Dashboard" in login.after_text and "Login" not in login.after_text
    assert os.path.getsize(login.after_png) > 10_000


def test_a_server_that_needs_no_auth_string_is_noticed(tmp_path: Path) -> None:
    """``make up`` warns when the running server (one an older ``make up`` started) answers
    anonymous requests: here a plain HTTP server answering 200 stands in for it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Open(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'"3.9.1"')

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Open) as httpd:
        Thread(target=httpd.serve_forever, daemon=True).start()
        cfg = StackConfig(state_dir=tmp_path, prefect_port=httpd.server_address[1])
        try:
            assert not api_refuses_anonymous(cfg)
        finally:
            httpd.shutdown()
