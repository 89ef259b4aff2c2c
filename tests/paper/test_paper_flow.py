"""The paper flow (deployment ``paper/daily``) and ``tradeforge paper``: per ticker, new bars are
validated, decided and recorded; one ticker's failure stops only that ticker.

Checked to fail without its behaviour: with the ``try``/``except`` in ``paper_pipeline``
removed, TSLA's bad bar (run first) ends the run with its DataValidationError before SPY is
recorded; with the CLI's per-ticker ``except`` removed, AAPL's missing champion aborts the
command before SPY (the CLI test wants SPY recorded and exit 1); with ``monitor_task``'s
``emit_event`` skipped the demotion test captures no event; with the paper window task
validating everything (``validation_window(ingested, None)``) the look-back test's third run
fails on the rewritten old bar; with ``ingest_task``'s retries set to 0 the unreachable-source
test sees one attempt instead of four; the deleted-champion test relies on the flow's per-ticker
``except`` (removed, the run stops at TSLA before SPY is recorded); with ``watched_step``
ignoring demotions (the old batch behaviour: record every bar, then judge once) the demotion
test's second run records all 10 bars instead of stopping on the demoting one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from storage import open_store
from tests.paper.helpers import (
    append_bad_bar,
    file_frame,
    publish_rule,
    spy_frame,
    write_source,
)
from tests.predict.champions import ROOT
from tradeforge.paper.ledger import Ledger

TSLA = ROOT.parent / "shared" / "data" / "market" / "TSLA_2010-2017_yahoo.csv"


@pytest.fixture
def two_champions(tmp_path: Path) -> tuple[str, dict]:
    """SPY and TSLA champions whose card sources are growing CSV files of 1500 bars."""
    store = str(tmp_path / "store")
    frames = {"SPY": spy_frame(), "TSLA": file_frame("TSLA", TSLA)}
    sources = {}
    for ticker, frame in frames.items():
        sources[ticker] = tmp_path / f"{ticker}.csv"
        write_source(frame, sources[ticker], 1500)
        publish_rule(store, frame, str(sources[ticker]), "momentum")
    return store, {"frames": frames, "sources": sources}


def _count(store: str, ticker: str) -> int:
    return len(Ledger(open_store(store), ticker).keys())


@pytest.mark.e2e
def test_flow_records_the_good_ticker_and_fails_naming_the_bad(prefect_harness, two_champions):
    from flows.paper import PaperRunFailed, paper_pipeline

    store, data = two_champions
    first = paper_pipeline(store=store)  # no tickers: every ticker with a champion
    assert set(first) == {"SPY", "TSLA"} and {v["recorded"] for v in first.values()} == {1}
    # Three new SPY bars; TSLA gets one good bar and then one whose high is below its low.
    write_source(data["frames"]["SPY"], data["sources"]["SPY"], 1503)
    write_source(data["frames"]["TSLA"], data["sources"]["TSLA"], 1501)
    append_bad_bar(data["sources"]["TSLA"])
    with pytest.raises(
        PaperRunFailed,
        match=r"(?s)1 of 2 ticker\(s\) failed.*TSLA: DataValidationError.*rule ohlc_consistency",
    ):
        paper_pipeline(tickers=["TSLA", "SPY"], store=store)  # the bad one first
    assert _count(store, "SPY") == 4
    assert _count(store, "TSLA") == 1  # the bad bar's good predecessor is not recorded either
    # Fixed at the source: the next run catches up.
    write_source(data["frames"]["TSLA"], data["sources"]["TSLA"], 1502)
    again = paper_pipeline(tickers=["SPY", "TSLA"], store=store)
    assert again["SPY"]["recorded"] == 0 and again["TSLA"]["recorded"] == 2


def _break_bar(path: Path, row: int) -> str:
    """Swap high and low of the source's bar ``row`` (the contract refuses it); its date."""
    import pandas as pd

    rows = pd.read_csv(path)
    high, low = rows.loc[row, "High"], rows.loc[row, "Low"]
    rows.loc[row, "High"], rows.loc[row, "Low"] = low - 1.0, high + 1.0
    rows.to_csv(path, index=False)
    return str(rows.loc[row, "Date"])


