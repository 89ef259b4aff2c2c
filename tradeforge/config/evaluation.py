"""Evaluation and promotion configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tradeforge.config._base import Section


class EvalConfig(Section):
    """How agents and baselines are compared on the held-out windows."""

    random_policy_seeds: int = Field(
        20, ge=1, description="Seeds of the random-policy baseline (its metrics are averaged)."
    )
    sma_fast: int = Field(10, ge=1, description="Fast window of the SMA-crossover baseline.")
    sma_slow: int = Field(50, ge=2, description="Slow window of the SMA-crossover baseline.")
    bootstrap_samples: int = Field(
        2_000, ge=100, description="Resamples for the across-seed confidence interval."
    )
    plots: bool = Field(True, description="Write PNG equity-curve plots.")
    confidence: float = Field(
        0.95, gt=0, lt=1, description="Coverage of the across-seed bootstrap interval."
    )
    cost_sweep_bp: tuple[float, ...] = Field(
        (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0),
        min_length=1,
        description="Commissions (basis points) at which the selected model is re-scored on test.",
    )

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        if not self.sma_fast < self.sma_slow:
            raise ValueError(f"sma_fast: {self.sma_fast} must be < sma_slow {self.sma_slow}")
        if not all(0 <= c < 1000 for c in self.cost_sweep_bp):
            raise ValueError(
                f"cost_sweep_bp: {list(self.cost_sweep_bp)} has a cost outside [0, 1000) bp"
            )
        return self


class PromotionConfig(Section):
    """The gate: a challenger is promoted only with a measured edge on the pooled validation bars.

    It must beat cash by the probabilistic Sharpe ratio, and buy-and-hold and the current
    champion (re-scored on the same bars) by a Sharpe-difference test on the paired returns
    (Ledoit & Wolf 2008, HAC), both deflated for the number of candidates tried (Bailey & Lopez
    de Prado 2012, 2014; see ``tradeforge/evaluation/significance.py``).
    """

    confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1,
        description="Probability (deflated PSR) with which the challenger's Sharpe must exceed each benchmark's.",
    )
    benchmark_test: Literal["difference", "psr"] = Field(
        "difference",
        description="Against a benchmark that moves (buy-and-hold, the champion): 'difference' "
        "tests the Sharpe difference on the paired returns (Ledoit-Wolf HAC); 'psr' is the "
        "test before issue 28, the challenger's PSR against the benchmark's Sharpe as if known.",
    )
    extra_trials: int = Field(
        0,
        ge=0,
        description="Candidates tried before this run (settings searched by hand), added to the deflation's count.",
    )
    sharpe_margin: float = Field(
        0.0, ge=0, description="Annualised Sharpe a challenger must add over the champion."
    )
    max_drawdown_limit: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Largest pooled validation max drawdown a champion may have (0.5 = 50%).",
    )
