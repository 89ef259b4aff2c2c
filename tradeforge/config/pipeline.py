"""The whole pipeline's configuration: one frozen section per concern, composed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from tradeforge import DEFAULT_STORE
from tradeforge.config._base import OptionalText, Section
from tradeforge.config.agents import AGENT_KINDS, AgentKind, DQNConfig, ParallelConfig
from tradeforge.config.data import DataConfig, SplitConfig
from tradeforge.config.env import EnvConfig, FeatureConfig, Reward
from tradeforge.config.evaluation import EvalConfig, PromotionConfig
from tradeforge.config.portfolio import PortfolioConfig
from tradeforge.config.validation import ValidationConfig

if TYPE_CHECKING:
    from storage import StoreRef


class RunConfig(Section):
    """What is trained and where models go: one agent per (ticker, agent kind, seed)."""

    agents: tuple[AgentKind, ...] = Field(
        AGENT_KINDS, min_length=1, description="Agent kinds to train and compare."
    )
    seeds: tuple[int, ...] = Field(
        (0, 1, 2),
        min_length=1,
        description="One agent per seed; with 2+ seeds each agent kind's seed ensemble is a candidate too.",
    )
    rewards: tuple[Reward, ...] = Field(
        (),
        description="Reward schemes to train and compare side by side (each a candidate); empty = env.reward.",
    )
    store: str = Field(
        DEFAULT_STORE,
        min_length=1,
        description="Model store: a local directory or s3://bucket/prefix.",
    )
    work_dir: str = Field(
        ".tradeforge/runs",
        min_length=1,
        description="Local folder of each run's checkpoints (a rerun of the same flow run resumes from them) and TensorBoard logs: <work_dir>/<run id>/.",
    )
    resume: OptionalText = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Run id of an interrupted run to resume: its trainings restart from their checkpoints in <work_dir>/<run id>/ (Ctrl-C prints it).",
    )

    tickers_in_flight: int = Field(
        8,
        ge=1,
        le=10_000,
        description="Tickers whose tasks are submitted at once (all their trainings run in parallel on the task runner); bounds the prepared frames the flow holds.",
    )

    @field_validator("agents", "seeds", "rewards")
    @classmethod
    def _unique(cls, values: tuple) -> tuple:
        if len(set(values)) != len(values):
            raise ValueError(f"{list(values)} has duplicates")
        return values


class PipelineConfig(Section):
    """Everything one training run needs, one section per concern."""

    data: DataConfig = Field(default_factory=DataConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    env: EnvConfig = Field(default_factory=EnvConfig)
    dqn: DQNConfig = Field(default_factory=DQNConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)

    @property
    def rewards(self) -> tuple[str, ...]:
        """The reward schemes trained: ``run.rewards``, or the environment's own."""
        return self.run.rewards or (self.env.reward,)

    def store_ref(self) -> StoreRef:
        """The run's model store (with the S3 endpoint the data section names)."""
        from storage import StoreRef

        return StoreRef(self.run.store, self.data.s3_endpoint_url)


#: The sections in the order the CLI and the UI show them, with their headings.
SECTIONS: dict[str, str] = {
    "run": "Run: what is trained and where it goes",
    "data": "Data: instruments, source, dates",
    "validation": "Validation: the data contract",
    "split": "Split: train / validation / test windows",
    "features": "Features",
    "env": "Trading environment: costs, execution, reward",
    "dqn": "DQN agent",
    "parallel": "ParallelDQN",
    "evaluation": "Evaluation",
    "promotion": "Promotion gate",
}

#: The sections ``tradeforge train`` takes options for: the single-ticker pipeline's, and the
#: portfolio's (issue 27; its own flow, flows/portfolio.py, takes it as a parameter).
CLI_SECTIONS: dict[str, str] = {
    **SECTIONS,
    "portfolio": "Portfolio: a universe of tickers allocated together",
}
