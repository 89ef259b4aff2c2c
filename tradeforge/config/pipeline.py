"""The whole pipeline's configuration: one frozen dataclass per concern, composed."""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeforge.config._validate import require
from tradeforge.config.agents import AGENT_KINDS, DQNConfig, ParallelConfig, check_agent_kinds
from tradeforge.config.data import DataConfig, SplitConfig
from tradeforge.config.env import EnvConfig, FeatureConfig
from tradeforge.config.evaluation import EvalConfig, PromotionConfig

DEFAULT_STORE = ".tradeforge/store"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one training run needs; build variants with ``dataclasses.replace``."""

    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    agents: tuple[str, ...] = AGENT_KINDS
    """Agent kinds to train: ``dqn`` and/or ``parallel_dqn`` (both by default, compared)."""
    seeds: tuple[int, ...] = (0,)
    """One agent is trained per (ticker, agent kind, seed)."""
    store: str = DEFAULT_STORE
    """Model store: a local directory or ``s3://bucket/prefix``."""

    def __post_init__(self) -> None:
        check_agent_kinds(self.agents)
        require(len(self.seeds) > 0, "seeds", "at least one seed is required")
        require(len(set(self.seeds)) == len(self.seeds), "seeds", f"{self.seeds} has duplicates")
        require(bool(self.store), "store", "must not be empty")
