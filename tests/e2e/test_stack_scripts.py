"""The stack's process handling (ops/stack.py): idempotent starts, nothing left after a stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.stack import (
    Service,
    StackConfig,
    StackError,
    _group_alive,
    free_port,
    read_pid,
    start_service,
    stop_service,
    up,
)

ROOT = Path(__file__).resolve().parents[2]

# A parent that ignores SIGTERM and a child of its own: stop_service must still end both.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "open(sys.argv[1], 'w').close()  # ready: SIGTERM ignored, child started\n"
    "time.sleep(300)\n"
)


def _service(name: str, code: str, tmp_path: Path, healthy, *args: str) -> Service:
    argv = [sys.executable, "-c", code, *args]
    return Service(name, argv, dict(os.environ), tmp_path, healthy)


def test_start_is_idempotent_and_stop_ends_the_whole_group(tmp_path: Path) -> None:
    logs, pids = tmp_path / "logs", tmp_path / "pids"
    ready = tmp_path / "ready"
    service = _service("stubborn", STUBBORN, tmp_path, ready.exists, str(ready))
    pid = start_service(service, logs, pids)
    assert start_service(service, logs, pids) == pid  # already running: not started twice
    assert read_pid(pids / "stubborn.pid") == pid

    assert stop_service("stubborn", pids, grace=1.0) is True
    assert not _group_alive(pid)  # parent (ignored SIGTERM) and child are gone
    assert not (pids / "stubborn.pid").exists()
    assert stop_service("stubborn", pids) is False  # nothing left to stop


def test_a_service_that_dies_at_start_reports_its_log(tmp_path: Path) -> None:
    service = _service(
        "broken", "import sys; print('bad flag'); sys.exit(3)", tmp_path, lambda: False
    )
    with pytest.raises(StackError, match=r"(?s)broken exited with code 3.*\nbad flag"):
        start_service(service, tmp_path / "logs", tmp_path / "pids")
    assert not (tmp_path / "pids" / "broken.pid").exists()


def test_up_refuses_a_port_taken_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        cfg = StackConfig(state_dir=tmp_path, prefect_port=taken, s3_port=free_port())
        with pytest.raises(StackError, match=f"prefect-server: port {taken} .* already in use"):
            up(cfg)
    assert not (tmp_path / "pids").exists() or not list((tmp_path / "pids").iterdir())


def test_ports_are_validated() -> None:
    with pytest.raises(ValueError, match="s3_port=80"):
        StackConfig(s3_port=80)


def test_env_sh_puts_the_venv_bin_on_path_once(tmp_path: Path) -> None:
    import subprocess

    from ops.stack import VENV_BIN, write_env_file

    cfg = StackConfig(state_dir=tmp_path, s3_keys=("key", "secret"))
    env_sh = write_env_file(cfg)
    script = f"source {env_sh}; source {env_sh}; command -v prefect; command -v tradeforge; "
    script += 'echo "$PATH"; echo "$PREFECT_API_URL"'
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        ["bash", "-c", script], env=clean, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == str(VENV_BIN / "prefect") and out[1] == str(VENV_BIN / "tradeforge")
    assert out[2].split(":").count(str(VENV_BIN)) == 1  # sourced twice, added once
    assert out[3] == cfg.api_url


def _make_status(state_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRADEFORGE_STACK_DIR": str(state_dir)}
    return subprocess.run(
        ["make", "-s", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_make_status_exits_1_when_the_stack_is_down(tmp_path: Path) -> None:
    parts = StackConfig(state_dir=tmp_path / "stack").services  # a new stack: SQLite, no postgres
    down = _make_status(tmp_path / "stack")
    assert down.returncode != 0, down.stdout
    for name in parts:
        assert f"{name:15s}not running" in down.stdout
    # Every part recorded as running (a live process each): exit 0, then 1 when one part stops.
    pids = tmp_path / "stack" / "pids"
    pids.mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for name in parts:
            (pids / f"{name}.pid").write_text(f"{alive.pid}\n")
        up_ = _make_status(tmp_path / "stack")
        assert up_.returncode == 0, up_.stdout + up_.stderr
        assert "Prefect UI: http://127.0.0.1:" in up_.stdout
        (pids / "worker.pid").unlink()
        partly = _make_status(tmp_path / "stack")
        assert partly.returncode != 0 and f"{'worker':15s}not running" in partly.stdout
    finally:
        alive.kill()
        alive.wait()


def test_the_database_choice_is_kept_per_stack(tmp_path: Path) -> None:
    from ops.stack import choose_database

    assert choose_database(tmp_path, None) == "sqlite"  # a new stack
    (tmp_path / "database").write_text("postgres\n")  # as start_prefect records it
    assert choose_database(tmp_path, None) == "postgres"  # a later `make up` without DB=
    assert choose_database(tmp_path, "sqlite") == "sqlite"  # stopped: switching is allowed
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "prefect-server.pid").write_text(f"{os.getpid()}\n")  # a live pid
    with pytest.raises(StackError, match=r"uses postgres; to switch it to sqlite: `make down`"):
        choose_database(tmp_path, "sqlite")


def test_db_is_an_up_option_with_known_values(capsys) -> None:
    from ops.stack import main

    for argv in (["up", "--db", "mysql"], ["status", "--db", "postgres"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "--db applies to `up` only" in capsys.readouterr().err
