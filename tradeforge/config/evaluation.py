"""Evaluation and promotion configuration."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.config._validate import require


@dataclass(frozen=True)
class EvalConfig:
    """How agents and baselines are compared on the held-out windows."""

    random_policy_seeds: int = 20
    """Seeds of the random-policy baseline (its metrics are averaged)."""
    sma_fast: int = 10
    """Fast window of the SMA-crossover baseline."""
    sma_slow: int = 50
    """Slow window of the SMA-crossover baseline."""
    bootstrap_samples: int = 2_000
    """Resamples for the across-seed confidence interval."""
    plots: bool = True
    """Write PNG equity-curve plots."""
    confidence: float = 0.95
    """Coverage of the across-seed bootstrap interval."""
    cost_sweep_bp: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0)
    """Commissions (basis points) at which the selected model is re-scored."""

    def __post_init__(self) -> None:
        require(self.random_policy_seeds >= 1, "random_policy_seeds", "< 1")
        require(0 < self.sma_fast < self.sma_slow, "sma_fast", "must be positive and < sma_slow")
        require(self.bootstrap_samples >= 100, "bootstrap_samples", "< 100")
        require(0 < self.confidence < 1, "confidence", f"{self.confidence} not in (0, 1)")
        require(len(self.cost_sweep_bp) > 0, "cost_sweep_bp", "at least one cost is required")
        require(
            all(0 <= c < 1000 for c in self.cost_sweep_bp),
            "cost_sweep_bp",
            f"{self.cost_sweep_bp} has a cost outside [0, 1000) bp",
        )


@dataclass(frozen=True)
class PromotionConfig:
    """When a challenger replaces the champion (decided on the validation window only)."""

    sharpe_margin: float = 0.0
    """The challenger's validation Sharpe must exceed the champion's by more than this."""
    max_drawdown_limit: float = 0.5
    """The challenger's validation max drawdown (a fraction, 0.5 = -50%) must stay within this."""

    def __post_init__(self) -> None:
        require(self.sharpe_margin >= 0, "sharpe_margin", f"{self.sharpe_margin} < 0")
        require(0 < self.max_drawdown_limit <= 1, "max_drawdown_limit", "not in (0, 1]")
