"""Small checks shared by the config dataclasses: each raises ``ValueError`` naming the field."""

from __future__ import annotations

from collections.abc import Iterable


def require(condition: bool, field: str, problem: str) -> None:
    """Raise ``ValueError("<field>: <problem>")`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{field}: {problem}")


def require_choice(value: object, field: str, choices: Iterable[object]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    options = tuple(choices)
    require(value in options, field, f"{value!r} is not one of {', '.join(map(repr, options))}")
