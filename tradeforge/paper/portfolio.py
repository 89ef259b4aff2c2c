"""Paper trading for a portfolio champion (issue 27): one ledger record per (universe, bar).

The single-ticker loop (``tradeforge.paper.trader``) with an asset axis, on the same storage:
``PortfolioLedger`` is the ticker ``Ledger`` (one immutable one-row Parquet object per bar,
put-if-absent, a retried or concurrent run of a bar is a no-op and a different decision a
``LedgerConflict``) at ``ledger/portfolio/<name>/`` (replays under
``replay/<FROM>/portfolio/<name>/``); ``pandas.read_parquet`` / DuckDB read the folder as one
dataset. For each bar after the ledger's last record, in order (``step_portfolio``):

1. the previous record's decision is settled by the backtest's own portfolio simulator
   (``tradeforge.portfolio.simulator.PortfolioAccounts``: the holdings the record started from,
   rebalanced to its target weights at the next open, commission and slippage from the card on
   every unit of turnover, valued at this bar's close) -> net return, equity, and the drifted
   weights this bar starts from (``weights_before``);
2. each asset's observation is built with the card's features, per-asset scalers and window
   and the asset's held flag carried by the ledger (whichever version decided before: a new
   champion takes over the current paper weights, never starting from cash);
3. the TensorFlow-free policy scores every asset; each asset's long/flat goes through the env's
   ``min_hold`` rule, and a held asset gets its slot (1/N or inverse volatility, as trained);
   the rest is cash (``weights_after``);
4. the record is appended before the next bar is looked at (the tickers' loop,
   ``trader.record_loop``), and with the monitor on (``watch_portfolio``: the tickers'
   ``run.watched_step`` and ``monitor.Watch``) judged at once: a demotion moves the universe's
   pointer on its bar and the restored previous champion decides the next bars from the
   current paper weights (with none, nothing more is recorded).

Replaying the champion's test window gives the evaluation's weights and net returns
(``tradeforge.portfolio.allocator.evaluate_allocator``); ``tests/paper/test_portfolio.py``
holds them to 1e-9. No Prefect here: ``flows/paper_portfolio.py`` and ``tasks/paper_portfolio.py``
wrap it; ``tradeforge paper --portfolio NAME`` runs ``paper_portfolio`` in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.paper.ledger import LIVE_ROOT, Ledger, LedgerError, RecordFields

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

    from storage.objectstore import ObjectStore
    from tradeforge.artifact import LoadedPolicy
    from tradeforge.config import EnvConfig
    from tradeforge.paper.trader import Prepared
    from tradeforge.portfolio.market import PortfolioMarket


@dataclass(frozen=True)
class PortfolioRecord(RecordFields):
    """One bar of a universe's paper trading: the champion's target weights on it, and the
    outcome of the step into it (the previous decision's fill, by the portfolio simulator).
    Per-asset fields are tuples in ``tickers`` order."""

    portfolio: str
    bar_time: pd.Timestamp
    """The decision bar's time (UTC)."""
    decided_at: pd.Timestamp
    """Wall-clock time of the decision (UTC)."""
    run_id: str
    version_id: str
    """The model version that decided."""
    agent: str
    card_sha256: str
    policy_sha256: str
    obs_sha256: str
    """sha256 of the float32 ``(N, obs_dim)`` observations the policy saw."""
    tickers: tuple[str, ...]
    q_flat: tuple[float, ...]
    q_long: tuple[float, ...]
    actions: tuple[int, ...]
    """Each asset's greedy wish (0 flat, 1 long)."""
    positions: tuple[int, ...]
    """Each asset's long/flat after this decision (``actions`` unless ``min_hold`` kept it)."""
    hold_bars: tuple[int, ...]
    """Steps each asset's position has been held (for ``min_hold``)."""
    weights_before: tuple[float, ...]
    """Holdings at this bar's close, as weights of equity (the previous target, drifted)."""
    cash_before: float
    weights_after: tuple[float, ...]
    """Target weights decided on this bar (filled at the next open)."""
    cash_after: float
    closes: tuple[float, ...]
    """Each asset's close on this bar (where equity is valued)."""
    prev_bar_time: pd.Timestamp | None
    """The previous record's bar; None on the ledger's first record."""
    turnover: float | None
    """Sum of |weight changes| of the previous decision's fill."""
    fill_prices: tuple[float, ...] | None
    """The prices the previous decision filled at (next open, or that bar's close)."""
    cost: float | None
    """Return lost to commission and slippage over the step into this bar."""
    net_return: float | None
    """Net return of the step from the previous bar's close to this bar's close."""
    equity: float
    """Paper equity at this bar's close (1.0 at the ledger's first record)."""


def _schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    floats, ints = pa.list_(pa.float64()), pa.list_(pa.int8())
    nullable = ("prev_bar_time", "turnover", "fill_prices", "cost", "net_return")
    types = {
        "portfolio": pa.string(),
        "bar_time": ts,
        "decided_at": ts,
        "run_id": pa.string(),
        "version_id": pa.string(),
        "agent": pa.string(),
        "card_sha256": pa.string(),
        "policy_sha256": pa.string(),
        "obs_sha256": pa.string(),
        "tickers": pa.list_(pa.string()),
        "q_flat": floats,
        "q_long": floats,
        "actions": ints,
        "positions": ints,
        "hold_bars": pa.list_(pa.int32()),
        "weights_before": floats,
        "cash_before": pa.float64(),
        "weights_after": floats,
        "cash_after": pa.float64(),
        "closes": floats,
        "prev_bar_time": ts,
        "turnover": pa.float64(),
        "fill_prices": floats,
        "cost": pa.float64(),
        "net_return": pa.float64(),
        "equity": pa.float64(),
    }
    assert list(types) == list(PortfolioRecord.__dataclass_fields__), "schema out of order"
    return pa.schema([pa.field(n, t, nullable=n in nullable) for n, t in types.items()])


class PortfolioLedger(Ledger):
    """A universe's ledger: the ticker ledger's storage (put-if-absent objects, one per bar)
    under ``<root>/portfolio/<name>/``, holding ``PortfolioRecord``s."""

    record_type = PortfolioRecord

    def __init__(self, store: ObjectStore, name: str, root: str = LIVE_ROOT) -> None:
        from storage.registry import PORTFOLIO_FOLDER, check_portfolio_name

        self.store = store
        self.ticker = check_portfolio_name(name)  # the key ``Ledger``'s methods check against
        self.root = root.strip("/")
        self.prefix = f"{self.root}/{PORTFOLIO_FOLDER}/{name}/"

    def schema(self) -> pa.Schema:
        """The Parquet schema of one ``PortfolioRecord``."""
        return _schema()

    def owner(self, record: Any) -> str:
        """The universe a record belongs to."""
        return record.portfolio


@dataclass(frozen=True)
class PortfolioSettlement:
    """One decision's step from its bar to the next, by the portfolio simulator."""

    turnover: float
    fill_prices: np.ndarray
    net_return: float
    cost: float
    """Gross (cost-free) return minus net return: what commission and slippage took."""
    weights: np.ndarray
    """Holdings at the next bar's close, as weights (the target, drifted by the prices)."""


def settle_portfolio(
    market: PortfolioMarket, env: EnvConfig, t: int, before: np.ndarray, target: np.ndarray
) -> PortfolioSettlement:
    """Step the backtest's portfolio simulator once from bar ``t``, holding ``before`` (weights
    at bar ``t``'s close) and rebalancing to ``target``."""
    from tradeforge.portfolio.simulator import PortfolioAccounts

    accounts, returns = [], []
    for cfg in (env, env.replace(commission=0.0, slippage=0.0)):
        acc = PortfolioAccounts(market, cfg, 1)
        acc.place(np.array([t]), before[None, :])
        start = float(acc.net_worth[0])
        _, turnover, _ = acc.step(target[None, :])
        accounts.append((acc, float(turnover[0])))
        returns.append(float(acc.net_worth[0]) / start - 1.0)
    (acc, turnover), (net, gross) = accounts[0], returns
    return PortfolioSettlement(
        turnover=turnover,
        fill_prices=acc.fill_prices(t),
        net_return=net,
        cost=gross - net,
        weights=acc.weights[0].copy(),
    )


@dataclass(frozen=True)
class _Inputs:
    """What every bar's decision reads: the universe's market, features, slots and env."""

    market: PortfolioMarket
    features: np.ndarray
    slots: np.ndarray
    env: EnvConfig


def _inputs(frames: dict[str, pd.DataFrame], policy: LoadedPolicy) -> _Inputs:
    from tradeforge.paper.trader import card_env
    from tradeforge.portfolio.allocator import context_features
    from tradeforge.portfolio.champion import allocator_market
    from tradeforge.portfolio.env import slot_weights

    card = policy.card
    market = allocator_market(frames, card)
    features, _ = context_features(market)
    slots = slot_weights(market, card["allocation"], card["vol_lookback"])
    return _Inputs(market, features, slots, card_env(card))


def decide_portfolio_bar(
    inputs: _Inputs,
    t: int,
    policy: LoadedPolicy,
    previous: PortfolioRecord | None,
    *,
    run_id: str,
    decided_at: pd.Timestamp,
) -> PortfolioRecord:
    """The record of bar ``t``: the previous decision settled, then the policy's weights."""
    from tradeforge.envs.episode import hold_rule
    from tradeforge.paper.trader import provenance
    from tradeforge.portfolio.predict import asset_observations

    market, env = inputs.market, inputs.env
    n = market.num_assets
    bar_time = pd.Timestamp(market.timestamps[t], tz="UTC")
    settled = None
    if previous is None:
        positions, held = np.zeros(n, dtype=np.int64), np.full(n, env.min_hold)
        before, equity = np.zeros(n), 1.0
    else:
        if pd.Timestamp(market.timestamps[t - 1], tz="UTC") != previous.bar_time:
            raise LedgerError(
                f"portfolio {policy.ticker}: bar {bar_time} does not follow the recorded bar "
                f"{previous.bar_time} in the universe's aligned bars"
            )
        positions, held = np.array(previous.positions), np.array(previous.hold_bars)
        settled = settle_portfolio(
            market, env, t - 1, np.array(previous.weights_before), np.array(previous.weights_after)
        )
        before, equity = settled.weights, previous.equity * (1.0 + settled.net_return)
    obs = asset_observations(policy, inputs.features, t, positions.astype(np.float32))
    q = policy.q_values(obs)
    wanted = np.argmax(q, axis=1)  # ties go to flat, as in the evaluation's greedy policy
    after = [hold_rule(int(w), int(p), int(h), env.min_hold) for w, p, h in zip(wanted, positions, held, strict=True)]  # fmt: skip
    now = np.array([p for p, _ in after])
    target = now * inputs.slots[t]
    return PortfolioRecord(
        portfolio=policy.ticker,
        bar_time=bar_time,
        decided_at=decided_at,
        run_id=run_id,
        **provenance(policy, obs),
        tickers=market.tickers,
        q_flat=tuple(float(v) for v in q[:, 0]),
        q_long=tuple(float(v) for v in q[:, 1]),
        actions=tuple(int(v) for v in wanted),
        positions=tuple(int(v) for v in now),
        hold_bars=tuple(int(h) for _, h in after),
        weights_before=tuple(float(v) for v in before),
        cash_before=float(1.0 - before.sum()),
        weights_after=tuple(float(v) for v in target),
        cash_after=float(1.0 - target.sum()),
        closes=tuple(float(v) for v in market.close[t]),
        prev_bar_time=None if previous is None else previous.bar_time,
        turnover=None if settled is None else settled.turnover,
        fill_prices=None if settled is None else tuple(float(v) for v in settled.fill_prices),
        cost=None if settled is None else settled.cost,
        net_return=None if settled is None else settled.net_return,
        equity=float(equity),
    )


def step_portfolio(
    frames: dict[str, pd.DataFrame],
    policy: LoadedPolicy,
    ledger: PortfolioLedger,
    *,
    start: str | None = None,
    run_id: str = "local",
    now: datetime | None = None,
    after: Callable[[PortfolioRecord], LoadedPolicy | None] | None = None,
) -> list[PortfolioRecord]:
    """Record every bar of the aligned ``frames`` (each asset's checked canonical history)
    after the ledger's last record; returns the new records. The first record of an empty
    ledger is the latest bar, or for a replay the first bar on or after ``start``. ``after``
    (the monitor, ``run.watched_step``) is called with each appended record and returns the
    version that decides the next bar, as in the tickers' ``trader.step``: the same, another
    that takes over the current paper weights (a demoted champion's successor), or None."""
    from tradeforge.paper.trader import record_loop

    decided_at = pd.Timestamp(now or datetime.now(UTC))

    def prepare(trading: LoadedPolicy, last: PortfolioRecord | None) -> Prepared:
        inputs = _inputs(frames, trading)  # the deciding version's features, scalers, slots
        market = inputs.market
        if last is not None and tuple(last.tickers) != market.tickers:
            raise LedgerError(
                f"portfolio {ledger.ticker}: the ledger holds {', '.join(last.tickers)}, the "
                f"champion {trading.version_id} allocates across {', '.join(market.tickers)}"
            )

        def decide(t: int, previous: PortfolioRecord | None) -> PortfolioRecord:
            return decide_portfolio_bar(
                inputs, t, trading, previous, run_id=run_id, decided_at=decided_at
            )

        # The catch-up rules are the ticker loop's (``first_bar``) on the universe's calendar.
        return replace(market.asset(0), ticker=f"portfolio {ledger.ticker}"), decide

    return record_loop(policy, ledger, prepare, start=start, after=after)


# -- one universe's run (``tradeforge paper --portfolio``; the flow's record step) -------------


def portfolio_registry_of(store: str, endpoint_url: str | None = None) -> Any:
    """The portfolio key space of the registry in ``store``."""
    from storage import open_store
    from tradeforge.portfolio.champion import portfolio_registry

    return portfolio_registry(open_store(store, endpoint_url=endpoint_url))


def portfolio_champion(name: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """The verified policy that trades the universe on paper (``run.trading_policy``: the
    champion, or the previous intact one in place of a tampered champion), as plain facts:
    ``inference.policy_info`` plus ``portfolio``, ``tickers`` and ``refused``."""
    from tradeforge.inference import policy_info
    from tradeforge.paper.run import trading_policy
    from tradeforge.portfolio.champion import card_tickers

    policy, refused = trading_policy(portfolio_registry_of(store, endpoint_url), name)
    facts = policy_info(policy) | {"portfolio": name, "tickers": list(card_tickers(policy.card))}
    return facts | ({"refused": refused} if refused else {})


def last_recorded(name: str, store: str, endpoint_url: str | None = None) -> pd.Timestamp | None:
    """The bar time of the universe's last live paper record, or None for an empty ledger."""
    last = PortfolioLedger(portfolio_registry_of(store, endpoint_url).store, name).last()
    return None if last is None else last.bar_time


def portfolio_summary(
    ledger: PortfolioLedger, new: list[PortfolioRecord], version_id: str, **extra: Any
) -> dict[str, Any]:
    """What a run did for one universe, as plain JSON types; ``version_id``: the version that
    decided the last new bar (a demoted champion's successor), else ``version_id``."""
    from tradeforge.paper.run import SUMMARY_RECORDS

    last = new[-1] if new else ledger.last()
    return {
        "portfolio": ledger.ticker,
        "version_id": new[-1].version_id if new else version_id,
        "ledger": ledger.uri,
        "recorded": len(new),
        "first_bar": str(new[0].bar_time) if new else None,
        "last_bar": None if last is None else str(last.bar_time),
        "weights": None if last is None else _weights(last.tickers, last.weights_after),
        "cash": None if last is None else last.cash_after,
        "equity": None if last is None else last.equity,
        "records": [brief(r) for r in new[-SUMMARY_RECORDS:]],
        **extra,
    }


def _weights(tickers: tuple[str, ...], weights: tuple[float, ...]) -> dict[str, float]:
    return {t: float(w) for t, w in zip(tickers, weights, strict=True)}


def brief(r: PortfolioRecord) -> dict[str, Any]:
    """A record as a run's summary and ``tradeforge ledger --portfolio`` show it."""
    return {
        "bar": str(r.bar_time),
        "version_id": r.version_id,
        "weights_before": _weights(r.tickers, r.weights_before) | {"cash": r.cash_before},
        "weights_after": _weights(r.tickers, r.weights_after) | {"cash": r.cash_after},
        "turnover": r.turnover,
        "net_return": r.net_return,
        "equity": r.equity,
    }


def record_portfolio_bars(
    frames: dict[str, pd.DataFrame],
    champion: dict[str, Any],
    store: str,
    *,
    run_id: str,
    endpoint_url: str | None = None,
    histories: dict[str, pd.DataFrame] | None = None,
    monitor: bool = True,
) -> dict[str, Any]:
    """Record the universe's bars since its ledger's last record, from each asset's validated
    frame (``histories``: the bars before it that earlier runs validated), the monitor judging
    after each one (``watch_portfolio``; ``monitor=False`` when the version trading is not the
    pointer's champion: a tampered champion's stand-in). ``champion`` is
    ``portfolio_champion``'s result; the version it names is loaded again against the card
    sha256 it recorded, so a pointer moved since cannot slip another model in."""
    from tradeforge.artifact import load_policy
    from tradeforge.portfolio.champion import card_tickers
    from tradeforge.portfolio.universe import align_universe

    registry = portfolio_registry_of(store, endpoint_url)
    policy = load_policy(
        registry,
        champion["portfolio"],
        champion["agent"],
        champion["version_id"],
        expected_card_sha256=champion["card_sha256"],
    )
    joined = {}
    for ticker in card_tickers(policy.card):
        before = (histories or {}).get(ticker)
        frame = frames[ticker]
        joined[ticker] = frame if before is None or not len(before) else pd.concat([before, frame], ignore_index=True)  # fmt: skip
    align = policy.card.get("config", {}).get("portfolio", {}).get("align", "refuse")
    aligned = dict(align_universe(joined, align=align).frames)
    ledger = PortfolioLedger(registry.store, policy.ticker)
    if not monitor:
        new = step_portfolio(aligned, policy, ledger, run_id=run_id)
        return portfolio_summary(ledger, new, policy.version_id)
    new, judged = watch_portfolio(aligned, policy, ledger, registry, run_id=run_id)
    return portfolio_summary(ledger, new, policy.version_id, **judged)


def watch_portfolio(
    frames: dict[str, pd.DataFrame],
    policy: LoadedPolicy,
    ledger: PortfolioLedger,
    registry: Any,
    *,
    start: str | None = None,
    run_id: str = "local",
    replay: bool = False,
) -> tuple[list[PortfolioRecord], dict[str, Any]]:
    """``step_portfolio`` with the monitor judging after each record: the tickers'
    ``run.watched_step`` (``monitor.Watch``) on the universe's ledger and the registry's
    portfolio key space. A demote verdict moves the pointer on its bar (a replay only
    simulates it); the restored previous champion decides the bars after it from the current
    paper weights, or with none nothing more is recorded. Returns the new records, ``monitor``
    (the last verdict) and ``demotions`` (each with its bar), naming the ``portfolio``."""
    from tradeforge.paper.run import watched_step

    new, judged = watched_step(
        frames, policy, ledger, registry, start=start, run_id=run_id, replay=replay,
        stepper=step_portfolio,
    )  # fmt: skip
    name = ledger.ticker
    return new, {
        "monitor": portfolio_verdict(name, judged["monitor"]),
        "demotions": [portfolio_verdict(name, d) for d in judged["demotions"]],
    }


def portfolio_verdict(name: str, verdict: dict[str, Any]) -> dict[str, Any]:
    """A monitor verdict about a universe: ``portfolio`` where the tickers' say ``ticker``."""
    return {"portfolio": name} | {k: v for k, v in verdict.items() if k != "ticker"}


def monitor_portfolio(name: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """The paper monitor's verdict on the universe's champion (``monitor_champion``, unchanged
    rules, on the universe's net returns against its card's pooled validation returns), read
    only: judging that can demote happens after each record (``watch_portfolio``)."""
    from tradeforge.paper.monitor import monitor_champion

    registry = portfolio_registry_of(store, endpoint_url)
    verdict = monitor_champion(
        registry, name, demote=False, ledger=PortfolioLedger(registry.store, name)
    )
    return portfolio_verdict(name, verdict)


def portfolio_cone(
    name: str, store: str, agent: str, version_id: str, endpoint_url: str | None = None
) -> bytes | None:
    """The cone PNG of ``version_id``'s live record in the universe's ledger (the tickers'
    ``paper.plots.cone_png``); None when its card has no validation returns or it has no live
    bars yet."""
    from tradeforge.paper.monitor import live_returns, validation_returns
    from tradeforge.paper.plots import cone_png

    registry = portfolio_registry_of(store, endpoint_url)
    validation = validation_returns(registry.card(name, agent, version_id))
    live = live_returns(PortfolioLedger(registry.store, name).frame(), version_id)
    if validation is None or not len(live):
        return None
    return cone_png(validation, live, title=f"portfolio {name} {version_id}: paper vs validation")


def paper_portfolio(
    name: str,
    store: str,
    *,
    source: str | None = None,
    replay_from: str | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
    run_id: str = "cli",
) -> dict[str, Any]:
    """One universe's paper run without Prefect (``tradeforge paper --portfolio NAME``): every
    asset's bars from the card's source (or ``source``) since its training start, checked by
    the contract's error rules (a bad bar in any asset stops the universe before anything is
    recorded, naming the asset and the rule), aligned, recorded with the monitor judging after
    each record (``watch_portfolio``: a champion demoted mid-catch-up decides no bar after the
    demoting one).

    With ``replay_from`` every bar from that date is driven through the same loop into a replay
    ledger (``replay/<date>/portfolio/<name>/``); its demotions are simulated."""
    from tradeforge.artifact import card_start
    from tradeforge.inference import resolve_source
    from tradeforge.paper.run import trading_policy
    from tradeforge.portfolio.predict import latest_frames

    registry = portfolio_registry_of(store, endpoint_url)
    policy, refused = trading_policy(registry, name)
    frames = latest_frames(
        policy, source, start=card_start(policy.card), offline=offline,
        endpoint_url=endpoint_url, snapshot_store=store,
    )  # fmt: skip
    if replay_from is None:
        ledger = PortfolioLedger(registry.store, name)
    else:
        ledger = PortfolioLedger.replay(registry.store, name, replay_from)
    extra: dict[str, Any] = {"read_from": resolve_source(policy, source)}
    if refused is not None:  # the pointer's champion is not the one trading: nothing to judge
        new = step_portfolio(frames, policy, ledger, start=replay_from, run_id=run_id)
        extra["refused"] = refused
        extra["monitor"] = {"status": "refused", "reasons": [refused["reason"]]}
    else:  # a replay judges too, but only simulates its demotions (the pointer stays)
        new, judged = watch_portfolio(
            frames, policy, ledger, registry, start=replay_from, run_id=run_id,
            replay=replay_from is not None,
        )  # fmt: skip
        extra |= judged
    return portfolio_summary(ledger, new, policy.version_id, **extra)


def portfolio_ledger_view(name: str, store: str, endpoint_url: str | None = None, last: int = 10) -> dict[str, Any]:  # fmt: skip
    """The universe's last ``last`` paper records and the monitor's verdict, read only (for
    ``tradeforge ledger --portfolio``); ``LookupError`` when nothing is recorded."""
    from storage.registry import check_portfolio_name

    registry = portfolio_registry_of(store, endpoint_url)
    records = PortfolioLedger(registry.store, check_portfolio_name(name)).records()
    if not records:
        raise LookupError(f"no paper record for portfolio {name} in {registry.store.uri}")
    return {
        "portfolio": name,
        "bars": len(records),
        "records": [brief(r) for r in records[-last:]],
        "monitor": monitor_portfolio(name, store, endpoint_url),
    }
