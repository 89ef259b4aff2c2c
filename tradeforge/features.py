"""Causal features, date splits and train-only scaling: canonical OHLCV frame -> ``MarketData``.

The catalogue (a name's numbers are its parameters, e.g. ``logret_5`` = 5-bar log return):

================  ======================================================================
``logret_N``      log(close_t / close_{t-N})
``vol_N``         standard deviation of the 1-bar log returns over the last N bars
``rsi_N``         Wilder's RSI over N bars, mapped from [0, 100] to [-1, 1]
``macd``          (EMA12 - EMA26) / close; ``macd_F_S_G`` sets the spans
``macd_signal``   EMA9 of ``macd``; ``macd_signal_F_S_G`` sets the spans
``macd_hist``     ``macd - macd_signal``; ``macd_hist_F_S_G`` sets the spans
``bb_pos_N``      Bollinger position: (close - SMA_N) / (2 * std_N); 0 when std_N is 0
``volz_N``        z-score of log(1 + volume) against its last N bars; 0 when they are constant
``sma_ratio_F_S`` SMA_F / SMA_S - 1 (F < S)
``atr_N``         Wilder's average true range over N bars / close
``dow_D``         1 on bars whose (UTC) date is weekday D (1 Monday .. 7 Sunday), else 0
``shock_N_K_H``   signed large moves, decaying with half-life H bars: each 1-bar log return
                  beyond K times the std of the N returns before it adds its sign (+1/-1)
================  ======================================================================

``dow_D`` and ``shock_N_K_H`` are not in the defaults (issue 28's capture study,
``benchmarks/results/agents_study.md``): a calendar and the time since a large move are
information the default features do not carry.

Every feature at bar t uses bars <= t only (rolling windows and EWMs run forward; nothing is
centred or back-filled); ``tests/features`` checks this for every entry of the catalogue. Rows
before every feature is defined (the warm-up) are dropped. The scaler (mean, std per feature) is
fitted on the bars before the validation window only, and travels with the model as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.envs.market import MarketData, iso
from tradeforge.feature_names import FAMILY_NAMES, FeatureName, parse_feature_name

if TYPE_CHECKING:
    from tradeforge.config import FeatureConfig, SplitConfig

CANONICAL_COLUMNS = ("ticker", "timestamp", "open", "high", "low", "close", "volume")
SCALER_VERSION = 1

Compute = Callable[[pd.DataFrame, tuple[int, ...]], pd.Series]


@dataclass(frozen=True)
class FeatureFamily:
    """One entry of the catalogue: its name grammar and how to compute it."""

    name: FeatureName
    compute: Compute
    """Raw (unscaled) feature values from the frame, NaN during warm-up."""
    doc: str


# -- the computations (each strictly causal) ----------------------------------------------------


def _log_close(frame: pd.DataFrame) -> pd.Series:
    return np.log(frame["close"])


def _logret(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _log_close(frame).diff(p[0])


def _vol(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _log_close(frame).diff().rolling(p[0], min_periods=p[0]).std(ddof=0)


def _wilder(series: pd.Series, n: int) -> pd.Series:
    # Wilder's smoothing is an EWM with alpha = 1/n; adjust=False makes it a forward recursion.
    return series.ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()


def _rsi(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    delta = frame["close"].diff()
    gain = _wilder(delta.clip(lower=0.0), p[0])
    loss = _wilder((-delta).clip(lower=0.0), p[0])
    total = gain + loss
    # gain / (gain + loss) is RSI/100 without the division by zero of gain/loss; flat -> neutral.
    share = (gain / total.where(total > 0)).where(total > 0, 0.5)
    return (2.0 * share - 1.0).where(gain.notna())


def _macd_parts(frame: pd.DataFrame, p: tuple[int, ...]) -> tuple[pd.Series, pd.Series]:
    fast, slow, signal = p
    close = frame["close"]
    ema_fast = close.ewm(span=fast, adjust=False, min_periods=slow).mean()
    ema_slow = close.ewm(span=slow, adjust=False, min_periods=slow).mean()
    macd = (ema_fast - ema_slow) / close
    sig = macd.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return macd, sig


def _macd(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _macd_parts(frame, p)[0]


def _macd_signal(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _macd_parts(frame, p)[1]


def _macd_hist(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    macd, sig = _macd_parts(frame, p)
    return macd - sig


def _zscore(series: pd.Series, n: int) -> pd.Series:
    roll = series.rolling(n, min_periods=n)
    mean, std = roll.mean(), roll.std(ddof=0)
    # A constant window has no spread: call it 0 standard deviations away, not inf/NaN.
    z = (series - mean) / std.where(std > 1e-12)
    return z.where(std > 1e-12, 0.0).where(mean.notna())


def _bb_pos(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _zscore(frame["close"], p[0]) / 2.0


def _volz(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    return _zscore(np.log1p(frame["volume"]), p[0])


def _sma_ratio(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    fast, slow = p
    close = frame["close"]
    return (
        close.rolling(fast, min_periods=fast).mean() / close.rolling(slow, min_periods=slow).mean()
        - 1.0
    )


def _atr(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    prev_close = frame["close"].shift(1)
    true_range = pd.concat(
        [
            frame["high"] - frame["low"],
            (frame["high"] - prev_close).abs(),
            (frame["low"] - prev_close).abs(),
        ],
        axis=1,
    ).max(axis=1, skipna=False)
    return _wilder(true_range, p[0]) / frame["close"]


def _dow(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    ts = pd.to_datetime(frame["timestamp"])
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC")
    # The bar's own date only: known at its close, whatever comes after.
    return (ts.dt.dayofweek + 1 == p[0]).astype("float64")


def _shock(frame: pd.DataFrame, p: tuple[int, ...]) -> pd.Series:
    from scipy import signal  # only this family needs it

    n, k, half_life = p
    r = _log_close(frame).diff()
    before = r.rolling(n, min_periods=n).std(ddof=0).shift(1)  # the N returns before bar t
    impulse = (np.sign(r) * (r.abs() > k * before)).where(before.notna())
    decay = 0.5 ** (1.0 / half_life)
    # s_t = impulse_t + decay * s_{t-1}, started at 0 where the vol is first defined.
    values = signal.lfilter([1.0], [1.0, -decay], impulse.fillna(0.0).to_numpy())
    return pd.Series(values, index=frame.index).where(before.notna())


_COMPUTE: dict[str, tuple[Compute, str]] = {
    "logret": (_logret, "N-bar log return"),
    "vol": (_vol, "rolling std of 1-bar log returns"),
    "rsi": (_rsi, "Wilder RSI in [-1, 1]"),
    "macd_signal": (_macd_signal, "EMA of MACD"),
    "macd_hist": (_macd_hist, "MACD - signal"),
    "macd": (_macd, "(EMA fast - EMA slow) / close"),
    "bb_pos": (_bb_pos, "Bollinger position"),
    "volz": (_volz, "z-score of log volume"),
    "sma_ratio": (_sma_ratio, "SMA fast / SMA slow - 1"),
    "atr": (_atr, "Wilder ATR / close"),
    "dow": (_dow, "1 on weekday D (1 = Monday)"),
    "shock": (_shock, "decaying sum of the signs of large moves"),
}

CATALOGUE: dict[str, FeatureFamily] = {
    family: FeatureFamily(grammar, *_COMPUTE[family]) for family, grammar in FAMILY_NAMES.items()
}

#: One instance of every family, used by the look-ahead test and the docs.
EXAMPLE_FEATURES = (
    "logret_1",
    "logret_5",
    "logret_20",
    "vol_20",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_pos_20",
    "volz_20",
    "sma_ratio_10_50",
    "atr_14",
    "dow_3",
    "shock_20_3_5",
)


def parse_feature(name: str) -> tuple[FeatureFamily, tuple[int, ...]]:
    """The catalogue entry and integer parameters named by ``name`` (e.g. ``vol_20``)."""
    family, params = parse_feature_name(name)
    return CATALOGUE[family], params


def compute_features(frame: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Raw (unscaled) feature columns for every bar of ``frame``; NaN during each warm-up."""
    _check_frame(frame)
    columns = {}
    # A zero or negative price gives inf/NaN here; _feature_table reports it by feature and bar.
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            family, params = parse_feature(name)
            columns[name] = family.compute(frame, params).astype("float64")
    return pd.DataFrame(columns, index=frame.index)


