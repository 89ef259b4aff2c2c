"""Portfolios (issue 27): a universe of tickers on one calendar, the vectorised portfolio
environment over it, its allocator agents and baselines. No Prefect here."""

from tradeforge.portfolio.universe import Universe, UniverseError, align_universe

__all__ = ["Universe", "UniverseError", "align_universe"]
