"""``make up``'s automations against a real (temporary) Prefect server: created once, updated in
place on a second run, and a ``tradeforge.champion.demoted`` event makes the server's actions
service post to the notification block (a webhook on 127.0.0.1 that records what it gets).

Checked to fail without their behaviour: with the demoted rule's event renamed the trigger
check fails; with the automations' actions emptied (create and update) the webhook gets
nothing within the 90 s wait; with ``ensure_automations`` always creating (no read first) the
second call reports "created" again and leaves two automations of each name.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def webhook():
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def test_automations_are_idempotent_and_a_demotion_notifies(prefect_harness, webhook) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event

    from ops.automations import CRASHED_EVENT, ensure_automations, rules
    from tasks.paper import ALARM_EVENT, DEMOTED_EVENT, WARNING_EVENT

    block = "custom-webhook/tradeforge-alerts"
    assert ensure_automations(block) == [
        f"no notification block {block!r} saved: automations not created"
    ]
    url, got = webhook
    CustomWebhookNotificationBlock(
        name="tradeforge", url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    ).save("tradeforge-alerts", overwrite=True)
    first = ensure_automations(block)
    assert all(line.endswith(": created") for line in first) and len(first) == 3
    assert all(line.endswith(": updated") for line in ensure_automations(block))
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
    by_name = {}
    for automation in automations:
        by_name.setdefault(automation.name, []).append(automation)
    assert sorted(by_name) == sorted(rule.name for rule in rules())
    assert all(len(same) == 1 for same in by_name.values())  # updated, not duplicated
    expected = {frozenset(a.trigger.expect) for a in automations}
    assert expected == {
        frozenset({DEMOTED_EVENT}),
        frozenset({ALARM_EVENT, WARNING_EVENT}),
        frozenset({CRASHED_EVENT}),
    }
    emit_event(
        event=DEMOTED_EVENT,
        resource={"prefect.resource.id": "tradeforge.ticker.SPY", "ticker": "SPY"},
        payload={"status": "demote", "reasons": ["cusum alarm"], "demotion": {"moved": True}},
    )
    deadline = time.monotonic() + 90
    while not got and time.monotonic() < deadline:
        time.sleep(0.5)
    assert got, "the demotion event did not reach the notification block"
    message = got[0]
    assert "champion demoted (tradeforge.ticker.SPY)" in message["subject"]
    assert "cusum alarm" in message["body"]