@pytest.mark.e2e
def test_flow_validates_the_new_bars_with_their_look_back_only(prefect_harness, tmp_path):
    """A bar recorded more than ``VALIDATION_LOOKBACK`` bars before the first new bar is not
    validated again (the run that recorded it did): a later rewrite of it at the source does not
    block the new bars. A rewrite inside the look-back does (it is the new bars' context), naming
    the rule and the bar; the new bar is not recorded."""
    from flows.paper import PaperRunFailed, paper_pipeline
    from tradeforge.paper.run import VALIDATION_LOOKBACK

    store = str(tmp_path / "store")
    frame = spy_frame()
    source = tmp_path / "SPY.csv"
    write_source(frame, source, 1500)
    publish_rule(store, frame, str(source), "momentum")
    paper_pipeline(tickers=["SPY"], store=store)
    write_source(frame, source, 1620)
    assert paper_pipeline(tickers=["SPY"], store=store)["SPY"]["recorded"] == 120
    # Bar 1505 was recorded and is 115 bars before the new bar 1620: outside the look-back.
    write_source(frame, source, 1621)
    assert VALIDATION_LOOKBACK < 1620 - 1505
    _break_bar(source, 1505)
    assert paper_pipeline(tickers=["SPY"], store=store)["SPY"]["recorded"] == 1
    # Bar 1615 was recorded too, but is within the look-back of the new bar 1621.
    write_source(frame, source, 1622)
    _break_bar(source, 1505)
    day = _break_bar(source, 1615)
    with pytest.raises(
        PaperRunFailed, match=rf"(?s)SPY: DataValidationError.*rule ohlc_consistency.*{day}"
    ):
        paper_pipeline(tickers=["SPY"], store=store)
    assert _count(store, "SPY") == 122
    # Every run keeps its report; the Data Docs page is rendered only for the refused one.
    assert len(list(Path(store).glob("validation/*/SPY/report.json"))) == 4
    (page,) = Path(store).glob("validation/*/SPY/data-docs.html")
    assert "ohlc_consistency" in page.read_text()


