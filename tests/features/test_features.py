"""Features: causality of every catalogue entry, exact values, splits, train-only scaling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.features.market_files import load_yahoo, synthetic_frame
from tradeforge.config import FeatureConfig, SplitConfig
from tradeforge.envs.market import MarketData
from tradeforge.features import (
    CATALOGUE,
    EXAMPLE_FEATURES,
    compute_features,
    market_for_inference,
    market_for_window,
    parse_feature,
    prepare,
)


def test_example_features_cover_every_family() -> None:
    families = {parse_feature(name)[0] for name in EXAMPLE_FEATURES}
    assert families == set(CATALOGUE.values())


@pytest.mark.parametrize("cut", [60, 150, 299])
def test_no_feature_looks_ahead(cut: int) -> None:
    """Perturb every bar after ``cut``: every feature value at or before ``cut`` stays identical."""
    frame = synthetic_frame(300, seed=1)
    before = compute_features(frame, EXAMPLE_FEATURES)
    changed = frame.copy()
    rng = np.random.default_rng(7)
    tail = slice(cut + 1, None)
    factor = rng.uniform(0.5, 1.5, len(frame) - cut - 1)
    for col in ("open", "high", "low", "close"):
        changed.loc[changed.index[tail], col] = frame[col].to_numpy()[tail] * factor
    changed.loc[changed.index[tail], "volume"] = rng.integers(1, 10**6, len(factor))
    after = compute_features(changed, EXAMPLE_FEATURES)
    head = slice(0, cut + 1)
    pd.testing.assert_frame_equal(before.iloc[head], after.iloc[head], check_exact=True)
    # The perturbation is real: the bars after the cut did change (so the test can fail).
    if cut < 299:
        assert not before.iloc[cut + 1 :].equals(after.iloc[cut + 1 :])


def test_feature_values_match_hand_computation() -> None:
    frame = synthetic_frame(80, seed=2)
    close = frame["close"].to_numpy()
    volume = frame["volume"].to_numpy()
    names = ("logret_5", "vol_3", "sma_ratio_2_4", "bb_pos_4", "volz_3")
    table = compute_features(frame, names)
    t = 40
    assert table["logret_5"][t] == pytest.approx(np.log(close[t] / close[t - 5]), rel=1e-12)
    r = np.diff(np.log(close))[t - 3 : t]
    assert table["vol_3"][t] == pytest.approx(r.std(), rel=1e-9)
    sma2, sma4 = close[t - 1 : t + 1].mean(), close[t - 3 : t + 1].mean()
    assert table["sma_ratio_2_4"][t] == pytest.approx(sma2 / sma4 - 1, rel=1e-9)
    w = close[t - 3 : t + 1]
    assert table["bb_pos_4"][t] == pytest.approx((close[t] - w.mean()) / (2 * w.std()), rel=1e-9)
    lv = np.log1p(volume[t - 2 : t + 1])
    assert table["volz_3"][t] == pytest.approx((lv[-1] - lv.mean()) / lv.std(), rel=1e-9)
    # Warm-up: undefined until the window is full.
    assert table["logret_5"].isna().sum() == 5 and table["vol_3"].isna().sum() == 3


def test_weekday_flags_mark_the_bar_own_date() -> None:
    """``dow_D`` is 1 exactly on bars dated ISO weekday D (2020-01-01 is a Wednesday)."""
    frame = synthetic_frame(21)
    table = compute_features(frame, [f"dow_{d}" for d in range(1, 8)])
    assert table["dow_3"].iloc[[0, 7, 14]].eq(1.0).all()
    assert table["dow_3"].sum() == 3 and table["dow_1"].iloc[5] == 1.0  # Monday 2020-01-06
    assert (table.sum(axis=1) == 1.0).all()  # one weekday a bar
    with pytest.raises(ValueError, match="not in the catalogue"):
        parse_feature("dow_8")


def test_shock_adds_the_sign_of_a_large_move_and_halves_over_its_half_life() -> None:
    frame = synthetic_frame(80, seed=3)
    close = 100.0 * np.exp(np.cumsum(np.tile([0.01, -0.01], 40)))  # steady +-1% a bar
    close[50:] *= 0.9  # one fall of about 10%: far beyond 3 sds of the 20 bars before it
    close[75:] *= 1.05  # a rise of 3.9%: 3.9 sds of the 20 (+-1%) returns before it
    frame["close"] = close
    shock = compute_features(frame, ["shock_20_3_4"])["shock_20_3_4"]
    assert shock.iloc[:21].isna().all() and shock.iloc[21] == 0.0  # 20 returns before bar 21
    assert shock.iloc[49] == 0.0 and shock.iloc[50] == -1.0
    assert shock.iloc[54] == pytest.approx(-0.5)  # half-life 4 bars
    # Counted against the sd of the returns BEFORE it: with itself in the window (sd 1.3%) the
    # 3.9% rise would fall short of 3 sds.
    assert shock.iloc[75] == pytest.approx(1.0 - 0.5 ** (25 / 4))


def test_rsi_is_plus_one_on_a_rising_series_and_minus_one_on_a_falling_one() -> None:
    up = synthetic_frame(60)
    up["close"] = np.linspace(10, 20, 60)
    down = up.copy()
    down["close"] = np.linspace(20, 10, 60)
    assert compute_features(up, ["rsi_14"])["rsi_14"].dropna().eq(1.0).all()
    assert compute_features(down, ["rsi_14"])["rsi_14"].dropna().eq(-1.0).all()


def test_unknown_or_bad_feature_names_are_rejected_by_the_config() -> None:
    with pytest.raises(ValueError, match="'momentum_3' is not in the catalogue"):
        FeatureConfig(features=("logret_1", "momentum_3"))
    with pytest.raises(ValueError, match="parameters must be >= 1"):
        FeatureConfig(features=("vol_0",))
    with pytest.raises(ValueError, match="fast window 50 must be shorter than the slow window 10"):
        FeatureConfig(features=("sma_ratio_50_10",))
    with pytest.raises(ValueError, match="'macd_26_12_9': the fast window 26"):
        FeatureConfig(features=("macd_26_12_9",))
    assert parse_feature("macd")[1] == (12, 26, 9)
    assert parse_feature("macd_signal_5_10_3")[1] == (5, 10, 3)


def _spy() -> pd.DataFrame:
    return load_yahoo("SPY_2010-2017_yahoo.csv", "SPY")


def test_prepare_splits_by_date_on_real_data_with_lookback() -> None:
    window = 10
    split = SplitConfig(val_start="2015-01-01", test_start="2016-01-01", folds=1, gap=0)
    prep = prepare(_spy(), FeatureConfig(features=EXAMPLE_FEATURES), split, window)
    assert prep.boundaries["val_start"] == "2015-01-02"  # first trading day of 2015
    assert prep.boundaries["test_start"] == "2016-01-04"
    assert prep.boundaries["end"] == "2017-03-29"
    # sma_ratio_10_50 has the longest warm-up (50 bars); train steps start after the look-back.
    assert prep.train.start == window - 1
    assert prep.train.end == prep.val.start and prep.val.end == prep.test.start
    assert prep.test.end == len(prep.test.close)
    # One shared array: views, not copies; val/test reach back into earlier bars for look-back.
    assert prep.val.features is prep.train.features is prep.test.features
    assert prep.val.start >= window - 1
    assert prep.ticker == "SPY" and prep.feature_names == EXAMPLE_FEATURES
    json.dumps(prep.scaler)  # JSON-serialisable: it travels in the model card


def test_scaler_is_fitted_on_train_bars_only() -> None:
    frame = _spy()
    split = SplitConfig(val_start="2015-01-01", test_start="2016-01-01", folds=1, gap=0)
    cfg = FeatureConfig(features=("logret_1", "vol_20", "rsi_14"), clip=0.0)
    base = prepare(frame, cfg, split, 5)
    # Wreck every bar of the validation and test windows: nothing of train may move.
    later = frame["timestamp"] >= pd.Timestamp("2015-01-01", tz="UTC")
    changed = frame.copy()
    changed.loc[later, ["open", "high", "low", "close"]] *= 3.0
    other = prepare(changed, cfg, split, 5)
    assert base.scaler == other.scaler
    n_train = base.train.end
    np.testing.assert_array_equal(base.train.features[:n_train], other.train.features[:n_train])
    # And the scaler really is the train statistics: train features have mean 0, std 1.
    train_rows = base.train.features[: base.val.start].astype(np.float64)
    np.testing.assert_allclose(train_rows.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train_rows.std(axis=0), 1.0, atol=1e-5)


def test_prepare_by_fractions() -> None:
    prep = prepare(synthetic_frame(400), FeatureConfig(), SplitConfig(), 10)
    n = len(prep.train.close)
    assert prep.test.num_bars == round(n * 0.15)
    assert len(prep.folds) == 3
    for fold in prep.folds:  # each fold validates on 15% of the bars
        assert abs(fold.val.num_bars - round(n * 0.15)) <= 1


def test_walk_forward_folds_never_train_on_their_validation_bars() -> None:
    """Fold k trains on bars before its validation stretch less the gap; stretches tile the
    validation region in order; each fold's scaler sees its own train bars only."""
    frame = _spy()
    split = SplitConfig(val_start="2014-01-01", test_start="2016-01-01", folds=4, gap=7)
    window = 10
    prep = prepare(frame, FeatureConfig(), split, window)
    assert len(prep.folds) == 4
    previous_end = None
    for fold in prep.folds:
        # the last reward of a training step needs the bar after train.end - 1: still < val start
        assert fold.train.end + split.gap == fold.val.start
        assert fold.train.start == window - 1
        if previous_end is not None:
            assert fold.val.start == previous_end  # expanding: the next stretch follows
        previous_end = fold.val.end
        # the scaler is fitted on exactly this fold's train bars: wreck everything after them
        cut = fold.train.end
        changed = frame.copy()
        later = changed["timestamp"] >= pd.Timestamp(fold.boundaries["train_end"], tz="UTC")
        changed.loc[later, ["open", "high", "low", "close"]] *= 3.0
        other = prepare(changed, FeatureConfig(), split, window).folds[fold.index]
        assert other.scaler == fold.scaler
        np.testing.assert_array_equal(fold.train.features[:cut], other.train.features[:cut])
    assert previous_end == prep.test.start
    assert prep.boundaries["val_start"] == prep.folds[0].boundaries["val_start"]
    # Scalers differ between folds: each saw more history.
    assert prep.folds[0].scaler != prep.folds[-1].scaler


