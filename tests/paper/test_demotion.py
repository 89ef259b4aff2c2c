"""Demotion: the pointer moves (If-Match) to the previous champion or to none, the history says
why, and predict / serve / models show follow.

Checked to fail without their behaviour: with ``demote``'s ETag pre-check removed the tests
still pass (its If-Match write refuses the stale read by itself); with the pre-check removed and
the write made unconditional (no ``if_match``) the race test sees several demotions; with the tombstone check removed from ``promote`` (If-None-Match only), promoting after
a demotion to none is refused (If-None-Match on the tombstone) and recorded as a lost race; with the serve
change reverted (``if policy is None: return None``) the book keeps serving the demoted
champion. With ``watched_step`` ignoring the watch's demotions (the old batch behaviour: the
catch-up records all 30 bars with the always-long champion, then judges once) the catch-up test
fails on the 6th catch-up bar (always-long where daily runs had the momentum champion).
With ``watched_step`` starting with the run's policy instead of ``successor(None)`` (no
judgement of the records already in the ledger before the first new bar) the unjudged-record
test's new bar is decided by the demoted version.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from storage import open_store
from storage.registry import ModelRegistry
from tests.paper.helpers import publish_rule, spy_frame, write_source
from tradeforge.inference import NoChampionError, champion_policy
from tradeforge.paper.ledger import Ledger
from tradeforge.paper.monitor import monitor_champion
from tradeforge.paper.trader import step


@pytest.fixture(scope="module")
def frame():
    return spy_frame()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_uri")


def test_demote_to_previous_then_to_none_then_promote_again(frame, store, tmp_path) -> None:
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(store, frame, source, "always_long")
    second = publish_rule(store, frame, source, "momentum")
    registry = ModelRegistry(open_store(store))
    champ = registry.champion("SPY")
    assert champ.version_id == second.version_id and champ.previous == first.version_id

    done = registry.demote("SPY", second.version_id, "CUSUM 9.1 > 8.0", champ.etag, {"n": 1})
    assert done.moved and done.champion == first.version_id
    restored = registry.champion("SPY")
    assert restored.version_id == first.version_id and restored.previous is None
    assert restored.reason == "demoted: CUSUM 9.1 > 8.0"
    entry = registry.history("SPY")[-1]
    assert (entry["outcome"], entry["version_id"]) == ("demoted", second.version_id)
    assert entry["decision"]["restored"] == first.version_id
    assert entry["decision"]["evidence"] == {"n": 1}

    # The restored one demoted again: nothing before it, so no champion (a tombstone).
    done = registry.demote("SPY", first.version_id, "drawdown", restored.etag)
    assert done.moved and done.champion is None
    assert registry.champion("SPY") is None
    assert registry.demotion("SPY")["demoted"] == first.version_id
    with pytest.raises(NoChampionError, match=f"{first.version_id} was demoted: drawdown"):
        champion_policy("SPY", registry)

    # A new champion replaces the tombstone (If-Match on it), as a first promotion would.
    third = publish_rule(store, frame, source, "always_flat")
    assert registry.champion("SPY").version_id == third.version_id
    assert registry.demotion("SPY") is None


def test_a_stale_pointer_is_not_demoted(frame, store, tmp_path) -> None:
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(store, frame, source, "always_long")
    registry = ModelRegistry(open_store(store))
    read = registry.champion("SPY")
    publish_rule(store, frame, source, "momentum")  # promoted after the monitor read it
    done = registry.demote("SPY", first.version_id, "late", read.etag)
    assert not done.moved
    assert registry.champion("SPY").version_id != first.version_id
    assert [h["outcome"] for h in registry.history("SPY")] == ["promoted", "promoted"]


def test_a_pointer_rewritten_since_it_was_read_is_not_demoted(frame, store, tmp_path) -> None:
    """Same version, new pointer (re-promoted): the monitor's old ETag no longer matches."""
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(store, frame, source, "always_long")
    registry = ModelRegistry(open_store(store))
    read = registry.champion("SPY")
    assert registry.promote("SPY", first, {"promote": True, "reason": "again"}, read.etag)
    assert not registry.demote("SPY", first.version_id, "stale", read.etag).moved
    assert registry.champion("SPY").version_id == first.version_id