def _task_runs(name: str, flow_run_id) -> list:
    """The task runs named ``name`` of one flow run (the harness server is shared by tests)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=[name])),
        )


@pytest.mark.e2e
def test_an_unreachable_source_is_retried_named_and_records_nothing_for_its_ticker(
    prefect_harness, two_champions, monkeypatch
) -> None:
    """TSLA's card names an S3 source on a server nobody listens at: the ingest task retries it
    (the transient-failure policy: 3 retries, delays zeroed here), then the ticker fails naming
    the source; SPY is recorded; the run is Failed."""
    from flows.paper import PaperRunFailed, paper_pipeline
    from tasks.ingest import ingest_task

    store, data = two_champions
    publish_rule(store, data["frames"]["TSLA"], "s3://market/TSLA.csv", "momentum")
    monkeypatch.setattr(ingest_task, "retry_delay_seconds", [0, 0, 0])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "paper-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "paper-test")
    closed = "http://127.0.0.1:9"  # the discard port: connection refused
    state = paper_pipeline(
        tickers=["TSLA", "SPY"], store=store, s3_endpoint_url=closed, return_state=True
    )
    assert state.is_failed()
    with pytest.raises(
        PaperRunFailed,
        match=r"(?s)1 of 2 ticker\(s\) failed.*TSLA: DataSourceError: s3://market/TSLA.csv.*"
        r"127.0.0.1:9 unreachable",
    ):
        state.result()
    assert _count(store, "TSLA") == 0 and _count(store, "SPY") == 1
    (ingest,) = _task_runs("ingest-TSLA", state.state_details.flow_run_id)
    assert ingest.run_count == 4 and ingest.state.is_failed()  # the first try + 3 retries


@pytest.mark.e2e
def test_a_deleted_champion_fails_its_ticker_naming_it(prefect_harness, two_champions) -> None:
    """TSLA's champion version was deleted from the store (its pointer left dangling): the
    ticker fails naming it and nothing is recorded for it; SPY is recorded; the run is Failed.
    A deleted pointer is the "no champion" case: named the same way."""
    import shutil

    from flows.paper import PaperRunFailed, paper_pipeline
    from storage.registry import ModelRegistry

    store, _ = two_champions
    registry = ModelRegistry(open_store(store))
    champion = registry.champion("TSLA")
    version = registry._ref("TSLA", champion.agent, champion.version_id)
    shutil.rmtree(Path(store) / version.prefix)
    with pytest.raises(
        PaperRunFailed,
        match=r"(?s)1 of 2 ticker\(s\) failed.*TSLA: ObjectNotFound: version TSLA/.*no model_card",
    ):
        paper_pipeline(tickers=["TSLA", "SPY"], store=store)
    assert _count(store, "TSLA") == 0 and _count(store, "SPY") == 1
    (Path(store) / registry._champion_key("TSLA")).unlink()
    with pytest.raises(PaperRunFailed, match=r"TSLA: NoChampionError: no champion for TSLA"):
        paper_pipeline(tickers=["TSLA", "SPY"], store=store)
    assert _count(store, "TSLA") == 0 and _count(store, "SPY") == 1


@pytest.fixture
def captured_events(monkeypatch):
    """Events emitted in this test, captured in memory (Prefect's own asserting client)."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


@pytest.mark.e2e
def test_a_tampered_champion_is_refused_with_an_alarm_and_the_others_recorded(
    prefect_harness, captured_events, two_champions
) -> None:
    """TSLA's policy file was rewritten after publication: its checksum fails, nothing is
    recorded for it, the flow emits ``tradeforge.paper.alarm`` naming it, SPY is recorded and
    the run is Failed. The pointer stays (an operator decides; see ``alarm_task``)."""
    from flows.paper import PaperRunFailed, paper_pipeline
    from storage.registry import ModelRegistry
    from tasks.paper import ALARM_EVENT

    store, _ = two_champions
    registry = ModelRegistry(open_store(store))
    champion = registry.champion("TSLA")
    version = registry._ref("TSLA", champion.agent, champion.version_id)
    (Path(store) / version.prefix / "policy.npz").write_bytes(b"tampered")
    with pytest.raises(PaperRunFailed, match=r"TSLA: IntegrityError: .*checksum mismatch"):
        paper_pipeline(tickers=["TSLA", "SPY"], store=store)
    assert _count(store, "TSLA") == 0 and _count(store, "SPY") == 1
    captured_events.drain()
    alarms = [e for e in captured_events._client.events if e.event == ALARM_EVENT]
    assert [e.resource.id for e in alarms] == ["tradeforge.ticker.TSLA"]
    assert "checksum mismatch" in alarms[0].payload["reasons"][0]
    assert registry.champion("TSLA").version_id == champion.version_id


@pytest.mark.e2e
def test_a_tampered_champion_with_an_intact_previous_one_trades_the_previous_with_an_alarm(
    prefect_harness, captured_events, two_champions
) -> None:
    """TSLA's new champion was tampered with after promotion: the flow refuses it, TSLA's
    previous champion records the bar in its place, the alarm event names both, the run
    completes (SPY recorded too) and the pointer still names the tampered version."""
    from flows.paper import paper_pipeline
    from storage.registry import ModelRegistry
    from tasks.paper import ALARM_EVENT

    store, data = two_champions
    registry = ModelRegistry(open_store(store))
    previous = registry.champion("TSLA").version_id
    tsla = data["frames"]["TSLA"]
    newer = publish_rule(store, tsla, str(data["sources"]["TSLA"]), "always_long")
    (Path(store) / newer.prefix / "policy.npz").write_bytes(b"tampered")
    done = paper_pipeline(tickers=["TSLA", "SPY"], store=store)
    assert done["TSLA"]["version_id"] == previous and done["TSLA"]["recorded"] == 1
    assert done["TSLA"]["monitor"]["status"] == "refused" and done["SPY"]["recorded"] == 1
    assert Ledger(open_store(store), "TSLA").frame()["version_id"].tolist() == [previous]
    captured_events.drain()
    alarms = [e for e in captured_events._client.events if e.event == ALARM_EVENT]
    assert [e.resource.id for e in alarms] == ["tradeforge.ticker.TSLA"]
    reason = alarms[0].payload["reasons"][0]
    assert f"champion {newer.version_id} refused" in reason and "checksum mismatch" in reason
    assert f"previous champion {previous} trades in its place" in reason
    assert registry.champion("TSLA").version_id == newer.version_id


@pytest.mark.e2e
def test_flow_demotes_a_broken_champion_and_emits_the_event(
    prefect_harness, captured_events, tmp_path
) -> None:
    """A champion whose validation record promised 0.3% a bar with little noise: after ten live
    SPY bars the flow's monitor demotes it to none and emits ``tradeforge.champion.demoted``."""
    from flows.paper import paper_pipeline
    from storage.registry import ModelRegistry
    from tasks.paper import DEMOTED_EVENT

    store = str(tmp_path / "store")
    frame = spy_frame()
    source = tmp_path / "SPY.csv"
    write_source(frame, source, 1500)
    promise = np.random.default_rng(3).normal(0.003, 0.002, 300).tolist()
    version = publish_rule(store, frame, str(source), "always_long", validation=promise)
    first = paper_pipeline(tickers=["SPY"], store=store)
    assert first["SPY"]["monitor"]["status"] == "too_early"
    write_source(frame, source, 1510)
    second = paper_pipeline(tickers=["SPY"], store=store)
    verdict = second["SPY"]["monitor"]
    assert verdict["status"] == "demote" and verdict["demotion"]["moved"], verdict
    assert ModelRegistry(open_store(store)).champion("SPY") is None
    # Judged after each of the 10 bars: demoted on its bar, none recorded after it.
    demoted_on = verdict["demotion"]["bar"]
    assert second["SPY"]["recorded"] < 10 and second["SPY"]["last_bar"] == demoted_on
    assert str(Ledger(open_store(store), "SPY").last().bar_time) == demoted_on
    captured_events.drain()
    events = [e for e in captured_events._client.events if e.event == DEMOTED_EVENT]
    assert len(events) == 1
    assert events[0].resource.id == "tradeforge.ticker.SPY"
    assert events[0].payload["version_id"] == version.version_id
    assert events[0].payload["demotion"]["bar"] == demoted_on
    # Each run publishes the last decisions and the live equity drawn inside the cone.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["paper-spy", "paper-cone-spy"])
            )
        )
    kinds = {(a.key, a.type) for a in found}
    assert kinds == {("paper-spy", "table"), ("paper-cone-spy", "markdown")}
    cone = next(a for a in found if a.key == "paper-cone-spy")
    assert "data:image/png;base64," in cone.data


