"""Trading environments: market arrays, a vectorised numpy env, and the TensorTrade reference."""

from tradeforge.envs.market import MarketData

__all__ = ["MarketData"]
