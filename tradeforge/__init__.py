"""tradeforge domain library: data, validation, features, environments, agents, evaluation.

Nothing under this package imports Prefect: orchestration lives in ``flows/`` and ``tasks/``.
"""

__version__ = "0.1.0"