def test_cli_records_goes_on_past_a_failed_ticker_and_replays(two_champions) -> None:
    store, data = two_champions
    runner = CliRunner()
    done = runner.invoke(app, ["paper", "--tickers", "SPY,AAPL", "--store", store, "--json"])
    assert done.exit_code == 1
    assert "AAPL: NoChampionError: no champion for AAPL" in done.output
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert [t["ticker"] for t in out["tickers"]] == ["SPY"] and _count(store, "SPY") == 1
    write_source(data["frames"]["SPY"], data["sources"]["SPY"], 1502)
    done = runner.invoke(app, ["paper", "--tickers", "SPY", "--store", store])
    assert done.exit_code == 0, done.output
    assert "SPY: 2 new bar(s)" in done.output and _count(store, "SPY") == 3
    shown = runner.invoke(app, ["ledger", "--ticker", "SPY", "--store", store, "--json"])
    assert shown.exit_code == 0, shown.output
    got = json.loads(shown.stdout.strip().splitlines()[-1])
    assert [r["bar"][:10] for r in got["records"]] == [
        str(t.date()) for t in data["frames"]["SPY"]["timestamp"].iloc[1499:1502]
    ]
    assert got["monitor"]["status"] == "unmonitored"  # its card has no validation returns
    shown = runner.invoke(app, ["ledger", "--ticker", "SPY", "--store", store])
    assert "SPY: 3 bars on paper" in shown.output and "monitor: unmonitored" in shown.output
    missing = runner.invoke(app, ["ledger", "--ticker", "TSLA", "--store", store])
    assert missing.exit_code == 1 and "no paper record for TSLA" in missing.output
    # A replay drives every bar from --from to the source's last bar into its own ledger.
    frame = data["frames"]["SPY"]
    start = frame["timestamp"].iloc[1490].strftime("%Y-%m-%d")
    done = runner.invoke(
        app, ["paper", "--tickers", "SPY", "--store", store, "--replay", "--from", start]
    )
    assert done.exit_code == 0, done.output
    replayed = Ledger.replay(open_store(store), "SPY", start)
    assert len(replayed.keys()) == 12 and _count(store, "SPY") == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2016-01-01"], "--replay and --from DATE go together"),
        (["--replay"], "--replay and --from DATE go together"),
        (["--replay", "--from", "2016-13-01"], "use YYYY-MM-DD"),
        (["--tickers", "../x"], "not a ticker symbol"),
    ],
)
def test_cli_bad_usage_exits_2_before_anything(tmp_path, args, message) -> None:
    done = CliRunner().invoke(app, ["paper", "--store", str(tmp_path / "s"), *args])
    assert done.exit_code == 2 and message in done.output
    assert not (tmp_path / "s").exists()


def test_serve_answers_the_ledger(two_champions) -> None:
    """``GET /ledger/{ticker}`` on a real ``tradeforge serve``: the CLI's view, read only."""
    from tests.predict.test_serve import call, serving

    store, _ = two_champions
    assert CliRunner().invoke(app, ["paper", "--tickers", "SPY", "--store", store]).exit_code == 0
    with serving(store) as url:
        status, got = call(url, "/ledger/SPY?last=5")
        assert status == 200, got
        assert got["bars"] == 1 and len(got["records"]) == 1
        assert got["monitor"]["status"] == "unmonitored"
        cli = json.loads(
            CliRunner()
            .invoke(app, ["ledger", "--ticker", "SPY", "--store", store, "--json"])
            .stdout.strip()
            .splitlines()[-1]
        )
        assert got == cli
        assert call(url, "/ledger/TSLA")[0] == 404  # a champion, but nothing on paper yet
        assert call(url, "/ledger/..x")[0] == 422
