"""Feature and trading-environment configuration."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.config._validate import require, require_choice

DEFAULT_FEATURES = ("logret_1", "logret_5", "vol_20", "sma_ratio_10_50", "rsi_14")
EXECUTIONS = ("next_open", "same_close")
REWARDS = ("simple", "pbr", "risk_adjusted", "differential_sharpe")
ACTION_SCHEMES = ("bsh", "managed_risk")


@dataclass(frozen=True)
class FeatureConfig:
    """Causal features computed from the canonical OHLCV frame."""

    features: tuple[str, ...] = DEFAULT_FEATURES
    """Feature names (see ``tradeforge.features`` for the catalogue)."""

    def __post_init__(self) -> None:
        require(len(self.features) > 0, "features", "at least one feature is required")
        require(len(set(self.features)) == len(self.features), "features", "duplicates")


@dataclass(frozen=True)
class EnvConfig:
    """Long/flat trading environment: what the agent sees, what a trade costs, what it earns."""

    window: int = 10
    """Bars of features in one observation (the agent's position is appended)."""
    commission: float = 0.001
    """Commission as a fraction of traded notional (0.001 = 10 bp)."""
    slippage: float = 0.0
    """Slippage as a fraction of the fill price, against the trader."""
    execution: str = "next_open"
    """``next_open``: fill at the next bar's open; ``same_close``: at this bar's close (TensorTrade parity)."""
    reward: str = "simple"
    """``simple`` | ``pbr`` | ``risk_adjusted`` | ``differential_sharpe``."""
    action_scheme: str = "bsh"
    """``bsh`` (buy/sell/hold, long or flat) | ``managed_risk`` (TensorTrade reference env only)."""
    episode_length: int = 256
    """Steps in a training episode (random start inside the training window)."""
    initial_cash: float = 10_000.0
    """Starting cash of every episode, in the quote currency."""

    def __post_init__(self) -> None:
        require(1 <= self.window <= 512, "window", f"{self.window} not in [1, 512]")
        require(0 <= self.commission < 0.1, "commission", f"{self.commission} not in [0, 0.1)")
        require(0 <= self.slippage < 0.1, "slippage", f"{self.slippage} not in [0, 0.1)")
        require_choice(self.execution, "execution", EXECUTIONS)
        require_choice(self.reward, "reward", REWARDS)
        require_choice(self.action_scheme, "action_scheme", ACTION_SCHEMES)
        require(self.episode_length >= 2, "episode_length", f"{self.episode_length} < 2")
        require(self.initial_cash > 0, "initial_cash", f"{self.initial_cash} <= 0")