# -- splitting and scaling ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Fold:
    """One walk-forward fold: train on ``train``, validate on ``val``; scaled by its own scaler.

    ``test`` is the final test window scaled with this fold's scaler (the last fold's model is
    the one published, and it is tested with its own scaler).
    """

    index: int
    train: MarketData
    val: MarketData
    test: MarketData
    scaler: dict[str, Any]
    """JSON: ``feature_names``, ``mean``, ``std`` (fitted on this fold's train bars), ``clip``."""
    boundaries: dict[str, str]
    """ISO dates: ``train_start``, ``train_end`` and ``val_end`` (both exclusive), ``val_start``."""


@dataclass(frozen=True, eq=False)
class Prepared:
    """Walk-forward folds over one feature table, and the final test window."""

    folds: tuple[Fold, ...]
    boundaries: dict[str, str]
    """ISO dates: ``train_start``, ``val_start`` (first fold's), ``test_start``, ``end``."""
    feature_names: tuple[str, ...]
    ticker: str = ""

    @property
    def last(self) -> Fold:
        """The fold trained on the most bars: its model is the one published."""
        return self.folds[-1]

    @property
    def train(self) -> MarketData:
        return self.last.train

    @property
    def val(self) -> MarketData:
        return self.last.val

    @property
    def test(self) -> MarketData:
        return self.last.test

    @property
    def scaler(self) -> dict[str, Any]:
        return self.last.scaler


