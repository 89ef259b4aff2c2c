"""tradeforge domain library: data, validation, features, environments, agents, evaluation.

Nothing under this package imports Prefect: orchestration lives in ``flows/`` and ``tasks/``.
"""

__version__ = "0.1.0"

#: Where models, snapshots and validation reports go when no store is named (declared once:
#: the configuration and the light CLI commands, which skip importing it, both read it here).
DEFAULT_STORE = ".tradeforge/store"
