"""Configuration: frozen pydantic models, one per concern, each field declared once.

Importing this package is cheap (pydantic only): the CLI's ``--help`` is built from it.
"""

from tradeforge.config._base import Section, first_error
from tradeforge.config.agents import AGENT_KINDS, DQNConfig, ParallelConfig
from tradeforge.config.data import DEMO_SOURCE, DataConfig, SplitConfig
from tradeforge.config.env import EnvConfig, FeatureConfig
from tradeforge.config.evaluation import EvalConfig, PromotionConfig
from tradeforge.config.pipeline import (
    CLI_SECTIONS,
    DEFAULT_STORE,
    SECTIONS,
    PipelineConfig,
    RunConfig,
)
from tradeforge.config.portfolio import PortfolioConfig
from tradeforge.config.validation import ValidationConfig

__all__ = [
    "AGENT_KINDS",
    "CLI_SECTIONS",
    "DEFAULT_STORE",
    "DEMO_SOURCE",
    "SECTIONS",
    "DQNConfig",
    "DataConfig",
    "EnvConfig",
    "EvalConfig",
    "FeatureConfig",
    "ParallelConfig",
    "PipelineConfig",
    "PortfolioConfig",
    "PromotionConfig",
    "RunConfig",
    "Section",
    "SplitConfig",
    "ValidationConfig",
    "first_error",
]
