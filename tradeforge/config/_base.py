"""The base of every configuration section: a frozen, strict pydantic model.

Each field is declared once, with its default, bounds (``ge``/``gt``/``le``/``lt``), ``Literal``
choices and a one-line description; the CLI (``cli/train.py``), the flow's parameters (and so the
Prefect UI's run form) and the docs are all generated from these declarations.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, WithJsonSchema


class Section(BaseModel):
    """A frozen configuration section; ``replace`` returns a validated copy."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated again (unlike ``model_copy``).

        Only the fields set explicitly are carried over, so derived defaults (such as
        ``DQNConfig.learning_starts``) are derived again from the new values.
        """
        return type(self).model_validate({**self.model_dump(exclude_unset=True), **changes})


def _iso_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)") from None
    return value


def as_date(value: str | None) -> dt.date | None:
    """The calendar date of an optional ISO date string."""
    return None if value is None else dt.date.fromisoformat(value[:10])


OptionalDate = Annotated[
    str | None,
    AfterValidator(_iso_date),
    # Shown in the Prefect UI as a plain (optional) date field, not a "type None" chooser.
    WithJsonSchema({"type": "string", "format": "date"}),
]
"""An optional ISO date (YYYY-MM-DD); None = not set."""

OptionalText = Annotated[str | None, WithJsonSchema({"type": "string"})]
OptionalCount = Annotated[int | None, WithJsonSchema({"type": "integer", "minimum": 0})]
"""Optional text; None = not set (a plain text field in the UI)."""


def first_error(exc: ValidationError) -> str:
    """``"<dotted.field>: <problem>"`` for the first error of a pydantic ``ValidationError``."""
    err = exc.errors()[0]
    message = err["msg"].removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"])
    # Cross-field rules (model validators) name their field in the message itself.
    return f"{where}: {message}" if where else message
