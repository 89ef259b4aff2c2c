"""Paper trading: the champion decides on each new bar, the ledger records it (no Prefect here).

``step(frame, policy, ledger)`` is the one loop every caller drives: the daily flow, ``tradeforge
paper`` and ``tradeforge paper --replay``. For each bar after the ledger's last record, in
order (a worker that was down for days catches up; exchange holidays have no bar, so no
record), it

1. settles the previous record's decision with the backtest's own simulator
   (``tradeforge.envs.simulator.Accounts``: fill at the next open or that bar's close,
   commission and slippage from the champion's card) -> the step's net return and the equity;
2. builds the bar's observation with the card's features, scaler and window, holding the
   position the ledger carries (whichever version decided before: a new champion takes over
   the paper position, so its first trade is a real change of position, never a phantom one);
3. asks the TensorFlow-free policy for its Q-values and takes the greedy action (the env's
   ``min_hold`` rule applies, as in the evaluation);
4. appends the record (put-if-absent) before looking at the next bar, so a crash leaves the
   ledger whole and the next run continues from its last record.

The first record of an empty ledger is the latest bar (or, for a replay, the first bar on or
after ``start``), held flat with equity 1.0. Replaying from the champion's test start gives,
bar by bar, the evaluation's positions and net returns (``tests/paper`` holds them to 1e-9).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.paper.ledger import Ledger, LedgerError, LedgerRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeforge.artifact import LoadedPolicy
    from tradeforge.config import EnvConfig
    from tradeforge.envs.market import MarketData

    #: What ``record_loop`` needs from a deciding policy: a market whose timestamps are the
    #: bars to record (``first_bar`` finds where to start; ``end`` is one past the last), and
    #: the decision of bar ``t`` given the previous record (a ticker's or a universe's).
    Prepared = tuple[MarketData, Callable[[int, Any], Any]]


def card_env(card: dict) -> EnvConfig:
    """The trading env a version was trained and evaluated with (its card's ``config.env``,
    the defaults where a card does not record it), with the card's window."""
    from tradeforge.artifact import card_window
    from tradeforge.config import EnvConfig

    recorded = card.get("config", {}).get("env", {})
    return EnvConfig.model_validate(recorded).replace(window=card_window(card))


def paper_market(frame: pd.DataFrame, policy: LoadedPolicy) -> MarketData:
    """Every bar of ``frame`` with the policy's own features and train-only scaler."""
    from tradeforge.artifact import card_scaler
    from tradeforge.config import FeatureConfig
    from tradeforge.features import market_for_inference

    features = FeatureConfig(features=policy.features)
    return market_for_inference(frame, features, card_scaler(policy.card), policy.window)


@dataclass(frozen=True)
class Settlement:
    """The outcome of one decision over the step from its bar to the next."""

    traded: bool
    fill_price: float
    net_return: float
    cost: float
    """Gross (cost-free) return minus net return: what commission and slippage took."""


def settle(market: MarketData, env: EnvConfig, t: int, position: int, action: int) -> Settlement:
    """Step the backtest's simulator once from bar ``t`` holding ``position`` with ``action``.

    ``Accounts.place`` values the account at 1 on bar ``t``, so the new net worth minus 1 is
    the step's return exactly as the evaluation's episode earns it on that bar.
    """
    from tradeforge.envs.simulator import Accounts

    returns = []
    for cfg in (env, env.replace(commission=0.0, slippage=0.0)):
        accounts = Accounts(market, cfg, 1)
        accounts.place(np.array([t]), np.array([position]))
        accounts.step(np.array([action]))
        returns.append(float(accounts.net_worth[0]) - 1.0)
    net, gross = returns
    price = float(Accounts(market, env, 1).fill_price(t))
    return Settlement(traded=action != position, fill_price=price, net_return=net, cost=gross - net)


def _policy_sha256(policy: LoadedPolicy) -> str:
    return str(policy.card.get("files", {}).get(policy.loaded_from, {}).get("sha256", ""))


def provenance(policy: LoadedPolicy, obs: np.ndarray) -> dict[str, str]:
    """What a record says about who decided and on what: the version, its agent, the sha256s
    verified before acting, and the sha256 of the observation the policy saw (a ticker's
    record, and a portfolio's: ``tradeforge.paper.portfolio``)."""
    return {
        "version_id": policy.version_id,
        "agent": policy.agent,
        "card_sha256": policy.card_sha256,
        "policy_sha256": _policy_sha256(policy),
        "obs_sha256": hashlib.sha256(obs.tobytes()).hexdigest(),
    }


