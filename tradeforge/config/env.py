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
    clip: float = 10.0
    """Clip scaled features to [-clip, clip] (outliers off the train distribution); 0 = no clip."""

    def __post_init__(self) -> None:
        # Imported here: tradeforge.features imports pandas and the envs package.
        from tradeforge.features import parse_feature

        require(len(self.features) > 0, "features", "at least one feature is required")
        require(len(set(self.features)) == len(self.features), "features", "duplicates")
        for name in self.features:
            try:
                parse_feature(name)
            except ValueError as exc:
                raise ValueError(f"features: {exc}") from None
        require(self.clip >= 0, "clip", f"{self.clip} < 0")


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
    reward_window: int = 20
    """Returns in the rolling Sharpe of the ``risk_adjusted`` reward."""
    reward_min_window: int = 5
    """Fewer returns than this give ``risk_adjusted`` a plain return (a Sharpe of 1 return is 0/0)."""
    sharpe_floor: float = 1e-3
    """Floor on the per-step deviation in ``risk_adjusted`` / ``differential_sharpe`` rewards."""
    dsr_eta: float = 0.01
    """Adaptation rate of the differential Sharpe ratio's moving moments (Moody & Saffell 1998)."""
    reward_clip: float = 10.0
    """Clip every reward to [-reward_clip, reward_clip]; 0 = no clip."""
    turnover_penalty: float = 0.0
    """Subtracted from the reward of every step that changes the position (after the clip), in
    reward units (0.001 = 10 bp for ``simple``): discourages churn beyond the commission."""
    min_hold: int = 1
    """Bars a new position is held before it may change again; earlier changes are ignored
    (1 = trade on any bar). Applies wherever the env runs, evaluation included."""

    def __post_init__(self) -> None:
        require(1 <= self.window <= 512, "window", f"{self.window} not in [1, 512]")
        require(0 <= self.commission < 0.1, "commission", f"{self.commission} not in [0, 0.1)")
        require(0 <= self.slippage < 0.1, "slippage", f"{self.slippage} not in [0, 0.1)")
        require_choice(self.execution, "execution", EXECUTIONS)
        require_choice(self.reward, "reward", REWARDS)
        require_choice(self.action_scheme, "action_scheme", ACTION_SCHEMES)
        require(self.episode_length >= 2, "episode_length", f"{self.episode_length} < 2")
        require(self.initial_cash > 0, "initial_cash", f"{self.initial_cash} <= 0")
        require(self.reward_window >= 2, "reward_window", f"{self.reward_window} < 2")
        require(
            2 <= self.reward_min_window <= self.reward_window,
            "reward_min_window",
            f"{self.reward_min_window} not in [2, reward_window={self.reward_window}]",
        )
        require(self.sharpe_floor > 0, "sharpe_floor", f"{self.sharpe_floor} <= 0")
        require(0 < self.dsr_eta < 1, "dsr_eta", f"{self.dsr_eta} not in (0, 1)")
        require(self.reward_clip >= 0, "reward_clip", f"{self.reward_clip} < 0")
        require(
            0 <= self.turnover_penalty <= 0.1,
            "turnover_penalty",
            f"{self.turnover_penalty} not in [0, 0.1]",
        )
        require(1 <= self.min_hold <= 256, "min_hold", f"{self.min_hold} not in [1, 256]")