def prepare(
    frame: pd.DataFrame, features: FeatureConfig, split: SplitConfig, window: int
) -> Prepared:
    """Features, walk-forward folds, and each fold's train-only scaling of a canonical frame.

    Fold k trains on ``[window-1, v_k - gap)`` and validates on ``[v_k, v_{k+1})``; the last
    stretch ends where the test window ``[test, end)`` starts. Validation and test observations
    look back into the bars before them, which is causal (those bars are in the past).
    """
    ticker = _ticker(frame)
    raw, timestamps, opens, closes = _feature_table(frame, features.features, ticker)
    n = len(raw)
    val_idx, test_idx = _split_indices(timestamps, split, n)
    _check_split_sizes(timestamps, window, val_idx, test_idx, ticker)
    edges = np.linspace(val_idx, test_idx, split.folds + 1).round().astype(int)
    names = tuple(features.features)
    folds = []
    for k in range(split.folds):
        v0, v1 = int(edges[k]), int(edges[k + 1])
        train_end = v0 - split.gap
        _check_fold(timestamps, window, k, train_end, v0, v1, ticker)
        scaler = fit_scaler(raw[:train_end], names, clip=features.clip)
        base = MarketData(
            timestamps, apply_scaler(raw, scaler), opens, closes, names, window - 1, n, ticker
        )
        folds.append(
            Fold(
                index=k,
                train=base.slice(window - 1, train_end),
                val=base.slice(v0, v1),
                test=base.slice(test_idx, n),
                scaler=scaler,
                boundaries={
                    "train_start": iso(timestamps[window - 1]),
                    "train_end": iso(timestamps[train_end]),
                    "val_start": iso(timestamps[v0]),
                    "val_end": iso(timestamps[v1]),
                },
            )
        )
    return Prepared(
        folds=tuple(folds),
        boundaries={
            "train_start": iso(timestamps[window - 1]),
            "val_start": iso(timestamps[val_idx]),
            "test_start": iso(timestamps[test_idx]),
            "end": iso(timestamps[n - 1]),
        },
        feature_names=names,
        ticker=ticker,
    )


def _check_fold(
    timestamps: np.ndarray, window: int, k: int, train_end: int, v0: int, v1: int, ticker: str
) -> None:
    """Each fold needs training bars beyond the look-back and a validation stretch of 2+ bars."""
    who = ticker or "frame"
    if train_end - (window - 1) < 2:
        raise ValueError(
            f"{who}: fold {k + 1} has no training bars: its validation starts at "
            f"{iso(timestamps[v0])}, and the look-back ({window - 1} bars) and the gap leave "
            "fewer than 2 (use fewer folds, a smaller gap or a later val_start)"
        )
    if v1 - v0 < 2:
        raise ValueError(
            f"{who}: fold {k + 1}'s validation stretch from {iso(timestamps[v0])} has "
            f"{v1 - v0} bar(s); at least 2 are needed (use fewer folds or an earlier val_start)"
        )


