"""One ticker's paper run, end to end: champion -> its source's bars -> checked -> ``step``.

``paper_ticker`` is what ``tradeforge paper`` runs (no Prefect: the bars get the contract's
error rules in pandas, as ``tradeforge predict`` does). The Prefect flow ``flows/paper.py``
ingests and validates with the full great-expectations suite itself and then calls
``record_bars`` on the validated frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeforge.paper.ledger import Ledger, LedgerRecord
from tradeforge.paper.trader import step

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from tradeforge.artifact import LoadedPolicy
    from tradeforge.data.canonical import Ingested

#: Records shown in a run's summary (the rest are in the ledger).
SUMMARY_RECORDS = 5
#: Bars before the first new bar that the contract sees again with the new ones: the context
#: its run rules need (stale runs up to ``MAX_STALE_BARS``, at most 24 bars; duplicates; gaps
#: and moves against the previous bar) and enough rows for its ``min_rows`` rule (100).
VALIDATION_LOOKBACK = 100


def trading_policy(registry: Any, ticker: str) -> tuple[LoadedPolicy, dict[str, Any] | None]:
    """The policy that trades ``ticker`` on paper, and what was refused on the way (or None).

    The champion, verified. When its files fail their checksum (``IntegrityError``: a tampered
    or damaged copy), the previous champion trades in its place if it is complete, verifies and
    was never demoted (``ModelRegistry.previous_intact``), and ``refused`` says which version
    was refused and why, for the alarm. The pointer is not moved: a mismatch may be a damaged
    copy, not a bad model, and an operator decides. Without an intact previous champion the
    ``IntegrityError`` is raised: nothing trades.
    """
    from storage.errors import IntegrityError
    from tradeforge.artifact import load_policy
    from tradeforge.inference import champion_policy

    try:
        return champion_policy(ticker, registry), None
    except IntegrityError as exc:
        refused = registry.champion(ticker)
        previous = registry.previous_intact(ticker)
        if previous is None or refused is None:
            raise
        ref, card_sha256 = previous
        policy = load_policy(
            registry, ticker, ref.agent, ref.version_id, expected_card_sha256=card_sha256
        )
        reason = (
            f"champion {refused.version_id} refused ({type(exc).__name__}: {exc}); the previous "
            f"champion {ref.version_id} trades in its place (pointer not moved)"
        )
        return policy, {
            "version_id": refused.version_id,
            "trading": ref.version_id,
            "reason": reason,
        }


def paper_champion(ticker: str, store: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """``inference.champion_info`` of the policy that trades on paper (``trading_policy``),
    with ``refused`` when a tampered champion was passed over for the previous one."""
    from tradeforge.inference import open_registry, policy_info

    policy, refused = trading_policy(open_registry(store, endpoint_url), ticker)
    return policy_info(policy) | ({"refused": refused} if refused else {})


def tickers_with_champion(store: str, endpoint_url: str | None = None) -> list[str]:
    """Every ticker of the store that has a champion, sorted."""
    from tradeforge.inference import open_registry

    registry = open_registry(store, endpoint_url)
    return [t for t in registry.tickers() if registry.champion(t) is not None]


def summary(
    ticker: str, ledger: Ledger, new: list[LedgerRecord], version_id: str, **extra: Any
) -> dict[str, Any]:
    """What a run did for one ticker, as plain JSON types; ``version_id``: the version that
    decided the last new bar (a demoted champion's successor), else ``version_id``."""
    last = new[-1] if new else ledger.last()
    return {
        "ticker": ticker,
        "version_id": new[-1].version_id if new else version_id,
        "ledger": ledger.uri,
        "recorded": len(new),
        "first_bar": str(new[0].bar_time) if new else None,
        "last_bar": None if last is None else str(last.bar_time),
        "position": None if last is None else last.position_after,
        "equity": None if last is None else last.equity,
        "records": [_brief(r) for r in new[-SUMMARY_RECORDS:]],
        **extra,
    }


def _brief(r: LedgerRecord) -> dict[str, Any]:
    return {
        "bar": str(r.bar_time),
        "action": "long" if r.action else "flat",
        "position_before": r.position_before,
        "position_after": r.position_after,
        "net_return": r.net_return,
        "equity": r.equity,
        "version_id": r.version_id,
    }


def last_recorded(ticker: str, store: str, endpoint_url: str | None = None) -> pd.Timestamp | None:
    """The bar time of the ticker's last live paper record, or None for an empty ledger."""
    from tradeforge.inference import open_registry

    last = Ledger(open_registry(store, endpoint_url).store, ticker).last()
    return None if last is None else last.bar_time


def validation_window(
    ingested: Ingested, last_bar: pd.Timestamp | None, lookback: int = VALIDATION_LOOKBACK
) -> tuple[pd.DataFrame, Ingested]:
    """Split the bars read into the history the contract already passed and what it checks now.

    The bars up to the ledger's last record were validated by the run that recorded them, so
    only the new bars and the ``lookback`` bars before the first of them go through the
    contract again (the same ``validate``; its run rules see the context they need). An empty
    ledger, or a last record the source no longer has (``step`` then refuses the lost
    history), validates everything. Returns (history kept as read, the window to validate).
    """
    import dataclasses

    frame = ingested.frame
    start = 0
    if last_bar is not None:
        at = (frame["timestamp"] == last_bar).to_numpy().nonzero()[0]
        if at.size:
            start = max(0, int(at[0]) + 1 - lookback)
    window = frame.iloc[start:].reset_index(drop=True)
    return frame.iloc[:start], dataclasses.replace(ingested, frame=window)


def record_bars(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    *,
    run_id: str,
    endpoint_url: str | None = None,
    history: pd.DataFrame | None = None,
    monitor: bool = True,
) -> dict[str, Any]:
    """Record the bars of a validated ``frame`` since the ledger's last record, the monitor
    judging after each one (``watched_step``; ``monitor=False`` when the policy trading is not
    the pointer's champion: a tampered champion's stand-in).

    ``champion`` is ``inference.champion_info``'s result; the version it names is loaded again
    and checked against the card sha256 it recorded, so a pointer moved (or a file tampered
    with) since it was read cannot slip another model in. ``history`` is the bars before
    ``frame`` that earlier runs validated (``validation_window``): features need them.
    """
    import pandas as pd

    from tradeforge.artifact import load_policy
    from tradeforge.inference import open_registry

    registry = open_registry(store, endpoint_url)
    policy = load_policy(
        registry,
        champion["ticker"],
        champion["agent"],
        champion["version_id"],
        expected_card_sha256=champion["card_sha256"],
    )
    ledger = Ledger(registry.store, policy.ticker)
    if history is not None and len(history):
        frame = pd.concat([history, frame], ignore_index=True)
    if not monitor:
        new = step(frame, policy, ledger, run_id=run_id)
        return summary(policy.ticker, ledger, new, policy.version_id)
    new, judged = watched_step(frame, policy, ledger, registry, run_id=run_id)
    return summary(policy.ticker, ledger, new, policy.version_id, **judged)


def watched_step(
    bars: pd.DataFrame | dict[str, pd.DataFrame],
    policy: LoadedPolicy,
    ledger: Ledger,
    registry: Any,
    *,
    start: str | None = None,
    run_id: str = "local",
    replay: bool = False,
    stepper: Callable[..., list[Any]] = step,
) -> tuple[list[Any], dict[str, Any]]:
    """``step`` with the monitor judging after each record (``monitor.Watch``).

    At the first bar whose verdict demotes the champion the pointer moves (a replay only
    simulates it), and the bars after it are decided by whatever the pointer then names: the
    restored previous champion, verified, takes over the paper position; with none, nothing
    more is recorded for the ticker, exactly as a later run would do. Returns the new records
    and ``monitor`` (the last verdict) and ``demotions`` (each demote verdict, with its bar).

    The same for a universe: ``stepper=portfolio.step_portfolio`` with ``bars`` its aligned
    frames, ``ledger`` a ``PortfolioLedger`` and ``registry`` the portfolio key space.
    """
    from tradeforge.artifact import load_policy
    from tradeforge.paper.monitor import Watch

    records = ledger.frame()
    # The bars about to be recorded: one bootstrap reference for all (a universe's aligned
    # frames share one calendar).
    times = (next(iter(bars.values())) if isinstance(bars, dict) else bars)["timestamp"]
    if len(records):
        upcoming = int((times > records["bar_time"].iloc[-1]).sum())
    else:
        upcoming = len(times) if start is not None else 1
    watch = Watch(
        registry, ledger.ticker, records, demote=not replay, replay=replay, upcoming=upcoming
    )
    trading: LoadedPolicy | None = policy
    seen = 0

    def successor(record: Any) -> LoadedPolicy | None:
        nonlocal trading, seen
        if record is not None:
            watch.record(record)
        if len(watch.demotions) > seen:  # demoted: whoever the pointer (or replay) names now
            seen = len(watch.demotions)
            judged = watch.judged
            trading = None
            if judged is not None:
                trading = load_policy(
                    registry,
                    ledger.ticker,
                    judged.agent,
                    judged.version_id,
                    expected_card_sha256=judged.card_sha256,
                )
        return trading

    first = successor(None)  # the record already in the ledger may demote (a crashed run)
    new = (
        []
        if first is None
        else stepper(bars, first, ledger, start=start, run_id=run_id, after=successor)
    )
    return new, {"monitor": watch.verdict, "demotions": watch.demotions}


def champion_bars(
    policy: LoadedPolicy,
    source: str | None = None,
    *,
    offline: bool = False,
    endpoint_url: str | None = None,
    snapshot_store: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """The ticker's checked bars from ``source`` (default: the card's), from the date its
    training started, at its interval; and where they were read."""
    from tradeforge.artifact import card_interval, card_start
    from tradeforge.inference import check_bars, read_latest_bars, resolve_source

    frame, read_from = read_latest_bars(
        policy.ticker,
        resolve_source(policy, source),
        start=card_start(policy.card),
        interval=card_interval(policy.card),
        offline=offline,
        endpoint_url=endpoint_url,
        snapshot_store=snapshot_store,
    )
    return check_bars(frame, policy.ticker), read_from


def paper_ticker(
    ticker: str,
    store: str,
    *,
    source: str | None = None,
    replay_from: str | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
    run_id: str = "cli",
) -> dict[str, Any]:
    """One ticker's paper run: the bars since the ledger's last record (``tradeforge paper``),
    then the monitor's verdict on the champion (which may demote it).

    The monitor judges after each record (``watched_step``): a champion demoted mid-catch-up
    decides no bar after the demoting one. With ``replay_from`` every bar from that date to the
    source's last bar is driven through the same loop into a replay ledger
    (``replay/<date>/<ticker>/``), apart from the live one; its demotions are simulated.
    """
    from tradeforge.inference import open_registry

    registry = open_registry(store, endpoint_url)
    policy, refused = trading_policy(registry, ticker)
    frame, read_from = champion_bars(
        policy, source, offline=offline, endpoint_url=endpoint_url, snapshot_store=store
    )
    if replay_from is None:
        ledger = Ledger(registry.store, ticker)
    else:
        ledger = Ledger.replay(registry.store, ticker, replay_from)
    extra: dict[str, Any] = {"read_from": read_from}
    if refused is not None:  # the pointer's champion is not the one trading: nothing to judge
        new = step(frame, policy, ledger, start=replay_from, run_id=run_id)
        extra["refused"] = refused
        extra["monitor"] = {"status": "refused", "reasons": [refused["reason"]]}
    else:  # a replay judges too, but only simulates its demotions (the pointer stays)
        new, judged = watched_step(
            frame,
            policy,
            ledger,
            registry,
            start=replay_from,
            run_id=run_id,
            replay=replay_from is not None,
        )
        extra |= judged
    return summary(ticker, ledger, new, policy.version_id, **extra)


def ledger_view(registry: Any, ticker: str, last: int = 10) -> dict[str, Any]:
    """The ticker's last ``last`` paper records and the monitor's verdict, read only (for
    ``tradeforge ledger`` and ``GET /ledger/{ticker}``); ``LookupError`` when none is recorded."""
    import pandas as pd

    from storage.registry import check_ticker
    from tradeforge.paper.monitor import monitor_champion

    frame = Ledger(registry.store, check_ticker(ticker)).frame()
    if frame.empty:
        raise LookupError(f"no paper record for {ticker} in {registry.store.uri}")
    rows = [
        {
            "bar": str(r.bar_time),
            "version_id": r.version_id,
            "action": "long" if r.action else "flat",
            "position_before": float(r.position_before),
            "position_after": float(r.position_after),
            "net_return": None if pd.isna(r.net_return) else float(r.net_return),
            "equity": float(r.equity),
        }
        for r in frame.tail(last).itertuples()
    ]
    return {
        "ticker": ticker,
        "bars": len(frame),
        "records": rows,
        "monitor": monitor_champion(registry, ticker, demote=False),
    }
