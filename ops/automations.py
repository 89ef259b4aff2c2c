"""Prefect automations that notify operators on the server side (created by ``make up``).

The flow hooks (``flows/hooks.py``) notify from the flow's own process; three things reach
nobody without a server-side rule: a champion demoted by the paper monitor, the monitor's
alarms and warnings (events, not failures), and a flow run that crashed (its process was
killed and could not run its hook). Each rule here is a reactive ``EventTrigger`` whose action
is ``SendNotification`` to the same notification block the hooks use (``$TRADEFORGE_NOTIFY_BLOCK``,
default ``custom-webhook/tradeforge-alerts``).

Run with the stack's Prefect environment (``ops/stack.py`` does)::

    .venv/bin/python -m ops.automations

Idempotent: an automation of the same name is updated in place, never duplicated. Without the
block saved nothing is created and the reason is printed (save the block, run it again).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

#: The event Prefect emits when a flow run crashes (its process died or was killed).
CRASHED_EVENT = "prefect.flow-run.Crashed"


@dataclass(frozen=True)
class Rule:
    """One automation: its name, the events that fire it, and the message's templates."""

    name: str
    events: tuple[str, ...]
    subject: str
    body: str


def rules() -> tuple[Rule, ...]:
    """The automations ``make up`` keeps (event names from the tasks that emit them)."""
    from tasks.paper import ALARM_EVENT, DEMOTED_EVENT, WARNING_EVENT

    # Jinja templates rendered by Prefect's actions service with the triggering event.
    paper_body = (
        "{{ event.event }} on {{ event.resource.id }} at {{ event.occurred }}\n"
        "status: {{ event.payload.status }}\n"
        "reasons: {{ event.payload.reasons }}\n"
        "demotion: {{ event.payload.demotion }}"
    )
    return (
        Rule(
            "tradeforge: champion demoted",
            (DEMOTED_EVENT,),
            "tradeforge: champion demoted ({{ event.resource.id }})",
            paper_body,
        ),
        Rule(
            "tradeforge: paper alarm or warning",
            (ALARM_EVENT, WARNING_EVENT),
            "tradeforge: {{ event.event }} ({{ event.resource.id }})",
            paper_body,
        ),
        Rule(
            "tradeforge: flow run crashed",
            (CRASHED_EVENT,),
            "tradeforge: flow run {{ event.resource.name }} crashed",
            "{{ event.event }}: flow run {{ event.resource.name }} ({{ event.resource.id }}) "
            "at {{ event.occurred }}; its process died without running its hooks. "
            "State message: {{ event.payload.validated_state.message }}",
        ),
    )


def notify_block_id(block: str) -> Any:
    """The id of the notification block ``<type-slug>/<name>``, or None if it is not saved."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block.partition("/")
    if not slug or not name:
        raise ValueError(f"notification block {block!r}: expected <block-type-slug>/<block-name>")
    with get_client(sync_client=True) as client:
        try:
            return client.read_block_document_by_name(name, block_type_slug=slug).id
        except ObjectNotFound:
            return None


def ensure_automations(block: str) -> list[str]:
    """Create or update every automation of ``rules()`` to notify ``block``; returns what was
    done, one line per automation (or why nothing was)."""
    from prefect.automations import Automation
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    block_id = notify_block_id(block)
    if block_id is None:
        return [f"no notification block {block!r} saved: automations not created"]
    done = []
    for rule in rules():
        trigger = EventTrigger(expect=set(rule.events), posture=Posture.Reactive, threshold=1)
        action = SendNotification(block_document_id=block_id, subject=rule.subject, body=rule.body)
        try:
            current = Automation.read(name=rule.name)
        except ValueError:  # Prefect's "not found"
            Automation(name=rule.name, trigger=trigger, actions=[action]).create()
            done.append(f"{rule.name}: created")
            continue
        current.trigger, current.actions, current.enabled = trigger, [action], True
        current.update()
        done.append(f"{rule.name}: updated")
    return done


def main() -> int:
    """Ensure the automations for ``$TRADEFORGE_NOTIFY_BLOCK``; print one line each."""
    from flows.hooks import notify_block_name

    block = notify_block_name()
    if block is None:
        print("TRADEFORGE_NOTIFY_BLOCK is empty: no automations")
        return 0
    for line in ensure_automations(block):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
