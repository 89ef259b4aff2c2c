"""Paper trading bar by bar: catch-up, change-over, settlement by the backtest's simulator, and
replay = backtest.

How each was checked to fail without its behaviour (then restored):
- catch-up equals daily runs: with ``first_bar`` returning ``market.end - 1`` for a non-empty
  ledger (record the latest bar only) the catch-up ledger misses 7 of the 8 bars.
- change-over: with ``position = 0`` (every champion starting flat) in ``decide_bar`` the
  always-long successor pays a phantom buy (``traded`` True, cost > 0) and the assertion fails.
- replay parity: with ``settle`` using ``position`` (after) for ``place`` instead of the position
  held before, the net returns differ from the evaluation's on every trade (~1e-3).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from storage import open_store
from tests.paper.helpers import champion, publish_rule, spy_frame, write_source
from tradeforge.paper.ledger import Ledger, LedgerConflict, LedgerError
from tradeforge.paper.trader import card_env, paper_market, settle, step

DECISION = ["bar_time", "version_id", "action", "position_before", "position_after",
            "traded", "fill_price", "cost", "net_return", "equity", "obs_sha256"]  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return spy_frame()


@pytest.fixture
def source(frame, tmp_path) -> str:
    return write_source(frame, tmp_path / "SPY.csv", 1500)


def test_first_run_records_the_latest_bar_flat(frame, source, tmp_path) -> None:
    store = str(tmp_path / "store")
    version = publish_rule(store, frame, source, "always_long")
    ledger = Ledger(open_store(store), "SPY")
    (first,) = step(frame.iloc[:1500], champion(store), ledger, run_id="r1")
    assert first.bar_time == frame["timestamp"].iloc[1499]
    assert (first.position_before, first.action, first.position_after) == (0.0, 1, 1.0)
    assert first.equity == 1.0 and first.net_return is None and first.prev_bar_time is None
    assert first.version_id == version.version_id and len(first.card_sha256) == 64
    assert first.policy_sha256 == champion(store).card["files"]["policy.npz"]["sha256"]
    # Nothing new: a second run of the same bars records nothing and writes nothing.
    assert step(frame.iloc[:1500], champion(store), ledger, run_id="r2") == []
    assert len(ledger.keys()) == 1


def test_catch_up_equals_one_run_per_bar(frame, source, tmp_path) -> None:
    """A worker down for 8 bars records them in order on its next run, exactly as 8 daily
    runs would have; holidays have no bar, so no record."""
    store = str(tmp_path / "store")
    publish_rule(store, frame, source, "momentum")
    policy = champion(store)
    daily = Ledger(open_store(store), "SPY", root="daily")
    late = Ledger(open_store(store), "SPY", root="late")
    for bars in range(1500, 1509):
        step(frame.iloc[:bars], policy, daily)
    step(frame.iloc[:1500], policy, late)
    caught = step(frame.iloc[:1508], policy, late)
    assert len(caught) == 8
    a, b = daily.frame()[DECISION], late.frame()[DECISION]
    pd.testing.assert_frame_equal(a, b)
    assert list(b["bar_time"]) == list(frame["timestamp"].iloc[1499:1508])
    assert b["position_before"].iloc[1:].tolist() == b["position_after"].iloc[:-1].tolist()
    assert b["traded"].sum() > 0  # the momentum rule trades in these bars


def test_a_new_champion_takes_over_the_paper_position(frame, source, tmp_path) -> None:
    """always-long, then another always-long (no trade: it already holds long), then
    always-flat (one real sale, paid once)."""
    store = str(tmp_path / "store")
    first = publish_rule(store, frame, source, "always_long")
    ledger = Ledger(open_store(store), "SPY")
    step(frame.iloc[:1500], champion(store), ledger)
    step(frame.iloc[:1502], champion(store), ledger)
    second = publish_rule(store, frame, source, "always_long", env={"commission": 0.002})
    step(frame.iloc[:1504], champion(store), ledger)
    third = publish_rule(store, frame, source, "always_flat")
    step(frame.iloc[:1507], champion(store), ledger)
    got = ledger.frame()
    assert (
        got["version_id"].tolist()
        == [first.version_id] * 3 + [second.version_id] * 2 + [third.version_id] * 3
    )
    # The buy of the first record filled at the next open; nothing else traded until the sale.
    assert got["traded"].tolist() == [False, True, False, False, False, False, True, False]
    takeover = got.iloc[3]
    assert takeover["position_before"] == 1.0 and takeover["position_after"] == 1.0
    assert got["cost"].iloc[4] == 0.0  # holding long across the change-over costs nothing
    sale = got.iloc[6]
    assert sale["cost"] > 0 and sale["fill_price"] == frame["open"].iloc[1505]
    assert got["position_after"].iloc[-1] == 0.0 and got["net_return"].iloc[-1] == 0.0


def test_settlement_is_the_simulators_step(frame, source, tmp_path) -> None:
    """A buy fills at the next open with commission and slippage, as the backtest fills it."""
    store = str(tmp_path / "store")
    publish_rule(store, frame, source, "always_long", env={"commission": 0.001, "slippage": 0.002})
    policy = champion(store)
    market = paper_market(frame, policy)
    env = card_env(policy.card)
    t = 1000
    got = settle(market, env, t, 0, 1)
    expected = (1 - 0.001) / (1 + 0.002) * market.close[t + 1] / market.open[t + 1] - 1
    assert got.traded and got.fill_price == market.open[t + 1]
    assert got.net_return == pytest.approx(expected, abs=1e-12)
    assert got.cost == pytest.approx(market.close[t + 1] / market.open[t + 1] - 1 - expected)
    held = settle(market, env, t, 1, 1)
    assert not held.traded and held.cost == 0.0
    assert held.net_return == pytest.approx(market.close[t + 1] / market.close[t] - 1, abs=1e-15)


def test_a_source_that_lost_the_recorded_bar_is_refused(frame, source, tmp_path) -> None:
    store = str(tmp_path / "store")
    publish_rule(store, frame, source, "momentum")
    ledger = Ledger(open_store(store), "SPY")
    step(frame.iloc[:1500], champion(store), ledger)
    rewritten = frame.iloc[:1505].drop(index=1499)
    with pytest.raises(LedgerError, match=r"last bar .* is not among the source.s bars"):
        step(rewritten, champion(store), ledger)
    assert len(ledger.keys()) == 1


def test_a_different_decision_for_a_recorded_bar_is_a_conflict(frame, source, tmp_path) -> None:
    store = str(tmp_path / "store")
    publish_rule(store, frame, source, "always_long")
    ledger = Ledger(open_store(store), "SPY")
    (rec,) = step(frame.iloc[:1500], champion(store), ledger)
    with pytest.raises(LedgerConflict, match="already recorded"):
        ledger.append(replace(rec, action=0, position_after=0.0))


def test_replay_equals_the_evaluation_on_the_test_window(tmp_path) -> None:
    """A seeded Q-network published as champion: its evaluation on the test window (the
    evaluation stage's ``evaluate`` with the Keras agent) and a replay from the test start
    through the paper loop hold the same positions and net returns to 1e-9."""
    from tests.predict.champions import SPY, publish
    from tradeforge.evaluation import evaluate

    frame = spy_frame()
    got = publish(str(tmp_path / "store"), frame, str(SPY), seed=5, workdir=tmp_path)
    policy = champion(got.store)
    env = card_env(policy.card)
    test = got.prepared.test
    episode = evaluate(got.agent, test, env, periods_per_year=252).episode
    assert episode.trades >= 4, "the parity test needs trades to mean anything"
    start = got.prepared.boundaries["test_start"]
    ledger = Ledger.replay(open_store(got.store), "SPY", start)
    records = step(frame, policy, ledger, start=start, run_id="replay")
    paper = ledger.frame()
    assert len(records) == len(paper) == test.num_bars
    assert list(paper["bar_time"].dt.tz_convert(None)) == list(pd.to_datetime(episode.timestamps))
    np.testing.assert_array_equal(paper["position_before"].to_numpy(), episode.positions)
    np.testing.assert_allclose(
        paper["net_return"].to_numpy()[1:], episode.returns, rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        paper["equity"].to_numpy(), episode.net_worth / episode.net_worth[0], rtol=1e-9
    )
    assert int(paper["traded"].sum()) == episode.trades - int(
        paper["position_after"].iloc[-1] != paper["position_before"].iloc[-1]
    )
