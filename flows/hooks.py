"""Flow-run hooks that tell operators when a run fails or crashes, through a notification block.

Attach them to a flow::

    @flow(on_failure=[notify_on_failure], on_crashed=[notify_on_crashed])
    def train_pipeline(...): ...

or ``@flow(**NOTIFY_HOOKS)``. The message goes to the Prefect notification block named by
``$TRADEFORGE_NOTIFY_BLOCK`` (``<block-type-slug>/<block-name>``, default
``custom-webhook/tradeforge-alerts``); create it once, e.g.::

    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    CustomWebhookNotificationBlock(
        name="tradeforge", url="https://hooks.example.com/...",
        json_data={"text": "{{subject}}\\n{{body}}"},
    ).save("tradeforge-alerts")

(Slack, Teams, email ... blocks work the same way: any ``NotificationBlock``). With the
variable set to an empty string, or no such block saved, the hook logs that and does nothing: a
run is never failed by its notifier. Hooks run in the flow's own process, so a process that is
SIGKILLed or loses its machine cannot notify; for those, a Prefect automation on the
``prefect.flow-run.Crashed`` event is the server-side complement.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.core import Block
from prefect.logging import get_logger
from prefect.utilities.urls import url_for

#: Environment variable naming the notification block (``<type-slug>/<name>``).
NOTIFY_BLOCK_ENV = "TRADEFORGE_NOTIFY_BLOCK"
#: Block notified when the variable is unset.
DEFAULT_NOTIFY_BLOCK = "custom-webhook/tradeforge-alerts"
#: Longest error text put in a message (a traceback can be long; the UI has the rest).
MAX_ERROR_CHARS = 2000

log = get_logger("tradeforge.hooks")


def notify_block_name() -> str | None:
    """The block to notify, or None when notifications are switched off (empty variable)."""
    name = os.environ.get(NOTIFY_BLOCK_ENV, DEFAULT_NOTIFY_BLOCK).strip()
    return name or None


def failure_message(flow: Any, flow_run: Any, state: Any) -> tuple[str, str]:
    """``(subject, body)`` naming the flow, the run, its state and the error."""
    subject = f"tradeforge: flow run {flow_run.name!r} of {flow.name} {state.name}"
    error = (state.message or "no message").strip()
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + " ..."
    lines = [
        f"Flow: {flow.name}",
        f"Flow run: {flow_run.name} ({flow_run.id})",
        f"State: {state.name}",
        f"Error: {error}",
    ]
    deployment = getattr(flow_run, "deployment_id", None)
    if deployment:
        lines.insert(2, f"Deployment: {deployment}")
    link = _run_url(flow_run)
    if link:
        lines.append(f"Run: {link}")
    return subject, "\n".join(lines)


def _run_url(flow_run: Any) -> str | None:
    try:
        return url_for("flow-run", obj_id=flow_run.id)
    except Exception:  # no UI URL configured (ephemeral mode): the id is in the message
        return None


def notify(flow: Any, flow_run: Any, state: Any) -> bool:
    """Send the failure message to the configured block; True if it was sent.

    Never raises: a missing block or a failing webhook is logged, not allowed to replace the
    run's own error.
    """
    name = notify_block_name()
    if name is None:
        log.info("%s is empty: not notifying about flow run %s", NOTIFY_BLOCK_ENV, flow_run.name)
        return False
    subject, body = failure_message(flow, flow_run, state)
    try:
        block = Block.load(name, _sync=True)
    except ValueError:
        log.warning(
            "No notification block %r (set %s or save the block, see flows/hooks.py): "
            "not notifying about flow run %s",
            name,
            NOTIFY_BLOCK_ENV,
            flow_run.name,
        )
        return False
    except Exception as exc:
        log.error("Could not load notification block %r: %s", name, exc)
        return False
    try:
        with block.raise_on_failure():
            block.notify(body=body, subject=subject, _sync=True)
    except Exception as exc:
        log.error("Notification block %r failed for flow run %s: %s", name, flow_run.name, exc)
        return False
    log.info("Notified %r about flow run %s (%s)", name, flow_run.name, state.name)
    return True


def notify_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` hook: the flow run ended Failed."""
    notify(flow, flow_run, state)


def notify_on_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_crashed`` hook: the flow run's process was interrupted (signal, BaseException)."""
    notify(flow, flow_run, state)


#: ``@flow(**NOTIFY_HOOKS)`` attaches both hooks.
NOTIFY_HOOKS: dict[str, list[Any]] = {
    "on_failure": [notify_on_failure],
    "on_crashed": [notify_on_crashed],
}