def test_fold_without_training_bars_is_named() -> None:
    frame = synthetic_frame(200)
    with pytest.raises(ValueError, match="fold 1 has no training bars"):
        prepare(frame, FeatureConfig(), SplitConfig(val_start="2020-03-25", gap=40), 5)


def test_too_short_splits_name_the_window_and_dates() -> None:
    frame = synthetic_frame(200)  # 2020-01-01 .. 2020-07-18, daily
    with pytest.raises(ValueError, match=r"train window is too short for window 30"):
        prepare(frame, FeatureConfig(), SplitConfig(val_start="2020-03-01"), 30)
    with pytest.raises(ValueError, match=r"validation window \(2020-06-01 to 2020-06-02\) has 1"):
        prepare(
            frame, FeatureConfig(), SplitConfig(val_start="2020-06-01", test_start="2020-06-02"), 5
        )
    with pytest.raises(ValueError, match=r"test window \(from after the last bar to 2020-07-18\)"):
        prepare(frame, FeatureConfig(), SplitConfig(test_start="2021-01-01"), 5)


def test_bad_frames_are_rejected_with_a_reason() -> None:
    frame = synthetic_frame(100)
    with pytest.raises(ValueError, match=r"missing canonical column\(s\) \['volume'\]"):
        prepare(frame.drop(columns="volume"), FeatureConfig(), SplitConfig(), 5)
    with pytest.raises(ValueError, match="unique and ascending"):
        prepare(frame.iloc[::-1], FeatureConfig(), SplitConfig(), 5)
    zero = frame.copy()
    zero.loc[60, "close"] = 0.0
    with pytest.raises(ValueError, match="feature logret_1 is -inf at 2020-03-01"):
        prepare(zero, FeatureConfig(), SplitConfig(), 5)


