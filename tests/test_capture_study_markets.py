"""Issue 28's capture-study families (benchmarks/synthetic.py): structure, causal rules, variants."""

from __future__ import annotations

import numpy as np

from benchmarks import synthetic
from benchmarks.agent_study import config
from tradeforge.config import DQNConfig, EnvConfig, FeatureConfig


def _log_returns(frame) -> np.ndarray:
    return np.diff(np.log(frame["close"].to_numpy()), prepend=np.log(100.0))


def test_weekday_market_drifts_on_tuesdays_and_wednesdays_and_its_rule_holds_them() -> None:
    frame = synthetic.make("weekday", 0)
    weekday = frame["timestamp"].dt.dayofweek.to_numpy() + 1
    r = _log_returns(frame)
    on = np.isin(weekday, (2, 3))
    assert r[on].mean() - r[~on].mean() > 0.003  # +0.3% against -0.1%, noise sd 1%
    rule = synthetic.weekday_rule(frame)
    # Long at bar t exactly when bar t + 1 is a Tuesday or Wednesday session.
    np.testing.assert_array_equal(rule[:-1], on[1:].astype(np.int8))
    assert rule[-1] == 0


def test_crash_drift_keeps_falling_after_a_crash_and_its_rule_sits_it_out() -> None:
    frame = synthetic.make("crash_drift", 0)
    r = _log_returns(frame)
    rule = synthetic.after_crash_rule(frame)
    flat = np.flatnonzero(rule == 0)
    assert len(flat) > 0
    starts = flat[np.r_[True, np.diff(flat) > 1]]
    following = np.concatenate([r[s + 1 : s + 4] for s in starts if s + 4 < len(r)])
    assert following.mean() < -0.003  # the slide the rule avoids; the drift elsewhere is +0.16%
    assert r[rule == 1].mean() > 0.0


def test_after_crash_rule_is_causal() -> None:
    frame = synthetic.make("crash_drift", 1)
    before = synthetic.after_crash_rule(frame)
    cut = 1_200
    changed = frame.copy()
    changed.loc[cut + 1 :, "close"] *= 0.9  # a crash on the first bar after the cut
    after = synthetic.after_crash_rule(changed)
    np.testing.assert_array_equal(before[: cut + 1], after[: cut + 1])
    assert not np.array_equal(before[cut + 1 :], after[cut + 1 :])


def test_capture_variants_change_only_the_features() -> None:
    env, dqn, _, features = config("c28_both")
    assert env == EnvConfig()
    assert dqn == DQNConfig()
    assert features.features[: len(FeatureConfig().features)] == FeatureConfig().features
    assert {"dow_1", "dow_5", "shock_20_3_5"} <= set(features.features)
    assert synthetic.CAPTURE_STUDY == ("weekday", "crash_drift")
    assert "weekday" not in synthetic.STRUCTURED  # the learning suite's markets are unchanged
