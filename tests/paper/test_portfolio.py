"""Paper trading for a portfolio champion (issue 27): one ledger record per (universe, bar).

Local store: first record, catch-up = one run per bar, idempotency, the folder as one Parquet
dataset, change-over from the current paper weights, replay = the portfolio evaluation to 1e-9,
the monitor judging after each record (a catch-up and a replay through a break = daily runs row
for row; records a crashed run left unjudged), a tampered champion passed over for the previous
one. SeaweedFS: 16 racing writers of one bar.
CLI: a bad bar in one asset records nothing for the universe and names asset and rule, without
TensorFlow, Prefect or great-expectations; the flow (real Prefect harness) the same through the
great-expectations suite, then a catch-up and a demotion with its event.

How each was checked to fail without its behaviour (then restored), each run and seen:
- catch-up: ``first_bar`` returning the latest bar for a non-empty ledger -> the catch-up run
  jumps to the latest bar and is refused ("does not follow the recorded bar").
- idempotency / race: ``if_none_match=True`` dropped from ``Ledger.append`` -> the retried
  record is written again (``True is False``) and the race test sees 16 winners.
- change-over: ``before = np.zeros(n)`` when the version changes in ``decide_portfolio_bar``
  -> the takeover record holds no weights (``0.0 > 0.99``).
- replay parity: settling from ``weights_after`` instead of ``weights_before`` (no rebalancing
  paid) -> 93 of 97 net returns differ, by up to 2.1e-3.
- monitor: ``monitor_portfolio`` without the ``ledger=`` hook (the tickers' ledger read) ->
  ``too_early``, nothing demoted.
- judged after each record (catch-up oracle): main's ``tradeforge/paper/portfolio.py`` (record
  the whole batch, judge once) -> the catch-up's 7th row is always-long where daily runs had
  momentum (7 of 13 rows differ); the same with ``watched_step`` ignoring the watch's
  demotions (``if False and len(watch.demotions) > seen``).
- unjudged records: ``watched_step`` starting with the run's policy (``first = policy``
  instead of ``successor(None)``) -> the new bar is decided by the demoted always-long.
- flow: ``portfolio_record_task`` given ``monitor=False`` -> no verdicts recorded, the
  universe fails (``KeyError: 'monitor'``); ``watched_step`` ignoring demotions -> all 12 bars
  recorded by the demoted champion (``12 < 12``).
- bad bar: ``check_bars`` skipped in ``latest_frames`` -> the bad A1 bar is recorded (exit 0);
  in the flow, ``validate_task`` skipped -> no ``PaperRunFailed``.
- imports: ``import great_expectations`` in ``cli/paper_portfolio.py`` -> the import check fails.
- tampered champion: ``trading_policy``'s fallback disabled -> IntegrityError, nothing trades.
- flow event: ``emit_event`` skipped in ``portfolio_monitor_task`` -> no demoted event seen;
  the cone artifact skipped in ``portfolio_report_task`` -> only the table artifact is found.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from storage import open_store
from tests.paper.helpers import append_bad_bar
from tests.paper.portfolio_helpers import (
    BARS,
    SPLIT,
    TICKERS,
    publish_portfolio_rule,
    universe,
    write_universe,
)
from tests.paper.test_ledger import check_one_winner, race_appends
from tests.paper.test_paper_flow import captured_events  # noqa: F401 - a fixture
from tradeforge.paper.ledger import LedgerConflict
from tradeforge.paper.portfolio import (
    PortfolioLedger,
    PortfolioRecord,
    paper_portfolio,
    portfolio_registry_of,
    step_portfolio,
)
from tradeforge.portfolio.predict import latest_frames

ROOT = Path(__file__).resolve().parents[2]
DECISION = ["bar_time", "version_id", "weights_before", "weights_after", "positions",
            "hold_bars", "turnover", "cost", "net_return", "equity", "obs_sha256"]  # fmt: skip
FIRST = 600  # bars in the feed at the first run


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return universe()


def _ledger(store: str, root: str = "ledger") -> PortfolioLedger:
    return PortfolioLedger(open_store(store), "mom3", root=root)


def test_records_catch_up_in_order_idempotently_as_one_parquet_dataset(frames, tmp_path) -> None:
    bars, store = tmp_path / "bars", str(tmp_path / "store")
    source = write_universe(frames, bars, FIRST)
    version = publish_portfolio_rule(store, frames, source, "momentum")
    first = paper_portfolio("mom3", store)
    assert first["recorded"] == 1 and first["equity"] == 1.0
    (rec,) = _ledger(store).records()
    assert rec.bar_time == frames["A0"]["timestamp"].iloc[FIRST - 1]
    assert rec.tickers == TICKERS and rec.weights_before == (0.0, 0.0, 0.0)
    assert rec.cash_before == 1.0 and rec.net_return is None and rec.prev_bar_time is None
    assert rec.version_id == version.version_id and len(rec.obs_sha256) == 64
    assert first["monitor"]["status"] == "unmonitored"  # its card records no validation returns

    # A worker down for 5 bars, against one that ran every bar (a ledger of its own root).
    daily, policy = _ledger(store, root="daily"), _policy(store)
    for n in range(FIRST, FIRST + 6):
        write_universe(frames, bars, n)
        step_portfolio(latest_frames(policy, None), policy, daily)
    caught = paper_portfolio("mom3", store)
    assert caught["recorded"] == 5
    late = _ledger(store).frame()
    pd.testing.assert_frame_equal(late[DECISION], daily.frame()[DECISION])
    times = list(frames["A0"]["timestamp"].iloc[FIRST - 1 : FIRST + 5])
    assert list(late["bar_time"].dt.tz_convert(None)) == [t.tz_localize(None) for t in times]
    assert late["prev_bar_time"].iloc[1:].tolist() == late["bar_time"].iloc[:-1].tolist()
    # Each record's holdings are the previous target drifted by the prices, with cash: sum 1.
    held = np.array(late["weights_before"].tolist()).sum(axis=1) + late["cash_before"]
    np.testing.assert_allclose(held, 1.0, atol=1e-12)
    assert (late["turnover"].iloc[1:] > 0).any()  # the momentum rule trades in these bars
    equity = np.cumprod(1.0 + late["net_return"].fillna(0.0).to_numpy())
    np.testing.assert_allclose(late["equity"], equity, rtol=1e-12)

    # Idempotent: nothing new, nothing written; the same record again is a no-op, another
    # decision for a recorded bar a conflict that leaves it as it was.
    keys = _ledger(store).keys()
    assert paper_portfolio("mom3", store)["recorded"] == 0 and _ledger(store).keys() == keys
    last = _ledger(store).last()
    assert _ledger(store).append(replace(last, run_id="retry")) is False
    with pytest.raises(LedgerConflict, match="weights_after"):
        _ledger(store).append(replace(last, weights_after=(1.0, 0.0, 0.0)))
    assert _ledger(store).last() == last
    # The folder is one Parquet dataset (pandas reads it directly).
    direct = pd.read_parquet(Path(store) / "ledger" / "portfolio" / "mom3")
    assert len(direct) == 6 and list(direct["tickers"].iloc[0]) == list(TICKERS)


def _policy(store: str):
    from tradeforge.inference import champion_policy

    return champion_policy("mom3", portfolio_registry_of(store))


def test_a_new_champion_takes_over_the_paper_weights(frames, tmp_path) -> None:
    """always-long 1/N, then another always-long (keeps the holdings: only the prices' drift
    is rebalanced), then always-flat (one real sale of everything)."""
    bars, store = tmp_path / "bars", str(tmp_path / "store")
    write_universe(frames, bars, FIRST)
    kw = {"allocation": "equal"}
    first = publish_portfolio_rule(store, frames, str(bars), "always_long", **kw)
    paper_portfolio("mom3", store)
    write_universe(frames, bars, FIRST + 2)
    paper_portfolio("mom3", store)
    second = publish_portfolio_rule(store, frames, str(bars), "always_long", **kw)
    write_universe(frames, bars, FIRST + 4)
    paper_portfolio("mom3", store)
    third = publish_portfolio_rule(store, frames, str(bars), "always_flat", **kw)
    write_universe(frames, bars, FIRST + 6)
    paper_portfolio("mom3", store)
    got = _ledger(store).frame()
    versions = [first.version_id] * 3 + [second.version_id] * 2 + [third.version_id] * 2
    assert got["version_id"].tolist() == versions
    takeover = got.iloc[3]  # decided by the second champion from the first one's holdings
    assert sum(takeover["weights_before"]) > 0.99 and tuple(takeover["positions"]) == (1, 1, 1)
    assert got["turnover"].iloc[1] > 0.99  # the first champion's buy from cash
    assert got["turnover"].iloc[4] < 0.05  # no phantom buy at the change-over: only the drift
    sale = got.iloc[6]
    assert sale["turnover"] > 0.99 and sale["cost"] > 0
    assert sum(sale["weights_after"]) == 0.0 and sale["cash_after"] == 1.0


def test_replay_equals_the_portfolio_evaluation_on_the_test_window(frames, tmp_path) -> None:
    """The evaluation stage's own scoring (``evaluate_allocator`` over the last fold's test
    window, costs and ``min_hold`` from the card) and a replay from the test start through the
    paper loop: the same target weights and net returns to 1e-9."""
    from tests.predict.champions import WINDOW
    from tradeforge.config import FeatureConfig
    from tradeforge.paper.trader import card_env
    from tradeforge.portfolio.allocator import evaluate_allocator
    from tradeforge.portfolio.market import prepare_portfolio

    bars, store = tmp_path / "bars", str(tmp_path / "store")
    source = write_universe(frames, bars, BARS)
    publish_portfolio_rule(store, frames, source, "momentum")
    policy = _policy(store)
    test = prepare_portfolio(frames, FeatureConfig(), SPLIT, WINDOW).last.test
    card = policy.card
    episode = evaluate_allocator(
        policy, test, card_env(card), allocation=card["allocation"],
        vol_lookback=card["vol_lookback"],
    )  # fmt: skip
    assert (episode.turnover > 0).sum() >= 20, "the parity test needs trades to mean anything"
    start = str(pd.Timestamp(test.timestamps[test.start]).date())
    out = CliRunner().invoke(
        app, ["paper", "--portfolio", "mom3", "--store", store, "--replay", "--from", start]
    )
    assert out.exit_code == 0, out.output
    paper = PortfolioLedger.replay(open_store(store), "mom3", start).frame()
    assert len(paper) == len(episode.timestamps)
    assert list(paper["bar_time"].dt.tz_convert(None)) == list(pd.to_datetime(episode.timestamps))
    weights = np.array(paper["weights_after"].tolist())[:-1]
    np.testing.assert_allclose(weights, episode.weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(paper["net_return"].to_numpy()[1:], episode.returns, atol=1e-9)
    np.testing.assert_allclose(paper["turnover"].to_numpy()[1:], episode.turnover, atol=1e-9)
    np.testing.assert_allclose(
        paper["equity"].to_numpy(), episode.net_worth / episode.net_worth[0], rtol=1e-9
    )
    assert _ledger(store).keys() == []  # a replay leaves the live ledger alone


#: The card of a champion that promised far more than the synthetic universe gives.
PROMISED = np.random.default_rng(0).normal(0.004, 0.001, 400).tolist()
CATCH_UP = 12  # bars of the catch-up after the first run


def _rows(store: str, root: str = "ledger", name: str = "mom3") -> pd.DataFrame:
    frame = PortfolioLedger(open_store(store), name, root=root).frame()
    return frame[DECISION].reset_index(drop=True)


def _two_champions(frames, folder: Path, bars: int) -> tuple[str, dict[str, str]]:
    """A momentum champion, then an always-long one whose card promised ``PROMISED``; the
    store, and version id -> rule."""
    store = str(folder / "store")
    source = write_universe(frames, folder / "bars", bars)
    first = publish_portfolio_rule(store, frames, source, "momentum")
    second = publish_portfolio_rule(store, frames, source, "always_long", validation=PROMISED)
    return store, {first.version_id: "momentum", second.version_id: "always_long"}


def test_a_catch_up_demotes_on_the_breaking_bar_and_the_previous_champion_goes_on(
    frames, tmp_path
) -> None:
    """Issue 25's "monitoring after each record" for a universe. Oracle: one run per bar
    (``step_portfolio`` then ``monitor_champion`` on the universe's ledger, as daily runs did
    before and still do). A catch-up of the same bars in one ``paper_portfolio`` run, and a
    replay of them, give the same records row for row: the always-long champion demoted on the
    same bar, the restored momentum champion deciding every bar after it from the weights the
    demoted one left. The replay only simulates the demotion; the live run moves the pointer
    and says so once, with the bar."""
    from tradeforge.inference import champion_policy
    from tradeforge.paper.monitor import monitor_champion

    daily, names = _two_champions(frames, tmp_path / "daily", FIRST)
    registry, ledger = portfolio_registry_of(daily), _ledger(daily)
    demoted_at = None
    for n in range(FIRST, FIRST + CATCH_UP + 1):
        write_universe(frames, tmp_path / "daily" / "bars", n)
        policy = champion_policy("mom3", registry)
        step_portfolio(latest_frames(policy, None), policy, ledger)
        verdict = monitor_champion(registry, "mom3", ledger=ledger)
        if verdict["status"] == "demote" and demoted_at is None:
            demoted_at = str(ledger.last().bar_time)
    want = _rows(daily)
    rules = want["version_id"].map(names).tolist()
    cut = rules.index("momentum")  # the first bar after the demoting one
    assert demoted_at == str(want["bar_time"].iloc[cut - 1]), rules
    assert 1 < cut < CATCH_UP and set(rules[cut:]) == {"momentum"}, rules
    takeover = want.iloc[cut]  # holds what always-long left: a real change of weights next
    assert sum(takeover["weights_before"]) > 0.99 and want["turnover"].iloc[cut + 1] > 0

    store, caught_names = _two_champions(frames, tmp_path / "catch", FIRST)
    assert paper_portfolio("mom3", store)["recorded"] == 1
    write_universe(frames, tmp_path / "catch" / "bars", FIRST + CATCH_UP)
    got = paper_portfolio("mom3", store)
    assert got["recorded"] == CATCH_UP
    pd.testing.assert_frame_equal(
        _rows(store).assign(version_id=lambda f: f["version_id"].map(caught_names)),
        want.assign(version_id=rules),
    )
    (demotion,) = got["demotions"]
    assert demotion["portfolio"] == "mom3" and "ticker" not in demotion
    assert demotion["demotion"]["moved"] and demotion["demotion"]["bar"] == demoted_at
    assert caught_names[demotion["demotion"]["champion"]] == "momentum"
    assert caught_names[got["version_id"]] == "momentum"  # the version deciding now
    registry = portfolio_registry_of(store)
    assert caught_names[registry.champion("mom3").version_id] == "momentum"
    assert [h["outcome"] for h in registry.history("mom3")][-1] == "demoted"
    # `tradeforge ledger --portfolio` shows the record and the (read-only) verdict.
    out = CliRunner().invoke(app, ["ledger", "--portfolio", "mom3", "--store", store, "--json"])
    assert out.exit_code == 0, out.output
    view = json.loads(out.output.strip().splitlines()[-1])
    assert view["bars"] == CATCH_UP + 1 and set(view["records"][-1]["weights_after"]) == {*TICKERS, "cash"}  # fmt: skip
    assert caught_names[view["monitor"]["version_id"]] == "momentum"

    replayed, replay_names = _two_champions(frames, tmp_path / "replay", FIRST + CATCH_UP)
    start = str(frames["A0"]["timestamp"].iloc[FIRST - 1].date())
    out = CliRunner().invoke(
        app, ["paper", "--portfolio", "mom3", "--store", replayed, "--replay", "--from", start]
    )
    assert out.exit_code == 0 and "demoted (simulated: a replay)" in out.output, out.output
    replay = _rows(replayed, root=f"replay/{start}")
    pd.testing.assert_frame_equal(
        replay.assign(version_id=lambda f: f["version_id"].map(replay_names)),
        want.assign(version_id=rules),
    )
    registry = portfolio_registry_of(replayed)
    assert replay_names[registry.champion("mom3").version_id] == "always_long"  # not moved
    assert "demoted" not in [h["outcome"] for h in registry.history("mom3")]


def test_records_left_unjudged_demote_before_the_next_bar_is_decided(frames, tmp_path) -> None:
    """A run that recorded bars and died before judging them (``step_portfolio`` alone): the
    next run judges the ledger's records first, demotes on them (the demotion names the last
    recorded bar) and its one new bar is decided by the restored momentum champion."""
    store, names = _two_champions(frames, tmp_path, FIRST + 10)
    registry, ledger = portfolio_registry_of(store), _ledger(store)
    policy = _policy(store)
    bars = latest_frames(policy, None)
    step_portfolio({t: f.iloc[:FIRST] for t, f in bars.items()}, policy, ledger)
    step_portfolio(bars, policy, ledger)  # 10 more bars, never judged
    unjudged = str(ledger.last().bar_time)
    assert names[registry.champion("mom3").version_id] == "always_long"
    write_universe(frames, tmp_path / "bars", FIRST + 11)
    got = paper_portfolio("mom3", store)
    (demotion,) = got["demotions"]
    assert demotion["demotion"]["moved"] and demotion["demotion"]["bar"] == unjudged
    assert got["recorded"] == 1 and names[ledger.last().version_id] == "momentum"
    assert names[registry.champion("mom3").version_id] == "momentum"


def _record(run_id: str, q: float) -> PortfolioRecord:
    ts = pd.Timestamp("2024-01-02", tz="UTC")
    return PortfolioRecord(
        portfolio="mom3", bar_time=ts, decided_at=pd.Timestamp.now(tz="UTC"), run_id=run_id,
        version_id="20260101T120000000000Z-0a1b2c3d", agent="dqn", card_sha256="c" * 64,
        policy_sha256="p" * 64, obs_sha256="o" * 64, tickers=TICKERS, q_flat=(0.1, 0.2, 0.3),
        q_long=(q, 0.0, 0.0), actions=(1, 0, 0), positions=(1, 0, 0), hold_bars=(1, 3, 3),
        weights_before=(0.0, 0.0, 0.0), cash_before=1.0, weights_after=(1 / 3, 0.0, 0.0),
        cash_after=2 / 3, closes=(100.0, 50.0, 20.0), prev_bar_time=None, turnover=None,
        fill_prices=None, cost=None, net_return=None, equity=1.0,
    )  # fmt: skip


@pytest.mark.parametrize("same", [True, False], ids=["same-decision", "different-decisions"])
def test_sixteen_racing_writers_of_one_portfolio_bar_on_seaweedfs(s3_uri, same) -> None:
    """16 writers (each with its own S3 client) append one universe's bar at once: exactly one
    creates it; the others see the same decision (no-op) or another one (LedgerConflict)."""

    def prepare(i: int) -> tuple[PortfolioLedger, PortfolioRecord]:
        mine = _record(f"run-{i}", 0.5 if same else 0.5 + i)
        return PortfolioLedger(open_store(s3_uri), "mom3"), mine

    winner = check_one_winner(race_appends(16, prepare), same)
    (only,) = PortfolioLedger(open_store(s3_uri), "mom3").records()
    assert only.run_id == f"run-{winner}"
    assert only.weights_after == (1 / 3, 0.0, 0.0) and only.tickers == TICKERS


HEAVY = ("tensorflow", "keras", "prefect", "great_expectations")


def _tradeforge(args: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``tradeforge *args`` in a fresh interpreter; its result and the modules it imported."""
    probe = (
        "import json, sys\nfrom cli.main import app\ncode = 0\ntry:\n"
        f"    app({args!r})\nexcept SystemExit as exc:\n    code = exc.code or 0\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_a_bad_bar_in_one_asset_records_nothing_for_the_universe(frames, tmp_path) -> None:
    bars, store = tmp_path / "bars", str(tmp_path / "store")
    write_universe(frames, bars, FIRST)
    publish_portfolio_rule(store, frames, str(bars), "momentum")
    done, imported = _tradeforge(["paper", "--portfolio", "mom3", "--store", store, "--json"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert imported & set(HEAVY) == set()  # the CLI path stays TensorFlow/Prefect/GX-free
    # Two good bars for every asset, then A1 gets a bar whose high is below its low.
    write_universe(frames, bars, FIRST + 2)
    append_bad_bar(bars / "A1.csv")
    done, _ = _tradeforge(["paper", "--portfolio", "mom3", "--store", store, "--json"])
    assert done.returncode == 1
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    reason = summary["failed"]["portfolio mom3"]
    assert "A1 bars row" in reason and "high < max(open, close)" in reason, reason
    assert summary["portfolios"] == []
    assert len(_ledger(store).keys()) == 1  # the good bars of A0, A2 (and A1) wait as well
    out = CliRunner().invoke(app, ["paper", "--portfolio", "../x", "--store", store])
    assert out.exit_code == 2 and "--portfolio" in out.output
    out = CliRunner().invoke(app, ["ledger", "--store", store])  # neither --ticker nor --portfolio
    assert out.exit_code == 2 and "one of --ticker or --portfolio" in out.output
    out = CliRunner().invoke(app, ["ledger", "--portfolio", "other", "--store", store])
    assert out.exit_code == 1 and "no paper record for portfolio other" in out.output


def test_a_tampered_portfolio_champion_is_refused_and_the_previous_one_trades(
    frames, tmp_path
) -> None:
    """B replaced A as the universe's champion, then B's policy file was rewritten: the run
    refuses B, A trades in its place (its records name A), the pointer stays on B."""
    bars, store = tmp_path / "bars", tmp_path / "store"
    write_universe(frames, bars, FIRST)
    first = publish_portfolio_rule(str(store), frames, str(bars), "momentum")
    second = publish_portfolio_rule(str(store), frames, str(bars), "always_long")
    (store / second.prefix / "policy.npz").write_bytes(b"tampered")
    got = paper_portfolio("mom3", str(store))
    assert got["refused"]["version_id"] == second.version_id
    assert got["refused"]["trading"] == first.version_id and got["monitor"]["status"] == "refused"
    assert [r.version_id for r in _ledger(str(store)).records()] == [first.version_id]
    assert portfolio_registry_of(str(store)).champion("mom3").version_id == second.version_id


@pytest.mark.e2e
def test_the_paper_flow_records_a_portfolio_refuses_its_bad_bar_and_demotes_it(
    prefect_harness, request, frames, tmp_path
) -> None:
    """The flow (great-expectations suite per asset): a first run recorded; a bad bar in A2
    fails the run naming the universe, the asset and the rule, nothing recorded; fixed at the
    source, the catch-up is recorded and the monitor demotes the champion whose card promised
    far more, with the ``tradeforge.champion.demoted`` event on the universe's resource."""
    from flows.paper import PaperRunFailed, paper_pipeline
    from tasks.paper import DEMOTED_EVENT

    captured = request.getfixturevalue("captured_events")  # test_paper_flow's: Prefect's own
    bars, store = tmp_path / "bars", str(tmp_path / "store")
    write_universe(frames, bars, FIRST)
    promised = np.random.default_rng(0).normal(0.004, 0.001, 400).tolist()
    version = publish_portfolio_rule(store, frames, str(bars), "always_long", validation=promised)
    first = paper_pipeline(store=store, portfolios=["mom3"])
    assert set(first) == {"portfolio mom3"} and first["portfolio mom3"]["recorded"] == 1
    write_universe(frames, bars, FIRST + 3)
    append_bad_bar(bars / "A2.csv")
    with pytest.raises(
        PaperRunFailed,
        match=r"(?s)portfolio mom3: DataValidationError: A2 data failed.*ohlc_consistency",
    ):
        paper_pipeline(store=store, portfolios=["mom3"])
    assert len(_ledger(store).keys()) == 1
    write_universe(frames, bars, FIRST + 12)
    got = paper_pipeline(store=store, portfolios=["mom3"])["portfolio mom3"]
    assert got["monitor"]["status"] == "demote", got["monitor"]
    assert portfolio_registry_of(store).champion("mom3") is None  # no previous: a tombstone
    # Judged after each record: demoted to nobody mid-catch-up, nothing recorded after its bar.
    (demotion,) = got["demotions"]
    last = str(_ledger(store).last().bar_time)
    assert got["recorded"] < 12 and demotion["demotion"]["bar"] == last == got["last_bar"]
    captured.drain()
    events = [e for e in captured._client.events if e.event == DEMOTED_EVENT]
    assert [e.resource.id for e in events] == ["tradeforge.portfolio.mom3"]
    assert events[0].payload["version_id"] == version.version_id
    assert events[0].payload["demotion"]["bar"] == last
    # Each run publishes the last decisions and the live equity drawn inside the cone.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    keys = ["paper-portfolio-mom3", "paper-cone-portfolio-mom3"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))  # fmt: skip
    assert {(a.key, a.type) for a in found} == {(keys[0], "table"), (keys[1], "markdown")}
    assert "data:image/png;base64," in next(a for a in found if a.key == keys[1]).data
