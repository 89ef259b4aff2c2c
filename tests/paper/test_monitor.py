"""The monitor: block-bootstrap cones, a calibrated CUSUM, and their verdict.

Checked to fail without their behaviour: with ``restart`` forced to all-True in
``stationary_bootstrap`` (an i.i.d. bootstrap) the block test sees runs of length 1; with
``first_alarm``'s CUSUM term removed it misses the slow bleed that ``judge`` demotes on; with the drawdown band
taken pointwise (``band = int(demote_level * samples)``) the band test's crossing share is
~5x the allowed 1%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.paper.monitor import (
    MonitorConfig,
    cusum,
    drawdown_paths,
    first_alarm,
    judge,
    live_returns,
    reference,
    stationary_bootstrap,
)

CFG = MonitorConfig(samples=500)


@pytest.fixture(scope="module")
def validation() -> np.ndarray:
    """A year and a half of a decent strategy: mean 0.1%, sd 1% a bar."""
    return np.random.default_rng(7).normal(0.001, 0.01, 378)


def test_stationary_bootstrap_keeps_blocks_and_prefixes() -> None:
    r = np.arange(100, dtype=np.float64)
    paths = stationary_bootstrap(r, 300, 200, 10.0, seed=3)
    assert paths.shape == (200, 300) and set(np.unique(paths)) <= set(r)
    follows = np.mean(np.diff(paths, axis=1) % 100 == 1)
    assert 0.85 < follows < 0.95  # a new block on ~1 bar in 10 (mean block length 10)
    # The same seed's shorter horizon is the start of the longer one (judge == first_alarm).
    np.testing.assert_array_equal(stationary_bootstrap(r, 70, 200, 10.0, seed=3), paths[:, :70])


def test_drawdown_and_cusum_by_hand() -> None:
    dd = drawdown_paths(np.array([[0.1, -0.5, 0.2, 0.5]]))[0]
    np.testing.assert_allclose(dd, [0.0, 0.5, 0.5, 0.5])  # 1.1 -> 0.55 -> 0.66 -> 0.99
    s = cusum(np.array([-1.0, -1.0, 2.0, -0.5]), 0.5)
    np.testing.assert_allclose(s, [0.5, 1.0, 0.0, 0.0])


def test_the_drawdown_band_holds_over_the_whole_horizon(validation) -> None:
    """Fresh bootstrap paths cross the demotion band anywhere in 252 bars about 1% of the
    time (a pointwise 99% quantile is crossed somewhere far more often)."""
    ref = reference(validation, 252, CFG.replace(drawdown_cap=None))  # the band alone
    fresh = stationary_bootstrap(validation, 252, 4000, ref.block, seed=99)
    dd = drawdown_paths(fresh)
    crossed = (dd[:, CFG.min_bars - 1 :] > ref.drawdown_quantiles[CFG.min_bars - 1 :, 1]).any(1)
    assert crossed.mean() < 0.025
    assert np.all(np.diff(ref.drawdown_quantiles[:, 1]) >= 0)  # a wider bound as time goes on


def test_verdicts(validation) -> None:
    rng = np.random.default_rng(11)
    same = judge(validation, rng.normal(0.001, 0.01, 120), CFG)
    assert same.status == "ok" and same.reasons == []
    assert judge(validation, rng.normal(0.001, 0.01, 3), CFG).status == "too_early"
    bleed = judge(validation, rng.normal(-0.004, 0.01, 120), CFG)
    assert bleed.status == "demote" and any(r.startswith("CUSUM") for r in bleed.reasons)
    crash = judge(validation, np.r_[np.full(5, 0.001), [-0.25], np.full(5, 0.001)], CFG)
    assert crash.status == "demote" and any("drawdown" in r for r in crash.reasons)
    boom = judge(validation, np.full(60, 0.01), CFG)  # far above the cone: odd, not harmful
    assert boom.status == "warning" and "outside the 95% cone" in boom.reasons[0]


def test_first_alarm_is_judge_after_every_bar() -> None:
    """A strong edge (mean 0.2%, sd 0.4% a bar) that vanishes after 40 live bars: the CUSUM
    alarms while the drawdown is still inside its band, and ``first_alarm`` finds the bar
    ``judge`` would demote on."""
    rng = np.random.default_rng(5)
    validation = np.random.default_rng(7).normal(0.002, 0.004, 378)
    live = np.r_[rng.normal(0.002, 0.004, 40), rng.normal(0.0, 0.004, 200)]
    cfg = MonitorConfig(samples=200, k_share=0.5, drawdown_cap=None)  # tuned to "edge gone"
    alarm = first_alarm(validation, live, cfg)
    assert alarm is not None and alarm > 40
    assert judge(validation, live[: alarm - 1], cfg).status != "demote"
    verdict = judge(validation, live[:alarm], cfg)
    assert verdict.status == "demote" and len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("CUSUM") and verdict.max_drawdown < verdict.drawdown_bound


def test_live_returns_are_the_current_champions_since_it_took_over() -> None:
    frame = pd.DataFrame(
        {
            "version_id": ["A", "A", "B", "B", "A", "A", "A"],
            "net_return": [np.nan, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        }
    )
    # A took over again on row 4: its decisions there and on row 5 settled in rows 5 and 6.
    np.testing.assert_allclose(live_returns(frame, "A"), [0.5, 0.6])
    assert live_returns(frame, "B").size == 0  # B is not the one trading now