def test_racing_demotions_move_the_pointer_once(frame, s3_uri, tmp_path) -> None:
    """Eight monitors judge the same champion at once on SeaweedFS: one demotion, one entry."""
    import threading

    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(s3_uri, frame, source, "always_long")
    second = publish_rule(s3_uri, frame, source, "momentum")
    etag = ModelRegistry(open_store(s3_uri)).champion("SPY").etag
    barrier = threading.Barrier(8)
    moved: list[bool] = []

    def demote() -> None:
        registry = ModelRegistry(open_store(s3_uri))
        barrier.wait()
        moved.append(registry.demote("SPY", second.version_id, "race", etag).moved)

    threads = [threading.Thread(target=demote) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    registry = ModelRegistry(open_store(s3_uri))
    assert moved.count(True) == 1
    assert [h["outcome"] for h in registry.history("SPY")].count("demoted") == 1
    assert registry.champion("SPY").version_id == first.version_id


def test_a_previous_champion_that_fails_its_checksum_is_not_restored(frame, tmp_path) -> None:
    store = str(tmp_path / "store")
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(store, frame, source, "always_long")
    second = publish_rule(store, frame, source, "momentum")
    (tmp_path / "store" / first.prefix / "policy.npz").write_bytes(b"tampered")
    registry = ModelRegistry(open_store(store))
    done = registry.demote("SPY", second.version_id, "x", registry.champion("SPY").etag)
    assert done.moved and done.champion is None


def test_a_broken_live_record_demotes_and_everything_follows(frame, tmp_path) -> None:
    """An always-long SPY champion whose validation record promised 0.3% a bar with little
    noise: live SPY returns fall far short, the monitor demotes it to none; predict exits 1
    saying so, models show names it, a server stops serving it at its next poll."""
    from tradeforge.serving import ChampionBook

    store = str(tmp_path / "store")
    source = write_source(frame, tmp_path / "SPY.csv", 1600)
    promise = np.random.default_rng(3).normal(0.003, 0.002, 300).tolist()
    version = publish_rule(store, frame, source, "always_long", validation=promise)
    registry = ModelRegistry(open_store(store))
    book = ChampionBook(registry, tickers=("SPY",))
    book.refresh()
    assert book.policy("SPY").version_id == version.version_id
    ledger = Ledger(open_store(store), "SPY")
    step(frame.iloc[:1500], champion_policy("SPY", registry), ledger)
    verdicts = []
    for bars in range(1501, 1601):  # one paper run per new bar, as the daily flow does
        policy = champion_policy("SPY", registry)
        step(frame.iloc[:bars], policy, ledger)
        verdicts.append(monitor_champion(registry, "SPY"))
        if verdicts[-1]["status"] == "demote":
            break
    last = verdicts[-1]
    assert last["status"] == "demote" and last["demotion"]["moved"], last
    assert last["cum_return"] < last["expected_return"] and last["bars"] == len(verdicts)
    assert last["demotion"]["champion"] is None and len(verdicts) < 60
    assert {v["status"] for v in verdicts[:-1]} <= {"too_early", "ok", "warning"}
    assert registry.history("SPY")[-1]["outcome"] == "demoted"

    runner = CliRunner()
    done = runner.invoke(app, ["predict", "--ticker", "SPY", "--store", store])
    assert done.exit_code == 1 and "no champion for SPY" in done.output
    assert f"{version.version_id} was demoted: CUSUM" in done.output
    shown = runner.invoke(app, ["models", "show", "--ticker", "SPY", "--store", store])
    assert shown.exit_code == 1 and f"{version.version_id} was demoted" in shown.output
    shown = runner.invoke(
        app,
        ["models", "show", "--ticker", "SPY", "--store", store, "--version",
         version.version_id, "--json"],
    )  # fmt: skip
    history = json.loads(shown.stdout.strip().splitlines()[-1])["history"]
    assert history[-1]["outcome"] == "demoted" and "CUSUM" in history[-1]["decision"]["reason"]
    assert any("stopped serving" in m for m in book.refresh())
    with pytest.raises(LookupError, match="demoted"):
        book.policy("SPY")


def test_a_catch_up_demotes_on_the_breaking_bar_and_the_previous_champion_goes_on(
    frame, tmp_path
) -> None:
    """Issue 25's "monitoring after each record" when a run records many bars. A momentum
    champion, then an always-long one whose validation record promised 0.3% a bar with little
    noise: SPY's live bars break that promise within a few bars. Oracle: one run per bar (``step``
    then ``monitor_champion``, as daily runs do). A catch-up of the same 30 bars in one
    ``tradeforge paper`` run, and a replay of them, must give the same ledger bar for bar: the
    always-long champion demoted on the same bar, the momentum champion deciding every bar after
    it, from the position the demoted one left. The replay only simulates the demotion."""
    from tradeforge.paper.run import paper_ticker

    promise = np.random.default_rng(3).normal(0.003, 0.002, 300).tolist()

    def setup(name: str, bars: int) -> tuple[str, dict[str, str]]:
        store = str(tmp_path / name / "store")
        (tmp_path / name).mkdir()
        source = write_source(frame, tmp_path / name / "SPY.csv", bars)
        first = publish_rule(store, frame, source, "momentum")
        second = publish_rule(store, frame, source, "always_long", validation=promise)
        return store, {first.version_id: "momentum", second.version_id: "always_long"}

    def rows(ledger_frame, names: dict[str, str]) -> list[tuple]:
        return [
            (str(r.bar_time), names[r.version_id], r.position_before, r.position_after,
             None if np.isnan(r.net_return) else round(float(r.net_return), 12))
            for r in ledger_frame.itertuples()
        ]  # fmt: skip

    daily, daily_names = setup("daily", 1500)
    registry = ModelRegistry(open_store(daily))
    ledger = Ledger(open_store(daily), "SPY")
    demoted_at = None
    for bars in range(1500, 1531):
        step(frame.iloc[:bars], champion_policy("SPY", registry), ledger)
        verdict = monitor_champion(registry, "SPY")
        if verdict["status"] == "demote" and demoted_at is None:
            demoted_at = str(ledger.last().bar_time)
    want = rows(ledger.frame(), daily_names)
    names = [w[1] for w in want]
    assert demoted_at is not None and names.count("always_long") < 20, names
    cut = names.index("momentum")  # the first bar after the demoting one
    assert want[cut - 1][0] == demoted_at and set(names[cut:]) == {"momentum"}
    assert want[cut][2] == want[cut - 1][3] == 1.0  # takes over the long position

    store, catch_names = setup("catch", 1500)
    assert paper_ticker("SPY", store)["recorded"] == 1
    write_source(frame, tmp_path / "catch" / "SPY.csv", 1530)
    got = paper_ticker("SPY", store)
    assert (
        got["recorded"] == 30
        and rows(Ledger(open_store(store), "SPY").frame(), catch_names) == want
    )
    (demotion,) = got["demotions"]
    assert demotion["demotion"]["moved"] and demotion["demotion"]["bar"] == demoted_at
    assert catch_names[demotion["demotion"]["champion"]] == "momentum"
    assert catch_names[got["version_id"]] == "momentum"  # the version now trading
    assert got["monitor"] == demotion  # the momentum champion has no record to be judged by
    registry = ModelRegistry(open_store(store))
    assert catch_names[registry.champion("SPY").version_id] == "momentum"
    assert [h["outcome"] for h in registry.history("SPY")][-1] == "demoted"

    replayed, replay_names = setup("replay", 1530)
    start = str(frame["timestamp"].iloc[1499].date())
    got = paper_ticker("SPY", replayed, replay_from=start)
    replay = Ledger.replay(open_store(replayed), "SPY", start)
    assert rows(replay.frame(), replay_names) == want
    (demotion,) = got["demotions"]
    assert demotion["demotion"]["simulated"] and demotion["demotion"]["bar"] == demoted_at
    registry = ModelRegistry(open_store(replayed))
    assert replay_names[registry.champion("SPY").version_id] == "always_long"  # not moved
    assert "demoted" not in [h["outcome"] for h in registry.history("SPY")]


def test_a_record_left_unjudged_demotes_before_the_next_bar_is_decided(frame, tmp_path) -> None:
    """A run that recorded bars and died before judging them (``step`` alone here): the next
    run judges the ledger's records first, demotes on them (the demotion names the last
    recorded bar) and its first new bar is decided by the restored previous champion."""
    from tradeforge.paper.run import paper_ticker

    store = str(tmp_path / "store")
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    promise = np.random.default_rng(3).normal(0.003, 0.002, 300).tolist()
    first = publish_rule(store, frame, source, "momentum")
    second = publish_rule(store, frame, source, "always_long", validation=promise)
    registry = ModelRegistry(open_store(store))
    ledger = Ledger(open_store(store), "SPY")
    step(frame.iloc[:1500], champion_policy("SPY", registry), ledger)
    step(frame.iloc[:1515], champion_policy("SPY", registry), ledger)  # 15 more, never judged
    assert registry.champion("SPY").version_id == second.version_id
    unjudged = str(ledger.last().bar_time)
    write_source(frame, tmp_path / "SPY.csv", 1516)
    got = paper_ticker("SPY", store)
    (demotion,) = got["demotions"]
    assert demotion["demotion"]["moved"] and demotion["demotion"]["bar"] == unjudged
    (new,) = ledger.frame().tail(1).itertuples()
    assert got["recorded"] == 1 and new.version_id == first.version_id
    assert registry.champion("SPY").version_id == first.version_id
