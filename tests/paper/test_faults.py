"""Faults: a run SIGKILLed mid-record, a tampered champion, a pointer moved during a run, a store
that refuses writes.

How they were checked: the killed-run test shows the ledger readable after a SIGKILL and the
resumed run ending equal to an uninterrupted one; no mutation of ours makes it fail
deterministically (whole objects come from the store: temp file + rename, one S3 PUT; and a
resume that started again from the beginning would still pass, every record being idempotent).
With ``record_bars`` loading the store's current champion instead of the version the run read,
the moved-pointer test records B on the first run and fails. The refused-writes test fails
when the reader identity in tests/s3server.py is given "Write" (the paper run then succeeds). The tampered-champion test
relies on the registry's existing checksum check (tested in tests/storage and tests/predict);
the previous-keeps-trading test fails with ``trading_policy``'s fallback removed (exit 1,
nothing recorded) and with ``previous_intact`` returning the tampered champion (IntegrityError).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from storage import open_store
from tests.paper.helpers import publish_rule, spy_frame, write_source
from tradeforge.inference import champion_info
from tradeforge.paper.ledger import Ledger
from tradeforge.paper.run import record_bars

ROOT = Path(__file__).resolve().parents[2]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"
DECISION = ["bar_time", "version_id", "action", "position_before", "position_after",
            "traded", "fill_price", "cost", "net_return", "equity"]  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return spy_frame()


def test_a_run_killed_mid_record_leaves_whole_records_and_resumes(frame, tmp_path) -> None:
    store = str(tmp_path / "store")
    source = write_source(frame, tmp_path / "SPY.csv", len(frame))
    publish_rule(store, frame, source, "momentum")
    start = "2014-07-01"
    args = [
        str(TRADEFORGE),
        "paper",
        "--tickers",
        "SPY",
        "--store",
        store,
        "--replay",
        "--from",
        start,
    ]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = Ledger.replay(open_store(store), "SPY", start)
    deadline = time.monotonic() + 120
    while len(ledger.keys()) < 50 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = len(ledger.keys())
    assert 50 <= killed_at < 600, "the run must be killed mid-way"
    partial = ledger.frame()  # every object written is a whole, readable record
    assert len(partial) == killed_at
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    clean = Ledger.replay(open_store(str(tmp_path / "clean")), "SPY", start)
    publish_rule(str(tmp_path / "clean"), frame, source, "momentum")
    subprocess.run(
        [*args[:5], str(tmp_path / "clean"), *args[6:]], env=env, check=True, timeout=600
    )
    resumed, whole = ledger.frame()[DECISION], clean.frame()[DECISION]
    assert len(resumed) == len(whole) > killed_at
    cols = [c for c in DECISION if c != "version_id"]  # two stores, two version ids
    pd.testing.assert_frame_equal(resumed[cols], whole[cols])


def test_a_tampered_champion_is_refused_and_nothing_recorded(frame, tmp_path) -> None:
    store = tmp_path / "store"
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    version = publish_rule(str(store), frame, source, "momentum")
    (store / version.prefix / "policy.npz").write_bytes(b"tampered")
    done = CliRunner().invoke(app, ["paper", "--tickers", "SPY", "--store", str(store)])
    assert done.exit_code == 1
    assert "SPY: IntegrityError" in done.output and "checksum mismatch" in done.output
    assert Ledger(open_store(str(store)), "SPY").keys() == []


def test_a_tampered_champion_is_refused_and_the_previous_one_keeps_trading(frame, tmp_path) -> None:
    """B replaced A as champion, then B's policy file was rewritten: the run refuses B, A
    trades in its place (each record names A), the alarm names both, the pointer stays on B."""
    from storage.registry import ModelRegistry

    store = tmp_path / "store"
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(str(store), frame, source, "always_long")
    second = publish_rule(str(store), frame, source, "momentum")
    (store / second.prefix / "policy.npz").write_bytes(b"tampered")
    done = CliRunner().invoke(app, ["paper", "--tickers", "SPY", "--store", str(store), "--json"])
    assert done.exit_code == 0, done.output
    alarm = f"champion {second.version_id} refused (IntegrityError"
    assert f"ALARM: SPY: {alarm}" in done.stderr
    assert f"the previous champion {first.version_id} trades in its place" in done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])["tickers"][0]
    assert got["version_id"] == first.version_id and got["recorded"] == 1
    assert got["monitor"]["status"] == "refused"
    records = Ledger(open_store(str(store)), "SPY").frame()
    assert records["version_id"].tolist() == [first.version_id]
    assert ModelRegistry(open_store(str(store))).champion("SPY").version_id == second.version_id


def test_a_pointer_moved_during_a_run_does_not_change_who_decided(frame, tmp_path) -> None:
    """The run read champion A; B is promoted before A's records are written: the run's records
    name A (the version whose files it verified); the next run trades with B."""
    store = str(tmp_path / "store")
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    first = publish_rule(store, frame, source, "momentum")
    read = champion_info("SPY", store)
    second = publish_rule(store, frame, source, "always_long")
    got = record_bars(frame.iloc[:1500], read, store, run_id="r1")
    assert got["version_id"] == first.version_id
    later = record_bars(frame.iloc[:1502], champion_info("SPY", store), store, run_id="r2")
    assert later["version_id"] == second.version_id
    versions = Ledger(open_store(store), "SPY").frame()["version_id"].tolist()
    assert versions == [first.version_id, second.version_id, second.version_id]


def test_a_store_that_refuses_writes_records_nothing(frame, s3_uri, s3_env, tmp_path, monkeypatch):
    """A read-only S3 identity: the champion loads, the first ledger write is refused; the
    command exits 1 naming the store and the refusal, and nothing is in the ledger."""
    source = write_source(frame, tmp_path / "SPY.csv", 1500)
    publish_rule(s3_uri, frame, source, "momentum")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_env.reader_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.reader_secret)
    done = CliRunner().invoke(app, ["paper", "--tickers", "SPY", "--store", s3_uri])
    assert done.exit_code == 1
    assert "SPY: AccessDenied" in done.output and "ledger/SPY/" in done.output
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_env.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.secret_key)
    assert Ledger(open_store(s3_uri), "SPY").keys() == []
