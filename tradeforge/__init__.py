"""tradeforge: reinforcement-learning trading agents trained, gated and served as a workflow.

The Python API (``import tradeforge as tf``), the same code the ``tradeforge`` command runs:

- ``tf.train(config | **sections) -> RunSummary``: the training flow, its typed summary;
- ``tf.load_champion(store, ticker) -> Policy``: ``policy.act(bars, position) -> Action``
  (``tf.load_version`` for any published version);
- ``tf.validate(frame_or_path) -> Report``: the data contract's outcome, rule by rule;
- ``tf.registry(store) -> Registry``: versions, champions and the history of decisions.

Importing ``tradeforge`` is cheap: each name is imported on first use (``__getattr__``), so
pandas, Prefect, TensorFlow and great-expectations load only when a call needs them. The
domain library below (data, validation, features, environments, agents, evaluation) never
imports Prefect: orchestration lives in ``flows/`` and ``tasks/``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Where models, snapshots and validation reports go when no store is named (declared once:
#: the configuration and the light CLI commands, which skip importing it, both read it here).
DEFAULT_STORE = ".tradeforge/store"

#: The public API: name -> module it lives in (imported when the name is first used).
API: dict[str, str] = {
    "train": "tradeforge.api",
    "load_champion": "tradeforge.api",
    "load_version": "tradeforge.api",
    "validate": "tradeforge.api",
    "registry": "tradeforge.api",
    "RunSummary": "tradeforge.api",
    "RunFailed": "tradeforge.api",
    "TickerResult": "tradeforge.api",
    "Policy": "tradeforge.api",
    "Action": "tradeforge.api",
    "Registry": "tradeforge.api",
    "Report": "tradeforge.validation.report",
    "PipelineConfig": "tradeforge.config",
}
_ALIASES = {"Report": "ValidationReport"}

__all__ = [  # noqa: RUF022 - the API's order: functions, then their types
    "DEFAULT_STORE",
    "train",
    "load_champion",
    "load_version",
    "validate",
    "registry",
    "RunSummary",
    "RunFailed",
    "TickerResult",
    "Policy",
    "Action",
    "Registry",
    "Report",
    "PipelineConfig",
]

if TYPE_CHECKING:
    from tradeforge.api import (
        Action,
        Policy,
        Registry,
        RunFailed,
        RunSummary,
        TickerResult,
        load_champion,
        load_version,
        registry,
        train,
        validate,
    )
    from tradeforge.config import PipelineConfig
    from tradeforge.validation.report import ValidationReport as Report


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562); submodules import as usual."""
    if name not in API:
        raise AttributeError(f"module 'tradeforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(API[name]), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
