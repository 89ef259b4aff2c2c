"""The stack's Prefect server on PostgreSQL (``make up DB=postgres``), end to end: ops/stack.py
inits and starts its own PostgreSQL cluster on 127.0.0.1, the Prefect server runs its flow runs
into it (the rows are read back with psql, and no SQLite database is made), and the stack's
``down`` leaves no process behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ops.stack import (
    StackConfig,
    StackError,
    _group_alive,
    base_env,
    choose_database,
    down,
    free_port,
    postgres_bin,
    psql,
    psql_env,
    read_pid,
    start_prefect,
    status,
    write_env_file,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TASKS = 3
# A flow of a few no-op tasks on the default thread runner; prints its flow run id.
FLOW = f"""
from prefect import flow, task

@task
def noop(i: int) -> int:
    return i

@flow(name="postgres-check")
def check() -> int:
    return sum(f.result() for f in noop.map(range({TASKS})))

state = check(return_state=True)
print(state.type.value, state.state_details.flow_run_id)
"""


@pytest.fixture
def state_dir():
    """A state folder PostgreSQL's own user can reach when the tests run as root (pytest's tmp
    folders are closed to other users); removed afterwards."""
    try:
        postgres_bin()
    except StackError as exc:
        pytest.skip(str(exc))
    folder = Path(tempfile.mkdtemp(prefix="tradeforge-pg-"))
    folder.chmod(0o711)
    try:
        yield folder / "stack"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_prefect_server_runs_on_the_stacks_postgres(state_dir: Path, capsys) -> None:
    cfg = StackConfig(
        state_dir=state_dir,
        prefect_port=free_port(),
        s3_port=free_port(),
        db=choose_database(state_dir, "postgres"),
    )
    try:
        start_prefect(cfg)
        pids = {name: read_pid(cfg.pids / f"{name}.pid") for name in ("postgres", "prefect-server")}
        assert all(pids.values()), pids

        env = base_env(cfg)
        env.pop("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK")  # the stack's S3 is not started here
        proc = subprocess.run(
            [sys.executable, "-c", FLOW], env=env, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        state, flow_run_id = proc.stdout.split()[-2:]
        assert state == "COMPLETED", proc.stdout

        # the run is a row of the stack's PostgreSQL database, and its task runs follow (the
        # server records task runs from their events, a moment later)
        row = psql(cfg, f"SELECT name, state_type FROM flow_run WHERE id = '{flow_run_id}'")
        assert row.endswith("|COMPLETED"), row
        count = f"SELECT count(*) FROM task_run WHERE flow_run_id = '{flow_run_id}'"
        count += " AND state_type = 'COMPLETED'"
        deadline = time.monotonic() + 60
        while psql(cfg, count) != str(TASKS) and time.monotonic() < deadline:
            time.sleep(1)
        assert psql(cfg, count) == str(TASKS)
        assert not list((cfg.state_dir / "prefect").glob("*.db")), "a SQLite database was made"
        # env.sh points a shell's plain psql at the same database (docs/how-to/postgres.md's example)
        script = f"source {write_env_file(cfg)}; {postgres_bin() / 'psql'} -XqAt -c "
        script += f"\"SELECT state_type FROM flow_run WHERE id = '{flow_run_id}'\""
        shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={})
        assert shell.stdout.strip() == "COMPLETED", shell.stderr
        # bound to loopback only, and PostgreSQL's own files are closed to other users
        listen = psql(cfg, "SHOW listen_addresses")
        assert listen == "127.0.0.1", listen
        assert (state_dir / "postgres.json").stat().st_mode & 0o777 == 0o600
        # password authentication on every connection: a wrong one over TCP, none on the socket
        wrong = {**psql_env(cfg), "PGPASSWORD": "wrong"}
        socket_only = {**psql_env(cfg), "PGHOST": str(state_dir / "postgres")}
        socket_only.pop("PGPASSWORD")
        for env_ in (wrong, socket_only):
            refused = subprocess.run(
                [postgres_bin() / "psql", "-XAtw", "-c", "SELECT 1"],
                env=env_,
                capture_output=True,
                text=True,
            )
            assert refused.returncode != 0, env_["PGHOST"]
            assert "password" in refused.stderr, refused.stderr
        assert choose_database(state_dir, None) == "postgres"  # a later `up` keeps it
        capsys.readouterr()
        status(cfg)  # `make status` names the database and where PostgreSQL listens
        shown = capsys.readouterr().out
        port = (state_dir / "postgres.port").read_text().strip()
        assert f"postgres       running (pid {pids['postgres']}, 127.0.0.1:{port})" in shown
        assert f"database       PostgreSQL 127.0.0.1:{port}/prefect" in shown
    finally:
        down(cfg)
    for name, pid in pids.items():
        assert not _group_alive(pid), f"{name} (process group {pid}) still runs after down"
    assert not list(cfg.pids.glob("*.pid"))


def test_postgres_refused_by_its_own_port_check(state_dir: Path) -> None:
    """A PostgreSQL port taken by another program is named before anything starts."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        cfg = StackConfig(
            state_dir=state_dir, prefect_port=free_port(), db="postgres", postgres_port=taken
        )
        with pytest.raises(StackError, match=f"postgres: port {taken} .* already in use"):
            start_prefect(cfg)
    assert read_pid(cfg.pids / "postgres.pid") is None
    assert (state_dir / "postgres" / "data" / "PG_VERSION").exists()  # the init is kept


def test_a_state_folder_postgres_cannot_reach_is_named(state_dir: Path, tmp_path: Path) -> None:
    """As root, PostgreSQL runs as ``postgres``: a state folder under a closed parent is refused
    with the folder named, before initdb."""
    if os.geteuid() != 0:
        pytest.skip("only root hands PostgreSQL to another user")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    cfg = StackConfig(state_dir=closed / "stack", prefect_port=free_port(), db="postgres")
    with pytest.raises(StackError, match=r"'postgres' cannot reach .*closed/stack/postgres"):
        start_prefect(cfg)
    assert not (closed / "stack" / "postgres" / "data").exists()
