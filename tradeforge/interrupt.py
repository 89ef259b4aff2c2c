"""Cooperative stop: Ctrl-C asks the running stages to stop at their next step (issue 24).

``tradeforge train`` turns SIGINT into :func:`request`; the training loops call
:func:`check` once per step (after a checkpoint of where they are, so the run can resume), and
evaluation and promotion call it before they start: a run asked to stop never promotes. The
flow then fails the ordinary way (staged files removed) and the command exits 130.

The flag is per process: trainings on a Dask cluster are not reached by it (their worker
processes get the terminal's SIGINT themselves, or are stopped with the cluster).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

_REQUESTED = threading.Event()
_LOCK = threading.Lock()
_STOPPED: list[Stopped] = []


class Interrupted(RuntimeError):
    """The run was asked to stop (Ctrl-C); the message says what stopped where."""


@dataclass(frozen=True)
class Stopped:
    """Where one training stopped: its env step and the checkpoint a resume starts from."""

    what: str
    env_steps: int
    total_steps: int
    checkpoint: str | None


def request() -> None:
    """Ask every stage of this process to stop at its next step (a signal handler may call it)."""
    _REQUESTED.set()


def requested() -> bool:
    """True once a stop was requested."""
    return _REQUESTED.is_set()


def check(what: str) -> None:
    """:class:`Interrupted` naming ``what`` if a stop was requested; else nothing."""
    if _REQUESTED.is_set():
        raise Interrupted(f"{what}: interrupted (Ctrl-C)")


def record(stopped: Stopped) -> None:
    """Note where a training stopped (read by the command to say how to resume)."""
    with _LOCK:
        _STOPPED.append(stopped)


def stopped() -> list[Stopped]:
    """Every training stopped since the last :func:`reset`, in the order they stopped."""
    with _LOCK:
        return list(_STOPPED)


def reset() -> None:
    """Clear the request and the records (a new run in the same process)."""
    with _LOCK:
        _STOPPED.clear()
    _REQUESTED.clear()