def test_market_for_inference_ends_on_the_latest_bar_with_the_models_scaler() -> None:
    frame = synthetic_frame(300)
    cfg = FeatureConfig()
    prep = prepare(frame, cfg, SplitConfig(), 10)
    latest = market_for_inference(frame, cfg, prep.scaler, 10)
    assert isinstance(latest, MarketData)
    assert latest.end == len(latest.close)
    assert latest.timestamps[latest.end - 1] == frame["timestamp"].iloc[-1].tz_localize(None)
    np.testing.assert_array_equal(latest.features, prep.test.features)
    with pytest.raises(ValueError, match="scaler was fitted on features"):
        market_for_inference(frame, FeatureConfig(features=("logret_1",)), prep.scaler, 10)


def test_market_for_window_matches_the_prepared_validation_window() -> None:
    frame = synthetic_frame(300)
    cfg = FeatureConfig()
    prep = prepare(frame, cfg, SplitConfig(), 10)
    last = prep.last
    view = market_for_window(
        frame,
        features=cfg.features,
        scaler=last.scaler,
        window=10,
        start=last.boundaries["val_start"],
        end=last.boundaries["val_end"],
    )
    assert last.boundaries["val_end"] == prep.boundaries["test_start"]
    assert (view.start, view.end) == (prep.val.start, prep.val.end)
    np.testing.assert_array_equal(view.features, prep.val.features)


