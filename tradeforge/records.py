"""Typed records that travel between the pipeline's stages (and Prefect tasks).

Small, frozen, JSON-ready: a trained candidate is a store key plus its identity, never a model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Metrics = dict[str, float]


class Record(BaseModel):
    """Base of the records: frozen, and ``.json()`` gives plain JSON types."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def json_dict(self) -> dict[str, Any]:
        """The record as plain JSON types (for the summary, the model card and artifacts)."""
        return self.model_dump(mode="json")


class CandidateId(Record):
    """What makes a candidate: one agent kind, seed and reward scheme (trained on every fold)."""

    agent: str
    seed: int
    """The seed; for a seed ensemble, -1."""
    reward: str
    ensemble: int = 0
    """Seeds averaged (mean of their Q-values) in a seed-ensemble candidate; 0 = one seed."""

    @property
    def slug(self) -> str:
        """The candidate's folder name: ``seed-<n>``, or ``ensemble-<n>`` for a seed ensemble."""
        return f"ensemble-{self.ensemble}" if self.ensemble else f"seed-{self.seed}"

    @property
    def label(self) -> str:
        if self.ensemble:
            return f"{self.agent} ensemble of {self.ensemble} seeds ({self.reward})"
        return f"{self.agent} seed {self.seed} ({self.reward})"


class Candidate(Record):
    """One trained model of one fold, staged in the store (not yet published)."""

    ticker: str
    id: CandidateId
    fold: int
    """0-based walk-forward fold; the last fold's model is the one published."""
    model_key: str
    """Store key of the staged ``.keras`` file."""
    stats: dict[str, float | int | str] = Field(default_factory=dict)


class FoldResult(Record):
    """One candidate's greedy results on its fold's validation stretch (and test, last fold)."""

    candidate: Candidate
    validation: Metrics
    val_returns: list[float]
    """Per-bar net-worth returns on the validation stretch, after costs."""
    test: Metrics | None = None
    """Only for the last fold: its model is the one that would be published."""
    plots: dict[str, str] = Field(default_factory=dict)
    """Split -> store key of the staged equity-curve PNG."""


class PolicyResult(Record):
    """A policy (candidate or baseline) on the pooled validation bars and on the test window."""

    name: str
    validation: Metrics
    """Metrics of the validation returns pooled over the folds."""
    folds: list[Metrics]
    """Metrics of each fold's validation stretch."""
    test: Metrics
    val_returns: list[float] = Field(default_factory=list, repr=False)


class TickerFailure(Record):
    """A ticker whose data, training or evaluation failed: nothing promoted, its staged files
    removed. The summary lists it beside the tickers that finished."""

    ticker: str
    failures: list[str]
    """``<task run name>: <error type>: <message>`` for each task that failed."""

    def json_dict(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "outcome": "failed",
            "promoted": False,
            "reason": "; ".join(self.failures),
            "failures": list(self.failures),
        }
