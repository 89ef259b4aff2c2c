"""The result of validating one frame: per-rule outcomes, the handled frame, and the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

ERROR = "error"
WARNING = "warning"
MAX_EXAMPLES = 3


class DataValidationError(ValueError):
    """Bars broke the data contract; the message names each failed rule with example rows."""

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class RuleResult:
    """One rule of the contract on one frame."""

    rule: str
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Up to three offending rows: timestamp, the prices/volume, and what is wrong."""
    severity: str = ERROR
    """``error`` (stops the run) or ``warning`` (reported; the bars are handled as described)."""
    success: bool = False
    unexpected: int = 0
    """How many rows broke the rule."""
    handling: str = ""
    """What was done about a warning's bars (e.g. "dropped 1 bar")."""
    row_indices: tuple[int, ...] = field(default=(), repr=False)
    """Positions (in the validated frame) of every row that broke the rule."""


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of every rule, and the frame with warning bars handled."""

    ticker: str
    interval: str
    asset_class: str
    suite: str
    """Name of the great-expectations suite that ran (per asset class and interval)."""
    rows_checked: int
    results: list[RuleResult]
    frame: pd.DataFrame
    """The input frame with warnings handled (placeholder and stale bars dropped)."""
    seconds: float = 0.0
    """Wall time of the suite (context, run, derived checks)."""
    gx_result: Any = field(default=None, repr=False, compare=False)
    """great-expectations' own validation result (for Data Docs); not a context."""
    notes: tuple[str, ...] = ()
    """What was done to the bars before the rules ran (reader's notes, declared splits)."""

    @property
    def errors(self) -> list[RuleResult]:
        """Failed rules that stop the run."""
        return [r for r in self.results if not r.success and r.severity == ERROR]

    @property
    def warnings(self) -> list[RuleResult]:
        """Rules that flagged bars without stopping the run."""
        return [r for r in self.results if not r.success and r.severity == WARNING]

    @property
    def success(self) -> bool:
        """True when no error rule failed."""
        return not self.errors

    def rows(self) -> list[dict[str, Any]]:
        """One row per rule, for a table artifact or a printed table."""
        return [
            {
                "rule": r.rule,
                "severity": r.severity,
                "status": "passed" if r.success else ("FAILED" if r.severity == ERROR else "warn"),
                "rows": r.unexpected,
                "message": r.message,
                "examples": "; ".join(_describe(e) for e in r.examples),
                "handling": r.handling,
            }
            for r in self.results
        ]

    def summary(self) -> str:
        """One line: passed/failed, rows, and the rules that failed or warned."""
        head = "passed" if self.success else "FAILED"
        parts = [f"{head}: {self.rows_checked} rows of {self.ticker} ({self.suite})"]
        if self.errors:
            parts.append("errors: " + ", ".join(f"{r.rule} ({r.unexpected})" for r in self.errors))
        if self.warnings:
            parts.append(
                "warnings: "
                + ", ".join(f"{r.rule} ({r.unexpected}; {r.handling})" for r in self.warnings)
            )
        return "; ".join(parts)

    def raise_for_errors(self) -> None:
        """Raise ``DataValidationError`` naming every failed rule with example rows."""
        if self.success:
            return
        lines = [f"{self.ticker} data failed validation ({self.suite}):"]
        lines += [f"  - {r.message}" for r in self.errors]
        raise DataValidationError("\n".join(lines), self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for ``--json`` and stored reports)."""
        return {
            "ticker": self.ticker,
            "success": self.success,
            "suite": self.suite,
            "interval": self.interval,
            "asset_class": self.asset_class,
            "rows_checked": self.rows_checked,
            "rows_kept": len(self.frame),
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
            "notes": list(self.notes),
            "rules": [
                {
                    "rule": r.rule,
                    "severity": r.severity,
                    "success": r.success,
                    "rows": r.unexpected,
                    "message": r.message,
                    "examples": r.examples,
                    "handling": r.handling,
                }
                for r in self.results
            ],
        }


def _describe(example: dict[str, Any]) -> str:
    return str(example.get("problem") or example)