def market_for_inference(
    frame: pd.DataFrame, features: FeatureConfig, scaler: dict[str, Any], window: int
) -> MarketData:
    """The whole history scaled with a model's own scaler; the last steppable bar is the latest.

    The observation for a decision on the latest bar is
    ``observations_at(m.features, window, [m.end - 1], [position])``.
    """
    ticker = _ticker(frame)
    raw, timestamps, opens, closes = _feature_table(frame, features.features, ticker)
    _check_scaler_names(scaler, features.features)
    if len(raw) < window:
        raise ValueError(
            f"{ticker or 'frame'}: {len(raw)} bars after the feature warm-up; window {window} "
            f"needs at least {window}"
        )
    scaled = apply_scaler(raw, scaler)
    names = tuple(features.features)
    n = len(raw)
    start = min(window - 1, n - 1)
    return MarketData(timestamps, scaled, opens, closes, names, start, n, ticker)


def market_for_window(
    frame: pd.DataFrame,
    *,
    features: tuple[str, ...],
    scaler: dict[str, Any],
    window: int,
    start: str,
    end: str | None = None,
) -> MarketData:
    """Bars from ``start`` (inclusive) to ``end`` (exclusive) with a model's own scaler.

    Used to re-evaluate a stored model on another run's window: same dates, its own features.
    """
    from tradeforge.config import FeatureConfig

    market = market_for_inference(frame, FeatureConfig(features=tuple(features)), scaler, window)
    begin = _first_at_or_after(market.timestamps, start)
    stop = market.end if end is None else _first_at_or_after(market.timestamps, end)
    view = market.slice(begin, stop) if begin < stop else None
    if view is None or view.num_bars < 2 or begin < window - 1:
        raise ValueError(
            f"{market.ticker or 'frame'}: window {start}..{end} has no room for an episode "
            f"(bars [{begin}, {stop}), look-back window {window})"
        )
    return view


def fit_scaler(
    raw: np.ndarray, names: tuple[str, ...] | list[str], *, clip: float = 0.0
) -> dict[str, Any]:
    """Per-feature mean and std of ``raw`` (the train bars), as JSON-ready lists."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    # A constant feature would divide by zero; scale it by 1 (it stays constant, centred at 0).
    std = np.where(std > 1e-12, std, 1.0)
    return {
        "version": SCALER_VERSION,
        "feature_names": list(names),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "clip": float(clip),
    }


def apply_scaler(raw: np.ndarray, scaler: dict[str, Any]) -> np.ndarray:
    """Standardise with the scaler's statistics (and clip, if it says so), as float32."""
    mean = np.asarray(scaler["mean"], dtype=np.float64)
    std = np.asarray(scaler["std"], dtype=np.float64)
    if raw.shape[1] != len(mean):
        raise ValueError(
            f"scaler has {len(mean)} features {scaler.get('feature_names')}, data has "
            f"{raw.shape[1]}"
        )
    scaled = (raw - mean) / std
    clip = float(scaler.get("clip", 0.0))
    if clip > 0:
        scaled = np.clip(scaled, -clip, clip)
    return scaled.astype(np.float32)


# -- helpers ------------------------------------------------------------------------------------


def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing canonical column(s) {missing}")
    if len(frame) == 0:
        raise ValueError("frame has no rows")
    ts = frame["timestamp"].to_numpy()
    steps = ts[1:] <= ts[:-1]
    if steps.any():
        row = int(np.flatnonzero(steps)[0]) + 1
        raise ValueError(
            f"frame timestamps must be unique and ascending: row {row} ({ts[row]}) does not "
            f"follow row {row - 1} ({ts[row - 1]}); validate the frame first"
        )


