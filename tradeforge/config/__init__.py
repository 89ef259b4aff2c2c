"""Configuration: frozen dataclasses, one per concern, validated on construction."""

from tradeforge.config.agents import AGENT_KINDS, DQNConfig, ParallelConfig
from tradeforge.config.data import DEMO_SOURCE, DataConfig, SplitConfig
from tradeforge.config.env import EnvConfig, FeatureConfig
from tradeforge.config.evaluation import EvalConfig, PromotionConfig
from tradeforge.config.pipeline import DEFAULT_STORE, PipelineConfig

__all__ = [
    "AGENT_KINDS",
    "DEFAULT_STORE",
    "DEMO_SOURCE",
    "DQNConfig",
    "DataConfig",
    "EnvConfig",
    "EvalConfig",
    "FeatureConfig",
    "ParallelConfig",
    "PipelineConfig",
    "PromotionConfig",
    "SplitConfig",
]