def decide_bar(
    market: MarketData,
    t: int,
    policy: LoadedPolicy,
    env: EnvConfig,
    previous: LedgerRecord | None,
    *,
    run_id: str,
    decided_at: pd.Timestamp,
) -> LedgerRecord:
    """The record of bar ``t``: the previous decision settled, then the policy's decision."""
    from tradeforge.envs.episode import hold_rule
    from tradeforge.envs.observation import observations_at

    bar_time = pd.Timestamp(market.timestamps[t], tz="UTC")
    if previous is None:
        position, held, equity = 0, env.min_hold, 1.0
        settled = None
    else:
        prev_t = t - 1
        if pd.Timestamp(market.timestamps[prev_t], tz="UTC") != previous.bar_time:
            raise LedgerError(
                f"{market.ticker}: bar {bar_time} does not follow the recorded bar "
                f"{previous.bar_time} in the source's bars"
            )
        position, held = int(previous.position_after), int(previous.hold_bars)
        settled = settle(market, env, prev_t, int(previous.position_before), position)
        equity = previous.equity * (1.0 + settled.net_return)
    obs = observations_at(market.features, policy.window, np.array([t]), np.array([position]))
    q = policy.q_values(obs)[0]
    wanted = int(np.argmax(q))  # ties go to flat, as in the evaluation's greedy policy
    after, held_after = hold_rule(wanted, position, held, env.min_hold)
    return LedgerRecord(
        ticker=market.ticker or policy.ticker,
        bar_time=bar_time,
        decided_at=decided_at,
        run_id=run_id,
        **provenance(policy, obs),
        q_flat=float(q[0]),
        q_long=float(q[1]),
        action=wanted,
        position_before=float(position),
        position_after=float(after),
        hold_bars=held_after,
        close=float(market.close[t]),
        prev_bar_time=None if previous is None else previous.bar_time,
        traded=False if settled is None else settled.traded,
        fill_price=None if settled is None else settled.fill_price,
        cost=None if settled is None else settled.cost,
        net_return=None if settled is None else settled.net_return,
        equity=float(equity),
    )


def first_bar(market: MarketData, last: LedgerRecord | None, start: str | None) -> int:
    """Index of the first bar to record: after the ledger's last record; for an empty ledger,
    the first bar on or after ``start`` (a replay) or else the latest bar."""
    times = market.timestamps
    if last is not None:
        at = np.flatnonzero(times == np.datetime64(last.bar_time.tz_convert(None)))
        if at.size == 0:
            raise LedgerError(
                f"{market.ticker}: the ledger's last bar {last.bar_time} is not among the "
                f"source's bars ({market.date(0)} .. {market.date(len(times) - 1)}); the "
                "source lost or changed its history"
            )
        return int(at[0]) + 1
    if start is None:
        return market.end - 1
    when = pd.Timestamp(start)
    when = when.tz_convert(None) if when.tzinfo is not None else when
    index = int(np.searchsorted(times, np.datetime64(when)))
    if index >= len(times):
        raise LedgerError(
            f"{market.ticker}: no bar on or after {start} (the source ends {market.date(len(times) - 1)})"
        )
    if index < market.start:
        raise LedgerError(
            f"{market.ticker}: {start} is before the first bar with a full look-back "
            f"({market.date(market.start)}): replay from that date or later"
        )
    return index


def step(
    frame: pd.DataFrame,
    policy: LoadedPolicy,
    ledger: Ledger,
    *,
    start: str | None = None,
    run_id: str = "local",
    now: datetime | None = None,
    after: Callable[[LedgerRecord], LoadedPolicy | None] | None = None,
) -> list[LedgerRecord]:
    """Record every bar of ``frame`` after the ledger's last record; returns the new records.

    ``frame`` is a checked canonical frame of the ticker's whole history (features need the
    same look-back the champion was trained with). Records already written by a concurrent run
    of the same bars are not written again (``Ledger.append``); a different decision already
    recorded raises ``LedgerConflict``. ``after`` (the monitor, ``run.watched_step``) is called
    with each appended record and returns the policy that decides the next bar: the same one,
    another that takes over the paper position from there (a demoted champion's successor), or
    None to record nothing more.
    """
    decided_at = pd.Timestamp(now or datetime.now(UTC))

    def prepare(trading: LoadedPolicy, last: LedgerRecord | None) -> Prepared:
        market = paper_market(frame, trading)  # the deciding policy's features and scaler
        if market.ticker and market.ticker != ledger.ticker:
            raise LedgerError(
                f"paper: bars are for {market.ticker}, the ledger for {ledger.ticker}"
            )
        env = card_env(trading.card)

        def decide(t: int, previous: LedgerRecord | None) -> LedgerRecord:
            return decide_bar(
                market, t, trading, env, previous, run_id=run_id, decided_at=decided_at
            )

        return market, decide

    return record_loop(policy, ledger, prepare, start=start, after=after)


def record_loop(
    policy: LoadedPolicy | None,
    ledger: Ledger,
    prepare: Callable[[LoadedPolicy, Any], Prepared],
    *,
    start: str | None = None,
    after: Callable[[Any], LoadedPolicy | None] | None = None,
) -> list[Any]:
    """The loop every paper record is written by (a ticker's ``step``, a universe's
    ``portfolio.step_portfolio``): for each bar after the ledger's last record, in order, the
    decision is appended before the next bar is looked at; ``after(record)`` names the policy
    for the next bar, and a different one is ``prepare``d (its own features and card) and goes
    on from the record just written (it takes over the paper position), None stops."""
    last = ledger.last()
    new: list[Any] = []
    while policy is not None:
        market, decide = prepare(policy, last)
        trading = policy
        for t in range(first_bar(market, last, start), market.end):
            record = decide(t, last)
            ledger.append(record)
            new.append(record)
            last = record
            if after is not None and (policy := after(record)) is not trading:
                break  # the next bar is decided by the successor (its features, its card)
        else:
            break
    return new
