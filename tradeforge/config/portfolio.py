"""Portfolio configuration: a universe of tickers traded together, and how it is aligned."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from storage.registry import PORTFOLIO_NAME_MAX, check_portfolio_name
from tradeforge.config._base import OptionalText, Section
from tradeforge.config.data import check_symbols

Align = Literal["refuse", "exchange_sessions"]
ALIGNS: tuple[str, ...] = ("refuse", "exchange_sessions")
Allocation = Literal["equal", "inverse_vol"]
ALLOCATIONS: tuple[str, ...] = ("equal", "inverse_vol")


class PortfolioConfig(Section):
    """A universe of N tickers and cash, allocated by one agent (issue 27); empty = no portfolio.

    Every ticker is ingested and validated with the single-ticker contract, then the universe is
    aligned on one calendar: a bar is kept when every asset has it (bars missing in some asset
    are reported). The universe is fixed at the first training date: a ticker without a bar
    there is refused, so no asset enters the universe by having survived until today.
    """

    tickers: tuple[str, ...] = Field(
        (),
        description="The universe, e.g. AAPL,AMZN,MSFT (2 or more, each once); empty = train single tickers (--tickers).",
    )
    name: OptionalText = Field(
        None,
        max_length=PORTFOLIO_NAME_MAX,
        description="Name the universe's champion is registered under (letters, digits and .-_=^); empty = the tickers joined by '-'.",
    )
    align: Align = Field(
        "refuse",
        description="A 24/7 crypto asset beside exchange-traded ones: refuse | exchange_sessions (keep only the exchange's sessions, crypto bars on other days dropped).",
    )
    allocation: Allocation = Field(
        "equal",
        description="How capital is split among the assets held: equal | inverse_vol (by each one's inverse volatility over vol_lookback bars).",
    )
    vol_lookback: int = Field(
        20, ge=2, le=512, description="Bars of daily returns in inverse_vol's volatility."
    )
    momentum_lookback: int = Field(
        60,
        ge=1,
        le=512,
        description="Bars of past return that rank assets in the cross-sectional momentum baseline.",
    )
    momentum_top_k: int = Field(
        3, ge=1, description="Assets the momentum baseline holds (equal weights), the best-ranked."
    )

    @field_validator("tickers")
    @classmethod
    def _universe(cls, tickers: tuple[str, ...]) -> tuple[str, ...]:
        check_symbols(tickers)
        upper = [t.upper() for t in tickers]
        twice = sorted({t for t in upper if upper.count(t) > 1})
        if twice:
            raise ValueError(f"{list(tickers)} names {', '.join(twice)} twice")
        if len(tickers) == 1:
            raise ValueError(
                f"{list(tickers)} is a universe of one ticker: a portfolio allocates across "
                "2 or more (train one ticker with --tickers)"
            )
        return tickers

    @model_validator(mode="after")
    def _registry_name(self) -> PortfolioConfig:
        # The registry's rule (storage.registry.check_portfolio_name), checked here so a name it
        # would refuse, given or made from the tickers, fails before anything is trained.
        if self.tickers or self.name:
            check_portfolio_name(self.universe_name)
        return self

    @property
    def enabled(self) -> bool:
        """True when a universe is given (the run trains a portfolio)."""
        return bool(self.tickers)

    @property
    def universe_name(self) -> str:
        """The registry name of the universe: ``name``, or the tickers joined by ``-``."""
        return self.name or "-".join(self.tickers)
