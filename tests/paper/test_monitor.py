"""The monitor: block-bootstrap cones, a calibrated CUSUM, and their verdict.

Checked to fail without their behaviour: with ``restart`` forced to all-True in
``stationary_bootstrap`` (an i.i.d. bootstrap) the block test sees runs of length 1; with
``first_alarm``'s CUSUM term removed it misses the slow bleed that ``judge`` demotes on; with the drawdown band
taken pointwise (``band = int(demote_level * samples)``) the band test's crossing share is
~5x the allowed 1%; with ``demote_bound``'s headroom term removed the headroom test's champion
is not demoted; with the tracker's CUSUM update missing ``- k`` the tracker test's verdicts
differ from ``judge``'s (a reference built 1000 bars longer than needed gives the same verdicts:
the prefix property the tracker relies on); with ``reference`` building afresh on every call
the reuse test sees a second build, and with the kept reference cut to its last rows instead of
its first its cut reference differs from one built afresh.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.paper.monitor import (
    MonitorConfig,
    Tracker,
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
    # The validation's maximum drawdown is ~18%: a 30% crash is ~1.66x it, past the 1.5x floor;
    # a 25% one (~1.38x) is within what the floor tolerates: a warning, not a demotion.
    crash = judge(validation, np.r_[np.full(5, 0.001), [-0.30], np.full(5, 0.001)], CFG)
    assert crash.status == "demote" and any("drawdown" in r for r in crash.reasons)
    dip = judge(validation, np.r_[np.full(5, 0.001), [-0.25], np.full(5, 0.001)], CFG)
    assert dip.status == "warning" and dip.drawdown_bound == 1.5 * dip.validation_max_drawdown
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


def test_the_tracker_judges_each_bar_as_judge_does_on_the_whole_record() -> None:
    """Carried bar to bar (equity, peak, drawdown, CUSUM) with one reference that it outgrows
    (rebuilt longer), the tracker's verdict after every bar equals ``judge`` on the record so
    far, field for field: 300 live bars, an edge that vanishes after 150."""
    rng = np.random.default_rng(11)
    validation = np.random.default_rng(7).normal(0.002, 0.004, 378)
    live = np.r_[rng.normal(0.002, 0.004, 150), rng.normal(-0.001, 0.006, 150)]
    cfg = MonitorConfig(samples=200, cusum_horizon=100)
    tracker = Tracker(validation, cfg, live[:3])
    statuses = set()
    for n in range(4, len(live) + 1):
        tracker.add(float(live[n - 1]))
        got, want = tracker.verdict(), judge(validation, live[:n], cfg)
        assert got == want, n
        statuses.add(got.status)
    assert {"ok", "demote"} <= statuses


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


def test_the_headroom_stop_demotes_while_one_more_bad_bar_could_pass_twice_the_drawdown() -> None:
    """A champion whose worst validation bar (-4%) is most of its maximum drawdown (~4.1%):
    after live losses to ~6.8% (1.655x, inside a 1.68x floor and the 1.7x hard stop) one more
    bar losing 0.4x that worst bar (the default headroom) would pass 2x, so it is demoted now,
    naming the headroom; without it, not."""
    validation = np.r_[np.tile([0.004, 0.003, -0.002, 0.001], 95), [-0.04]]
    worst = 0.04
    live = np.r_[np.full(5, 0.002), [-0.036, -0.033]]
    # A floor at 1.68x keeps the (narrow) bootstrap band out of the way: the stop is the headroom.
    cfg = CFG.replace(drawdown_floor=1.68)
    assert cfg.bar_headroom == 0.4 and cfg.drawdown_cap == 1.7
    ref = reference(validation, len(live), cfg)
    assert ref.worst_bar == pytest.approx(worst)
    # (1 - stop) (1 - 0.4 x 4%) = 1 - 2 x validation max drawdown: ~1.636x
    stop = 1 - (1 - 2 * ref.validation_max_drawdown) / (1 - 0.4 * worst)
    dd = float(drawdown_paths(live[None, :])[0, -1])
    assert stop < dd < 1.68 * ref.validation_max_drawdown < 2 * ref.validation_max_drawdown
    verdict = judge(validation, live, cfg)
    assert verdict.status == "demote" and verdict.drawdown_bound == pytest.approx(stop)
    assert any("one more bar losing 0.4 x the validation's worst bar" in r for r in verdict.reasons)
    assert judge(validation, live, cfg.replace(bar_headroom=0.0)).status != "demote"


def test_a_reference_is_built_once_per_record_and_cut_for_shorter_horizons(
    validation: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's monitor and its cone report ask for the same record's reference: the second
    ask reuses the first (cut to its horizon), equal field for field to one built afresh."""
    from dataclasses import fields

    from tradeforge.paper import monitor

    fresh = {h: monitor._build_reference(validation, h, CFG) for h in (30, 120)}
    real, built = monitor._build_reference, []
    monkeypatch.setattr(monitor, "_REFERENCES", {})
    monkeypatch.setattr(
        monitor, "_build_reference", lambda v, h, c: built.append(h) or real(v, h, c)
    )
    got = {h: reference(validation, h, CFG) for h in (120, 30)}
    assert built == [120]  # the 30-bar reference is the 120-bar one's first rows
    for h, ref in got.items():
        for f in fields(ref):
            assert np.array_equal(getattr(ref, f.name), getattr(fresh[h], f.name)), (h, f.name)
    with pytest.raises(ValueError, match="read-only"):  # shared: nobody may write into it
        got[30].cum_quantiles[0, 0] = 1.0
    reference(validation, 200, CFG)  # longer than kept: built again
    reference(validation * 1.5, 30, CFG)  # another record
    reference(validation, 30, CFG.replace(samples=400))  # another config
    assert built == [120, 200, 30, 30]
