"""Acting on the latest bar with the champion (no Prefect here; see flows/predict.py).

One core, used by every caller: ``act_on_latest(policy, frame, position)``.

- ``predict(...)`` is what ``tradeforge predict`` runs: load the verified champion's
  TensorFlow-free policy, read the latest bars from the source recorded in its model card (or
  the one given), check them, act. No Prefect, no TensorFlow, no great-expectations.
- ``predict_latest(frame, champion, ...)`` is what the Prefect predict flow's task runs, on bars
  the flow ingested and validated with the full great-expectations suite.
- ``tradeforge.serving`` keeps policies in memory and calls ``latest_bar`` / ``act``.

Files are verified against their sha256 (and the card against the champion pointer) before
anything is parsed; features are built with the model card's own feature list and scaler,
never refitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeforge.artifact import (
    LoadedPolicy,
    card_features,
    card_interval,
    card_scaler,
    card_source,
    card_start,
    card_window,
    load_champion_policy,
    load_policy,
)

if TYPE_CHECKING:
    import pandas as pd

    from storage.registry import ModelRegistry
    from tradeforge.config.data import DataConfig

ACTIONS = {0: "flat", 1: "long"}
POSITIONS = {"flat": 0.0, "long": 1.0}
#: What a caller is assumed to hold when it does not say.
DEFAULT_POSITION = "flat"


class NoChampionError(LookupError):
    """The store holds no champion for the ticker."""


class BarsError(ValueError):
    """The bars to act on are unusable; the message names the row and the rule."""


def open_registry(store: str, endpoint_url: str | None = None) -> ModelRegistry:
    """The model registry of a store (local directory or ``s3://bucket/prefix``)."""
    from storage import StoreRef

    return StoreRef(store, endpoint_url).registry()


def parse_position(position: str | float) -> float:
    """``flat`` / ``long`` (or 0 / 1) -> the observation's position value."""
    if isinstance(position, str):
        if position.lower() not in POSITIONS:
            raise ValueError(f"position {position!r}: use 'flat' or 'long'")
        return POSITIONS[position.lower()]
    if float(position) not in (0.0, 1.0):
        raise ValueError(f"position {position!r}: use 0 (flat) or 1 (long)")
    return float(position)


def champion_policy(
    ticker: str, registry: ModelRegistry, *, allow_keras: bool = True
) -> LoadedPolicy:
    """The ticker's verified champion policy; ``NoChampionError`` says how to get one."""
    policy = load_champion_policy(registry, ticker, allow_keras=allow_keras)
    if policy is None:
        demoted = registry.demotion(ticker)
        if demoted is not None:
            raise NoChampionError(
                f"no champion for {ticker} in {registry.store.uri}: {demoted['demoted']} was "
                f"{demoted['reason']} (at {demoted['demoted_at']}); train and promote a new one"
            )
        how = (
            f"--tickers {ticker}"
            if registry.space.label == "ticker"
            else f"--portfolio A,B,... --portfolio.name {ticker}"
        )
        raise NoChampionError(
            f"no champion for {ticker} in {registry.store.uri}: train and promote one first "
            f"(tradeforge train {how} --store {registry.store.uri})"
        )
    return policy


def champion_info(ticker: str, store: str, *, endpoint_url: str | None = None) -> dict[str, Any]:
    """The ticker's champion, its card and policy files verified: version, agent, source, ..."""
    return policy_info(champion_policy(ticker, open_registry(store, endpoint_url)))


def policy_info(policy: LoadedPolicy) -> dict[str, Any]:
    """A verified policy's plain facts as ``champion_info`` returns them."""
    return {
        **policy.describe(),
        "metrics": policy.card.get("metrics", {}),
        "data_boundaries": policy.card.get("data", {}).get("boundaries"),
        "data_start": card_start(policy.card),
    }


def champion_data(
    ticker: str,
    champion: dict[str, Any],
    source: str | None = None,
    *,
    offline: bool = False,
    endpoint_url: str | None = None,
) -> DataConfig:
    """The data section that reads ``ticker``'s bars for a champion (``policy_info``'s facts):
    ``source`` or the card's (the demo data when neither is known), from its training's start,
    at its interval. The paper flow ingests a ticker's, or each asset of a universe's, with it."""
    from tradeforge.config import DEMO_SOURCE
    from tradeforge.config.data import DataConfig

    return DataConfig(
        tickers=(ticker,),
        source=source or champion["source"] or DEMO_SOURCE,
        start=champion["data_start"],
        interval=champion["interval"],
        offline=offline,
        s3_endpoint_url=endpoint_url,
    )


# -- bars -------------------------------------------------------------------------------------


def check_bars(frame: pd.DataFrame, ticker: str, interval: str = "1d") -> pd.DataFrame:
    """The data contract's error rules on a canonical frame, in plain pandas (milliseconds).

    Raises ``BarsError`` naming the first offending row and the rule: missing columns, nulls,
    non-finite or implausible values, timestamps not strictly increasing, stock bars on a day
    the exchange was closed, prices <= 0, high/low inconsistent with open/close, negative
    volume. The per-row rules are the great-expectations suite's own functions
    (``tradeforge.validation.derived``), so a bar refused by ``tradeforge validate`` is refused
    here too. Drops what the full suite drops (pre-listing placeholder bars, stale-feed runs).
    The suite (``tradeforge validate``, the Prefect flow) checks more (gaps, moves, splits).
    """
    from tradeforge.data.canonical import COLUMNS
    from tradeforge.validation.derived import (
        STALE_RUN,
        asset_class_of,
        implausible,
        off_calendar,
        pre_listing,
        stale_runs,
        value_problem,
    )

    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BarsError(f"{ticker} bars: columns {missing} are missing")
    if frame.empty:
        raise BarsError(f"{ticker} bars: no bars")
    tickers = set(frame["ticker"].dropna().unique())
    if tickers and tickers != {ticker}:
        raise BarsError(f"{ticker} bars: they are for {sorted(tickers)}, not {ticker}")
    frame = frame.reset_index(drop=True)
    nulls = frame[list(COLUMNS[1:])].isna().any(axis=1).to_numpy()
    _fail_at(frame, nulls, ticker, "a value is missing")
    odd = implausible(frame).to_numpy() > 0
    if odd.any():
        _fail_at(frame, odd, ticker, f"plausible_values: {value_problem(frame.iloc[odd.argmax()])}")
    ts = frame["timestamp"].to_numpy()
    _fail_at(frame, np.r_[False, ts[1:] <= ts[:-1]], ticker, "timestamp not after the previous")
    closed = off_calendar(frame["timestamp"], asset_class_of(ticker), interval).to_numpy() > 0
    _fail_at(frame, closed, ticker, "off_calendar: the exchange held no session that day")
    o, h, low, c, v = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    _fail_at(frame, (np.c_[o, h, low, c] <= 0).any(axis=1), ticker, "a price is not > 0")
    _fail_at(frame, h < np.maximum(o, c), ticker, "high < max(open, close)")
    _fail_at(frame, low > np.minimum(o, c), ticker, "low > min(open, close)")
    _fail_at(frame, v < 0, ticker, "volume < 0")
    drop = pre_listing(frame).to_numpy() | (stale_runs(frame).to_numpy() >= STALE_RUN)
    return frame[~drop].reset_index(drop=True) if drop.any() else frame


def _fail_at(frame: pd.DataFrame, bad: np.ndarray, ticker: str, rule: str) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        row = frame.iloc[i]
        values = ", ".join(f"{k} {row[k]:.10g}" for k in ("open", "high", "low", "close", "volume"))
        raise BarsError(
            f"{ticker} bars row {i} ({row['timestamp']}): {rule} ({values}); "
            f"{int(bad.sum())} bad row(s)"
        )


#: The fields of one bar given as a record (a JSON body's ``bars``).
BAR_FIELDS = ("timestamp", "open", "high", "low", "close", "volume")


def bars_frame(bars: list[dict[str, Any]], ticker: str, interval: str = "1d") -> pd.DataFrame:
    """A canonical frame from bars given as records (timestamp, open, high, low, close,
    volume), read by the very rules a file's rows are (``tradeforge.data``): one time zone,
    the interval asked for, daily bars dated by their calendar day. Errors name ``bars[i]``."""
    import pandas as pd

    from tradeforge.data import DataError
    from tradeforge.data.formats import read_records
    from tradeforge.data.sources import canonical_bars

    if not bars:
        raise BarsError(f"{ticker} bars: the list is empty")
    raw = pd.DataFrame(bars)
    missing = [c for c in BAR_FIELDS if c not in raw]
    if missing:
        raise BarsError(f"{ticker} bars: fields {missing} are missing")
    try:
        parsed = read_records(raw[list(BAR_FIELDS)], "bars")
        return canonical_bars(parsed, ticker, interval, "bars", "bars")[0]
    except (DataError, ValueError, TypeError) as exc:
        raise BarsError(f"{ticker} bars: {exc}") from None


def read_latest_bars(
    ticker: str,
    source: str,
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    offline: bool = False,
    endpoint_url: str | None = None,
    snapshot_store: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """Ingest ``ticker``'s bars from ``source``; returns the canonical frame and where it was read.

    ``snapshot_store`` keeps Yahoo responses as snapshots (and serves ``offline`` runs).
    """
    from tradeforge.config.data import DataConfig
    from tradeforge.data import ingest

    cfg = DataConfig(
        tickers=(ticker,),
        source=source,
        start=start,
        end=end,
        interval=interval,
        offline=offline,
        s3_endpoint_url=endpoint_url,
    )
    snapshots = None
    if source == "yahoo" and snapshot_store is not None:
        from storage import open_store

        snapshots = open_store(snapshot_store, endpoint_url=endpoint_url)
    got = ingest(ticker, cfg, snapshot_store=snapshots)
    return got.frame, got.source


# -- acting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatestBar:
    """The observation of a frame's latest bar for one policy, without the position slot."""

    ticker: str
    timestamp: str
    close: float
    version_id: str
    observation: np.ndarray
    """float32 ``(obs_dim,)``; its last value (the position) is set per request."""

    def with_position(self, position: float) -> np.ndarray:
        """``(1, obs_dim)`` observation holding ``position``."""
        obs = self.observation.copy()[None, :]
        obs[0, -1] = position
        return obs


def latest_bar(policy: LoadedPolicy, frame: pd.DataFrame) -> LatestBar:
    """Features of ``frame`` with the policy card's scaler; the observation of its last bar."""
    from tradeforge.config import FeatureConfig
    from tradeforge.envs.observation import observations_at
    from tradeforge.features import market_for_inference

    window = card_window(policy.card)
    features = FeatureConfig(features=card_features(policy.card))
    market = market_for_inference(frame, features, card_scaler(policy.card), window)
    t = market.end - 1
    obs = observations_at(market.features, window, np.array([t]), np.array([0.0]))
    if obs.shape[1] != policy.obs_dim:
        raise BarsError(
            f"{policy.ticker}: the observation has {obs.shape[1]} values, version "
            f"{policy.version_id} expects {policy.obs_dim} (card and network disagree)"
        )
    return LatestBar(
        ticker=policy.ticker,
        timestamp=market.date(t),
        close=float(market.close[t]),
        version_id=policy.version_id,
        observation=obs[0],
    )


def act(policy: LoadedPolicy, bar: LatestBar, position: str | float) -> dict[str, Any]:
    """The policy's greedy action for ``bar`` while holding ``position``."""
    pos = parse_position(position)
    q = policy.q_values(bar.with_position(pos))[0]
    action = int(np.argmax(q))  # ties go to flat, as in NumpyQNetwork.greedy
    return {
        "ticker": policy.ticker,
        "timestamp": bar.timestamp,
        "close": bar.close,
        "position": ACTIONS[int(pos)],
        "action": action,
        "action_name": ACTIONS[action],
        "q_values": [float(v) for v in q],
        "version_id": policy.version_id,
        "agent": policy.agent,
        "version_uri": policy.uri,
        "loaded_from": policy.loaded_from,
    }


def act_on_latest(
    policy: LoadedPolicy, frame: pd.DataFrame, position: str | float = DEFAULT_POSITION
) -> dict[str, Any]:
    """The policy's action for the latest bar of ``frame`` (a checked canonical frame)."""
    return act(policy, latest_bar(policy, frame), position)


def predict_latest(
    frame: pd.DataFrame,
    champion: dict[str, Any],
    store: str,
    *,
    position: str | float = DEFAULT_POSITION,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The champion's greedy action for the latest bar of ``frame`` (a validated canonical frame).

    ``champion`` is ``champion_info``'s result; the version it names is loaded again and
    re-verified against the card sha256 it recorded (files are never trusted between steps).
    """
    ticker = champion["ticker"]
    tickers = set(frame["ticker"].unique()) if "ticker" in frame else set()
    if tickers and tickers != {ticker}:
        raise ValueError(f"predict: bars are for {sorted(tickers)}, the champion for {ticker}")
    policy = load_policy(
        open_registry(store, endpoint_url),
        ticker,
        champion["agent"],
        champion["version_id"],
        expected_card_sha256=champion["card_sha256"],
    )
    return act_on_latest(policy, frame, position)


def resolve_source(policy: LoadedPolicy, source: str | None) -> str:
    """``source`` if given, else the one the champion was trained on (its model card)."""
    if source:
        return source
    recorded = card_source(policy.card)
    if recorded is None:
        raise ValueError(
            f"{policy.uri}: the model card records no data source; pass --source "
            "(demo | yahoo | s3://bucket/prefix | a file)"
        )
    return recorded


def predict(
    ticker: str,
    store: str,
    *,
    source: str | None = None,
    position: str | None = None,
    start: str | None = None,
    end: str | None = None,
    interval: str | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """The champion's action for the latest bar, as ``tradeforge predict`` prints it.

    ``source`` defaults to the source recorded in the champion's model card, ``interval`` to
    the one it was trained on; ``position`` (flat | long) to flat, and the result says which
    was assumed (``position_assumed``). Yahoo snapshots go into ``store``.
    """
    registry = open_registry(store, endpoint_url)
    policy = champion_policy(ticker, registry)
    where = resolve_source(policy, source)
    frame, read_from = read_latest_bars(
        ticker,
        where,
        start=start,
        end=end,
        interval=interval or card_interval(policy.card),
        offline=offline,
        endpoint_url=endpoint_url,
        snapshot_store=store,
    )
    bars = check_bars(frame, ticker, interval or card_interval(policy.card))
    result = act_on_latest(policy, bars, position or DEFAULT_POSITION)
    return {
        **result,
        "position_assumed": position is None,
        "source": where,
        "source_recorded": source is None,
        "read_from": read_from,
    }