def test_market_for_window_rejects_a_window_without_room() -> None:
    frame = synthetic_frame(300)
    prep = prepare(frame, FeatureConfig(), SplitConfig(), 10)
    with pytest.raises(ValueError, match="has no room for an episode"):
        market_for_window(
            frame,
            features=FeatureConfig().features,
            scaler=prep.scaler,
            window=10,
            start="2020-10-01",
            end="2020-10-02",
        )


def test_hourly_boundaries_keep_the_time_of_day() -> None:
    frame = synthetic_frame(400)
    frame["timestamp"] = pd.date_range("2021-03-01 05:00", periods=400, freq="h", tz="UTC")
    prep = prepare(frame, FeatureConfig(), SplitConfig(val_start="2021-03-12 13:00"), 24)
    assert prep.boundaries["val_start"] == "2021-03-12T13:00:00"
    assert prep.boundaries["end"] == "2021-03-17T20:00:00"


def test_early_stopping_bars_come_from_the_training_window_only_when_asked() -> None:
    """By default (``eval_every=0``) each fold trains on all its training bars; with checkpoint
    selection on, the last ``early_stopping_fraction`` of them score the checkpoints, and those
    bars are neither trained on nor part of the fold's validation stretch."""
    from tradeforge.config import DQNConfig
    from tradeforge.training import early_stopping_split

    window = 3
    split = SplitConfig(val_start="2014-01-01", test_start="2016-01-01", folds=2, gap=7)
    (fold, *_) = prepare(_spy(), FeatureConfig(), split, window).folds
    train, held = early_stopping_split(fold.train, DQNConfig())
    assert held is None and train is fold.train

    selecting = DQNConfig(eval_every=1000)
    train, held = early_stopping_split(fold.train, selecting)
    assert held is not None
    assert train.start == fold.train.start and train.end == held.start
    assert held.end == fold.train.end < fold.val.start
    assert held.num_bars == round(fold.train.num_bars * selecting.early_stopping_fraction)