def _ticker(frame: pd.DataFrame) -> str:
    if "ticker" not in frame.columns or len(frame) == 0:
        return ""
    tickers = frame["ticker"].unique()
    if len(tickers) != 1:
        raise ValueError(f"frame holds several tickers {list(tickers)}; prepare one at a time")
    return str(tickers[0])


def _utc_naive(ts: pd.Series) -> np.ndarray:
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[ns]")


def _feature_table(
    frame: pd.DataFrame, names: tuple[str, ...], ticker: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw features with the warm-up rows dropped, and the matching timestamps and prices."""
    table = compute_features(frame, names)
    values = table.to_numpy(dtype=np.float64)
    defined = ~np.isnan(values)
    first = _first_defined_row(defined, names, ticker)
    values = values[first:]
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        ts = frame["timestamp"].iloc[first + row]
        raise ValueError(
            f"{ticker or 'frame'}: feature {names[col]} is {values[row, col]} at {ts} "
            "(check the prices and volumes around that bar)"
        )
    timestamps = _utc_naive(frame["timestamp"])[first:]
    opens = frame["open"].to_numpy(dtype=np.float64)[first:]
    closes = frame["close"].to_numpy(dtype=np.float64)[first:]
    return values, timestamps, opens, closes


def _first_defined_row(defined: np.ndarray, names: tuple[str, ...], ticker: str) -> int:
    """First row from which every feature is defined (the longest warm-up)."""
    firsts = []
    for col, name in enumerate(names):
        rows = np.flatnonzero(defined[:, col])
        if len(rows) == 0:
            raise ValueError(
                f"{ticker or 'frame'}: feature {name} is never defined on {len(defined)} bars "
                "(too few bars for its warm-up)"
            )
        firsts.append(rows[0])
    return int(max(firsts))


def _first_at_or_after(timestamps: np.ndarray, date: str) -> int:
    ts = pd.Timestamp(date)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(np.searchsorted(timestamps, ts.to_datetime64(), side="left"))


def _split_indices(timestamps: np.ndarray, split: SplitConfig, n: int) -> tuple[int, int]:
    """Indices of the first validation and first test bar (dates win over fractions)."""
    if split.test_start is not None:
        test_idx = _first_at_or_after(timestamps, split.test_start)
    else:
        test_idx = n - round(n * split.test_fraction)
    if split.val_start is not None:
        val_idx = _first_at_or_after(timestamps, split.val_start)
    else:
        val_idx = test_idx - split.folds * round(n * split.val_fraction)
    return val_idx, test_idx


def _check_split_sizes(
    timestamps: np.ndarray, window: int, val_idx: int, test_idx: int, ticker: str
) -> None:
    """Each window needs at least two bars (one step); train also needs ``window-1`` look-back."""
    n = len(timestamps)
    who = ticker or "frame"
    first, last = iso(timestamps[0]), iso(timestamps[-1])
    train_bars = val_idx - (window - 1)
    if train_bars < 2:
        raise ValueError(
            f"{who}: the train window is too short for window {window}: {val_idx} bar(s) from "
            f"{first} (after the feature warm-up) to the validation start "
            f"{iso(timestamps[min(val_idx, n - 1)])}, of which {window - 1} are look-back; "
            "at least 2 more are needed"
        )
    if test_idx - val_idx < 2:
        raise ValueError(
            f"{who}: the validation window ({_date_or_end(timestamps, val_idx)} to "
            f"{_date_or_end(timestamps, test_idx)}) has {max(test_idx - val_idx, 0)} bar(s); "
            "at least 2 are needed (check val_start < test_start and the data's dates "
            f"{first}..{last})"
        )
    if n - test_idx < 2:
        raise ValueError(
            f"{who}: the test window (from {_date_or_end(timestamps, test_idx)} to {last}) has "
            f"{max(n - test_idx, 0)} bar(s); at least 2 are needed"
        )


def _date_or_end(timestamps: np.ndarray, idx: int) -> str:
    return iso(timestamps[idx]) if idx < len(timestamps) else "after the last bar"


def _check_scaler_names(scaler: dict[str, Any], names: tuple[str, ...]) -> None:
    if list(scaler.get("feature_names", [])) != list(names):
        raise ValueError(
            f"scaler was fitted on features {scaler.get('feature_names')}, not {list(names)}"
        )
