"""flows/hooks.py: a failed or crashed flow run notifies through a real webhook block.

A small real flow runs under prefect_test_harness (PREFECT_HOME in a temporary folder); the
webhook is an HTTP server on 127.0.0.1 that records what it receives.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from flows.hooks import NOTIFY_BLOCK_ENV, NOTIFY_HOOKS, notify_on_crashed, notify_on_failure


class Receiver:
    """A webhook endpoint on 127.0.0.1 keeping every JSON body it is sent."""

    def __init__(self) -> None:
        received: list[dict] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.close()


@pytest.fixture
def webhook_block(prefect_harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> str:
    """A saved CustomWebhookNotificationBlock pointing at the receiver, named in the env var."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(
        name="tradeforge",
        url=receiver.url,
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
        timeout=5,
    ).save(name)
    monkeypatch.setenv(NOTIFY_BLOCK_ENV, f"custom-webhook/{name}")
    return name


class Interrupted(BaseException):
    """Stands for a signal ending the flow's process (Prefect reports the run Crashed)."""


@flow(name="hooked-failing-flow", **NOTIFY_HOOKS)
def failing_flow(ticker: str) -> None:
    raise ValueError(f"{ticker}.csv row 412: high 10.2 < low 11.0")


@flow(name="hooked-crashing-flow", **NOTIFY_HOOKS)
def crashing_flow() -> None:
    raise Interrupted("SIGTERM from the worker")


@flow(name="hooked-passing-flow", **NOTIFY_HOOKS)
def passing_flow() -> int:
    return 1


def _flow_run_name(state) -> str:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).name


def test_failed_run_notifies_with_run_and_error(webhook_block: str, receiver: Receiver) -> None:
    state = failing_flow("SPY", return_state=True)
    assert state.is_failed()
    (message,) = receiver.received
    run_name = _flow_run_name(state)
    assert message["subject"] == f"tradeforge: flow run {run_name!r} of hooked-failing-flow Failed"
    text = message["text"]
    assert f"Flow run: {run_name} ({state.state_details.flow_run_id})" in text
    assert "ValueError: SPY.csv row 412: high 10.2 < low 11.0" in text


def test_crashed_run_notifies(webhook_block: str, receiver: Receiver) -> None:
    with pytest.raises(Interrupted):
        crashing_flow()
    (message,) = receiver.received
    assert message["subject"].endswith("of hooked-crashing-flow Crashed")
    assert "Interrupted" in message["text"] or "SIGTERM from the worker" in message["text"]


def test_successful_run_sends_nothing(webhook_block: str, receiver: Receiver) -> None:
    assert passing_flow() == 1
    assert receiver.received == []


def test_no_block_configured_logs_and_does_nothing(
    prefect_harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv(NOTIFY_BLOCK_ENV, "custom-webhook/never-saved")
    state = failing_flow("SPY", return_state=True)
    assert state.is_failed()  # the run's own error, not a notifier error
    assert receiver.received == []
    assert "No notification block 'custom-webhook/never-saved'" in caplog.text
    monkeypatch.setenv(NOTIFY_BLOCK_ENV, "")
    assert failing_flow("SPY", return_state=True).is_failed()
    assert f"{NOTIFY_BLOCK_ENV} is empty: not notifying" in caplog.text


def test_unreachable_webhook_does_not_mask_the_run_error(
    webhook_block: str, receiver: Receiver, caplog
) -> None:
    receiver.close()
    state = failing_flow("SPY", return_state=True)
    assert state.is_failed() and "high 10.2 < low 11.0" in state.message
    assert f"Notification block 'custom-webhook/{webhook_block}' failed" in caplog.text


def _real_flows() -> dict[str, Any]:
    from flows.predict import predict
    from flows.runners import train_pipeline_dask
    from flows.train import train_pipeline

    return {"train": train_pipeline, "train-dask": train_pipeline_dask, "predict": predict}


@pytest.mark.parametrize("name", ["train", "train-dask", "predict"])
def test_the_real_flows_carry_both_hooks(name: str) -> None:
    """What deployments and the CLI run: a failure or crash of any of them notifies."""
    real = _real_flows()[name]
    assert notify_on_failure in real.on_failure_hooks
    assert notify_on_crashed in real.on_crashed_hooks


def test_a_failed_predict_run_notifies(
    webhook_block: str, receiver: Receiver, tmp_path: Path
) -> None:
    """The real ``predict`` flow on a store with no champion: it fails, and the hook says so."""
    from flows.predict import predict

    state = predict(ticker="SPY", store=str(tmp_path / "empty-store"), return_state=True)
    assert state.is_failed()
    (message,) = receiver.received
    assert message["subject"].endswith("of predict Failed")
    assert "SPY" in message["text"]
