"""The local stack on 127.0.0.1: Prefect server + UI, a process worker, SeaweedFS S3, deployments,
and ``tradeforge serve`` answering predictions over HTTP from the stack's model store.

``python ops/stack.py up`` starts whatever is not already running (idempotent), waits until each
part answers, creates the work pool and bucket, registers every deployment of ``prefect.yaml`` with
``prefect deploy --all`` and prints the UI address. ``down`` stops everything it started (whole
process groups, so the uvicorn child of ``prefect server`` and a worker's flow-run children go too).
``status`` prints what runs. State lives under the git-ignored ``.tradeforge/stack/``: pid files,
logs, Prefect's home (SQLite database), SeaweedFS data and ``env.sh`` to source in a shell.

The Prefect server's database is SQLite unless the stack is created with ``up --db postgres``
(``make up DB=postgres``): then the stack runs its own PostgreSQL cluster (Debian's binaries,
``initdb`` into ``postgres/`` of the state folder, bound to 127.0.0.1 on a free port, run as the
``postgres`` user when started by root, which PostgreSQL refuses) with a database and password of
its own. The choice is kept in the state folder: a later ``up`` without ``--db`` uses it again.

The stack is authenticated: SeaweedFS enforces its generated key pair, and the Prefect server its
generated auth string (``PREFECT_SERVER_API_AUTH_STRING``; every Prefect client of the stack gets
``PREFECT_API_AUTH_STRING``, the UI asks for it). Both are made once per stack and kept with
mode 600 in the state folder (see SECURITY.md).

The building blocks (``Service``, ``start_service``, ``stop_service``, ``wait_until`` ...) are also
used by the end-to-end test, which runs the same stack on free ports in a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import os
import pwd
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
POOL = "tradeforge-process"
BUCKET = "tradeforge"
RESULTS_BLOCK = "tradeforge-results"
RESULTS_FOLDER = "prefect-results"
#: The Prefect server's database choices; the first is a new stack's default.
DATABASES = ("sqlite", "postgres")
PG_USER = "tradeforge"
PG_DATABASE = "prefect"
#: PostgreSQL refuses to run as root: a root-started stack runs it as this system user (Debian's
#: postgresql package creates it).
PG_SYSTEM_USER = "postgres"


class StackError(RuntimeError):
    """A part of the stack did not start, answer or stop; the message names it and its log."""


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state and which ports it binds (all on 127.0.0.1)."""

    state_dir: Path = REPO / ".tradeforge" / "stack"
    """Pid files, logs, Prefect home, SeaweedFS data, env.sh."""
    prefect_port: int = 4200
    """Prefect API and UI."""
    s3_port: int = 8333
    """SeaweedFS S3 endpoint; its master / volume / filer use the next ports (see ``weed_ports``)."""
    pool: str = POOL
    """Process work pool the worker polls and the deployments target."""
    bucket: str = BUCKET
    """S3 bucket created at start; the deployments' store is s3://<bucket>/models."""
    repo: Path = REPO
    """Project checkout holding prefect.yaml (the deployments' working directory)."""
    s3_keys: tuple[str, str] | None = None
    """S3 access key and secret of an S3 server started elsewhere; None = the stack's own pair."""
    worker_health_port: int | None = None
    """Port of the worker's health endpoint; None = prefect_port + 1."""
    serve_port: int = 8000
    """``tradeforge serve``: the champions' actions over HTTP (``/predict``)."""
    db: str = DATABASES[0]
    """The Prefect server's database: ``sqlite`` (in Prefect's home) or ``postgres`` (the
    stack's own PostgreSQL cluster, see ``postgres_service``)."""
    postgres_port: int | None = None
    """PostgreSQL's port; None = the one this stack used before, else a free one."""

    def __post_init__(self) -> None:
        for name in ("prefect_port", "s3_port", "serve_port"):
            port = getattr(self, name)
            # the S3 port's neighbours (WEED_PORT_OFFSETS) must be valid ports too
            if not 1024 <= port <= 65535 - 20:
                raise ValueError(f"{name}={port}: choose a port between 1024 and 65515")
        if self.db not in DATABASES:
            raise ValueError(f"db={self.db!r}: choose one of {', '.join(DATABASES)}")

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}"

    @property
    def serve_url(self) -> str:
        return f"http://{HOST}:{self.serve_port}"

    @property
    def s3_url(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def store_uri(self) -> str:
        return f"s3://{self.bucket}/models"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids(self) -> Path:
        return self.state_dir / "pids"

    @property
    def services(self) -> tuple[str, ...]:
        """This stack's services in start order (PostgreSQL only when it is the database)."""
        return tuple(name for name in ORDER if name != "postgres" or self.db == "postgres")


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack, started in its own process group."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    health: Callable[[], bool]
    """True once the process serves requests."""
    startup_timeout: float = 120.0
    extra: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    """System user to run as (PostgreSQL refuses root); None = the caller's user."""


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers at all (an S3 endpoint says 403 to anonymous requests)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    return True


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.5
) -> None:
    """Poll ``check`` until it is true; raise ``StackError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StackError(f"{what}: not ready after {timeout:.0f} s")


def log_tail(path: Path, lines: int = 25) -> str:
    """Last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_service(service: Service, logs: Path, pids: Path) -> int:
    """Start ``service`` unless its pid file names a live process; wait for health; return pid.

    The process gets its own session (process group) so ``stop_service`` can end it with all
    of its children.
    """
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    pid_file = pids / f"{service.name}.pid"
    log_file = logs / f"{service.name}.log"
    running = read_pid(pid_file)
    if running is not None:
        wait_until(service.health, timeout=service.startup_timeout, what=service.name)
        return running
    with open(log_file, "ab") as log:
        log.write(f"\n=== {time.strftime('%F %T')} {shlex.join(service.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(service.argv),
            cwd=service.cwd,
            env=dict(service.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=service.user,
            group=_user_group(service.user),
            extra_groups=[] if service.user else None,
        )
    pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + service.startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{service.name} exited with code {proc.returncode} during start-up; "
                f"{log_file}:\n{log_tail(log_file)}"
            )
        if service.health():
            return proc.pid
        time.sleep(0.5)
    stop_service(service.name, pids)
    raise StackError(
        f"{service.name}: not healthy after {service.startup_timeout:.0f} s; "
        f"{log_file}:\n{log_tail(log_file)}"
    )


def _user_group(user: str | None) -> int | None:
    """The primary group of ``user`` (None for None), so a process run as it gets no root group."""
    return None if user is None else pwd.getpwnam(user).pw_gid


#: The stop signal where SIGTERM is not the quick clean one: PostgreSQL's SIGTERM waits for
#: every client to disconnect, SIGINT ("fast shutdown") ends them and shuts down cleanly.
STOP_SIGNALS = {"postgres": signal.SIGINT}


def stop_service(name: str, pids: Path, *, grace: float = 20.0) -> bool:
    """Stop the process group recorded in ``pids/<name>.pid``: SIGTERM (or the service's own
    ``STOP_SIGNALS`` signal), then SIGKILL after grace.

    Returns True if something was running. Only the group this stack started is signalled.
    """
    pid_file = pids / f"{name}.pid"
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, STOP_SIGNALS.get(name, signal.SIGTERM))
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.2)
    if _group_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        wait_until(lambda: not _group_alive(pid), timeout=10, what=f"{name} (SIGKILL)")
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process of group ``pgid`` exists (read from /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _ppid, pgrp = stat.read_text().split(") ", 1)[1].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                return True
    return False


# ------------------------------------------------------------------------------- environments


def base_env(cfg: StackConfig) -> dict[str, str]:
    """Environment shared by every Prefect command and the worker's flow runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(cfg.state_dir / "prefect"),
        PREFECT_API_URL=cfg.api_url,
        # Every Prefect client of the stack (CLI, worker, its flow runs and their Dask workers)
        # authenticates to the server with the stack's auth string.
        PREFECT_API_AUTH_STRING=prefect_auth_string(cfg),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        TRADEFORGE_ROOT=str(cfg.repo),
        TRADEFORGE_POOL=cfg.pool,
        TRADEFORGE_STORE=cfg.store_uri,
        # Task results (the cache of ingest / validate / features) go to the stack's S3, so
        # every worker, on any machine, sees the same cache.
        PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=f"s3-bucket/{RESULTS_BLOCK}",
    )
    env.update(s3_env(cfg))
    return env


def s3_env(cfg: StackConfig) -> dict[str, str]:
    """AWS-style variables for the stack's SeaweedFS: boto3 reads them all, endpoint included."""
    key, secret = cfg.s3_keys or s3_credentials(cfg)
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": cfg.s3_url,
    }


def s3_credentials(cfg: StackConfig) -> tuple[str, str]:
    """The stack's S3 key pair: made once at random and kept (mode 600) in the state folder."""
    pair = _stack_secret(
        cfg,
        "s3-credentials.json",
        lambda: {"key": "tf" + secrets.token_hex(8), "secret": secrets.token_urlsafe(30)},
    )
    return pair["key"], pair["secret"]


def prefect_auth_string(cfg: StackConfig) -> str:
    """The stack's Prefect API auth string (``user:password``, as HTTP basic auth sends it):
    made once at random and kept (mode 600) in the state folder."""
    made = _stack_secret(
        cfg, "prefect-auth.json", lambda: {"auth_string": f"tradeforge:{secrets.token_urlsafe(24)}"}
    )
    return made["auth_string"]


def _stack_secret(cfg: StackConfig, name: str, make: Callable[[], dict[str, str]]) -> dict:
    """The JSON object in ``state_dir/name``, written by ``make()`` (mode 600) if absent."""
    path = cfg.state_dir / name
    if not path.exists():
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(make(), handle)
    return json.loads(path.read_text())


def write_env_file(cfg: StackConfig) -> Path:
    """``env.sh``: source it to point ``prefect`` / ``tradeforge`` at the stack."""
    names = (
        "PREFECT_API_URL",
        "PREFECT_API_AUTH_STRING",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK",
        "TRADEFORGE_STORE",
        *s3_env(cfg),
    )
    env = base_env(cfg)
    lines = ["# Generated by ops/stack.py: `source .tradeforge/stack/env.sh`"]
    lines += [f"export {name}={shlex.quote(env[name])}" for name in names]
    if cfg.db == "postgres":  # plain `psql` reaches the stack's database
        lines += [f"export {name}={shlex.quote(value)}" for name, value in psql_env(cfg).items()]
    # `prefect deployment run ...` and `tradeforge ...` as the docs write them need the
    # venv's bin on PATH (issue 14: "prefect: command not found"); added once, however often
    # the file is sourced.
    venv_bin = shlex.quote(str(VENV_BIN))
    lines += [
        f'case ":$PATH:" in *:{venv_bin}:*) ;; *) export PATH={venv_bin}:"$PATH" ;; esac',
    ]
    path = cfg.state_dir / "env.sh"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------------- services


# weed mini's listeners, each pinned next to the S3 port instead of its well-known default
# (8080, 8888, 9333, 23646, 6060 ... and +10000 for gRPC), so it never collides with other tools.
WEED_PORT_OFFSETS = {
    "s3.port": 0,
    "master.port": 1,
    "volume.port": 2,
    "filer.port": 3,
    "admin.port": 4,
    "webdav.port": 5,
    "debug.port": 6,
    "s3.debug.port": 7,
    "s3.port.grpc": 10,
    "master.port.grpc": 11,
    "volume.port.grpc": 12,
    "filer.port.grpc": 13,
    "admin.port.grpc": 14,
}


def seaweedfs_service(cfg: StackConfig, data_dir: Path) -> Service:
    """SeaweedFS ``mini`` (master, volume, filer, S3) bound to 127.0.0.1, creating the bucket.

    The S3 API enforces the stack's one identity (``s3-credentials.json``); anonymous requests
    are refused.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    key, secret = s3_credentials(cfg)
    identity = {
        "identities": [
            {
                "name": "tradeforge",
                "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = cfg.state_dir / "s3-identities.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(identity, handle)
    argv = [
        str(VENV_BIN / "weed"),
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.config={config}",
        f"-bucket={cfg.bucket}",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={cfg.s3_port + offset}" for flag, offset in WEED_PORT_OFFSETS.items()),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return Service("seaweedfs", argv, env, data_dir, lambda: http_answers(cfg.s3_url + "/"))


def prefect_server_service(cfg: StackConfig) -> Service:
    """``prefect server start`` (API + UI) on 127.0.0.1 with its database: SQLite in the state
    dir, or the stack's PostgreSQL (started first by ``start_prefect``)."""
    argv = [
        str(VENV_BIN / "prefect"),
        "server",
        "start",
        "--host",
        HOST,
        "--port",
        str(cfg.prefect_port),
        "--analytics-off",
    ]
    env = base_env(cfg)
    # `--port` alone leaves the UI calling the default port 4200: tell it where its API is.
    env.update(
        PREFECT_SERVER_API_HOST=HOST,
        PREFECT_SERVER_API_PORT=str(cfg.prefect_port),
        PREFECT_SERVER_UI_API_URL=cfg.api_url,
        # The API refuses requests without it (401); the UI asks for it on a login page.
        PREFECT_SERVER_API_AUTH_STRING=prefect_auth_string(cfg),
    )
    if cfg.db == "postgres":
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = postgres_url(cfg)
    return Service(
        "prefect-server",
        argv,
        env,
        cfg.repo,
        lambda: http_ok(cfg.api_url + "/health"),
        startup_timeout=180,
    )


def worker_service(cfg: StackConfig) -> Service:
    """A process worker polling the pool; flow runs inherit its environment (S3 endpoint, keys)."""
    argv = [
        str(VENV_BIN / "prefect"),
        "worker",
        "start",
        "--pool",
        cfg.pool,
        "--type",
        "process",
        "--name",
        f"tradeforge-{socket.gethostname()}",
        "--with-healthcheck",
    ]
    # A fixed port, so a re-run of `up` can check the worker it started before.
    health_port = cfg.worker_health_port or cfg.prefect_port + 1
    env = base_env(cfg)
    env.update(
        PREFECT_WORKER_WEBSERVER_HOST=HOST,
        PREFECT_WORKER_WEBSERVER_PORT=str(health_port),
        PREFECT_WORKER_QUERY_SECONDS="2",
    )
    return Service(
        "worker", argv, env, cfg.repo, lambda: http_ok(f"http://{HOST}:{health_port}/health")
    )


def serve_service(cfg: StackConfig) -> Service:
    """``tradeforge serve`` on 127.0.0.1 over the stack's store: it starts with no champion and
    picks each one up when a training promotes it (it watches the champion pointers' ETags)."""
    argv = [
        str(VENV_BIN / "tradeforge"),
        "serve",
        "--store",
        cfg.store_uri,
        "--host",
        HOST,
        "--port",
        str(cfg.serve_port),
    ]
    # serve never talks to Prefect: it gets the S3 keys it reads models with, not the auth string.
    env = {k: v for k, v in base_env(cfg).items() if k != "PREFECT_API_AUTH_STRING"}
    return Service("serve", argv, env, cfg.repo, lambda: http_ok(f"{cfg.serve_url}/models"))


# --------------------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path:
    """Folder of PostgreSQL's programs: ``$TRADEFORGE_PG_BIN``, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin`` (``ops/ci-deps.sh`` installs it)."""
    override = os.environ.get("TRADEFORGE_PG_BIN")
    found = Path("/usr/lib/postgresql").glob("*/bin")
    versions = sorted(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for folder in [Path(override)] if override else reversed(versions):
        if all((folder / name).is_file() for name in ("postgres", "initdb", "pg_isready", "psql")):
            return folder
    where = override or "/usr/lib/postgresql/*/bin"
    raise StackError(
        f"PostgreSQL not found in {where}: install Debian's postgresql (`bash ops/ci-deps.sh` "
        "or `apt-get install postgresql`), or set TRADEFORGE_PG_BIN to the folder holding "
        "postgres, initdb, pg_isready and psql"
    )


def postgres_system_user() -> str | None:
    """The user PostgreSQL runs as: the caller's (None), or ``postgres`` when the caller is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root and there is no {PG_SYSTEM_USER!r} user to run "
            "it as: install Debian's postgresql (it creates the user), or run `make up` as a "
            "non-root user"
        ) from None
    return PG_SYSTEM_USER


def postgres_credentials(cfg: StackConfig) -> dict[str, str]:
    """The stack's PostgreSQL role, password and database: made once, kept (mode 600)."""
    return _stack_secret(
        cfg,
        "postgres.json",
        lambda: {"user": PG_USER, "password": secrets.token_hex(24), "database": PG_DATABASE},
    )


def postgres_port(cfg: StackConfig) -> int:
    """PostgreSQL's port: ``cfg.postgres_port``, else the one recorded when it last started."""
    if cfg.postgres_port is not None:
        return cfg.postgres_port
    try:
        return int((cfg.state_dir / "postgres.port").read_text())
    except (OSError, ValueError):
        raise StackError(f"PostgreSQL of {cfg.state_dir} has not been started") from None


def postgres_url(cfg: StackConfig) -> str:
    """The Prefect server's SQLAlchemy URL for the stack's database (asyncpg, over TCP)."""
    creds = postgres_credentials(cfg)
    user, password = (urllib.parse.quote(creds[k], safe="") for k in ("user", "password"))
    return f"postgresql+asyncpg://{user}:{password}@{HOST}:{postgres_port(cfg)}/{creds['database']}"


def postgres_service(cfg: StackConfig) -> Service:
    """The stack's PostgreSQL server on 127.0.0.1 (and a Unix socket in its folder, mode 700)."""
    folder = cfg.state_dir / "postgres"
    bin_dir = postgres_bin()
    port = postgres_port(cfg)
    argv = [
        str(bin_dir / "postgres"),
        "-D",
        str(folder / "data"),
        "-k",
        str(folder),
        "-h",
        HOST,
        "-p",
        str(port),
        "-c",
        "unix_socket_permissions=0700",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_", "PG"))}

    def ready() -> bool:
        check = [str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)]
        return subprocess.run(check, env=env, timeout=10, check=False).returncode == 0

    return Service("postgres", argv, env, folder, ready, user=postgres_system_user())


def init_postgres(cfg: StackConfig) -> None:
    """``initdb`` the stack's cluster once (role and password from ``postgres_credentials``,
    password authentication for every connection)."""
    folder, user = cfg.state_dir / "postgres", postgres_system_user()
    if (folder / "data" / "PG_VERSION").exists():
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        reach = ["test", "-w", str(folder)]
        if subprocess.run(reach, user=user, group=entry.pw_gid, check=False).returncode:
            raise StackError(
                f"PostgreSQL runs as {user!r} (it refuses root) but {user!r} cannot reach "
                f"{folder}: a parent folder is closed to other users (chmod o+x it), or use a "
                "state folder elsewhere"
            )
    creds = postgres_credentials(cfg)
    pwfile = folder / "initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(creds["password"] + "\n")
    try:
        if user is not None:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
        argv = [
            str(postgres_bin() / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            creds["user"],
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
        proc = subprocess.run(
            argv,
            cwd=folder,
            user=user,
            group=_user_group(user),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise StackError(f"initdb of {folder / 'data'} failed:\n{proc.stdout}\n{proc.stderr}")


def psql_env(cfg: StackConfig) -> dict[str, str]:
    """libpq's variables for the stack's database (the password in the environment, never in
    argv, which ``ps`` shows)."""
    creds = postgres_credentials(cfg)
    return {
        "PGHOST": HOST,
        "PGPORT": str(postgres_port(cfg)),
        "PGUSER": creds["user"],
        "PGPASSWORD": creds["password"],
        "PGDATABASE": creds["database"],
    }


def psql(cfg: StackConfig, sql: str, *, database: str | None = None) -> str:
    """Run ``sql`` in the stack's PostgreSQL (its own database unless named); returns the rows,
    one per line, columns separated by ``|``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(psql_env(cfg))
    if database is not None:
        env["PGDATABASE"] = database
    argv = [str(postgres_bin() / "psql"), "-XqAt", "-c", sql]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise StackError(f"psql {sql!r} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def start_postgres(cfg: StackConfig) -> int:
    """Init (once) and start the stack's PostgreSQL, create its database; returns the pid."""
    init_postgres(cfg)
    port_file = cfg.state_dir / "postgres.port"
    if read_pid(cfg.pids / "postgres.pid") is None:
        if cfg.postgres_port is None:  # the port used before if still free, else a new one
            recorded = port_file.read_text().strip() if port_file.exists() else ""
            port = int(recorded) if recorded.isdigit() else free_port()
            port_file.write_text(f"{port if not port_in_use(port) else free_port()}\n")
        elif port_in_use(cfg.postgres_port):
            raise StackError(
                f"postgres: port {cfg.postgres_port} on {HOST} is already in use by another "
                "program; stop it or choose another port (TRADEFORGE_POSTGRES_PORT)"
            )
        else:
            port_file.write_text(f"{cfg.postgres_port}\n")
    pid = start_service(postgres_service(cfg), cfg.logs, cfg.pids)
    name = postgres_credentials(cfg)["database"]
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    if psql(cfg, exists, database="postgres") != "1":
        psql(cfg, f'CREATE DATABASE "{name}"', database="postgres")
    return pid


def start_prefect(cfg: StackConfig) -> None:
    """Start the Prefect server on the stack's database (PostgreSQL first, when chosen), and
    record the choice: a later ``up`` without ``--db`` keeps it (``choose_database``)."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / "database").write_text(cfg.db + "\n")
    if cfg.db == "postgres":
        start_postgres(cfg)
    start_service(prefect_server_service(cfg), cfg.logs, cfg.pids)


def stored_database(state_dir: Path) -> str | None:
    """The database the stack in ``state_dir`` was last started with (None for a new stack)."""
    try:
        stored = (state_dir / "database").read_text().strip()
    except OSError:
        return None
    return stored if stored in DATABASES else None


def choose_database(state_dir: Path, requested: str | None) -> str:
    """``requested`` if given, else what the stack used before (SQLite for a new stack).

    A running Prefect server is never switched under its runs: the caller is told to stop first.
    """
    stored = stored_database(state_dir)
    if requested is None or requested == stored:
        return stored or DATABASES[0]
    if stored is not None and read_pid(state_dir / "pids" / "prefect-server.pid") is not None:
        raise StackError(
            f"the running stack's Prefect server uses {stored}; to switch it to {requested}: "
            f"`make down`, then `make up DB={requested}` (the {stored} flow-run history stays "
            f"in {state_dir}, `make up DB={stored}` goes back to it)"
        )
    return requested


def prefect(cfg: StackConfig, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a ``prefect`` CLI command against the stack's API; raise with its output on failure."""
    proc = subprocess.run(
        [str(VENV_BIN / "prefect"), *args],
        cwd=cfg.repo,
        env=base_env(cfg),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise StackError(
            f"`prefect {shlex.join(args)}` failed with code {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


#: Work queue of the training deployments (prefect.yaml) and its concurrency limit: trainings
#: never overlap on the pool's machine.
TRAINING_QUEUE = "training"
TRAINING_QUEUE_LIMIT = 1


def ensure_pool(cfg: StackConfig) -> None:
    """Create the process work pool unless it exists, and its ``training`` queue with limit 1."""
    if prefect(cfg, "work-pool", "inspect", cfg.pool, check=False).returncode != 0:
        prefect(cfg, "work-pool", "create", cfg.pool, "--type", "process")
    limit = str(TRAINING_QUEUE_LIMIT)
    queue = ("--pool", cfg.pool)
    if prefect(cfg, "work-queue", "inspect", TRAINING_QUEUE, *queue, check=False).returncode:
        prefect(cfg, "work-queue", "create", TRAINING_QUEUE, *queue, "--limit", limit)
    else:  # an older stack's queue (or one created by `prefect deploy`) gets the limit too
        prefect(cfg, "work-queue", "set-concurrency-limit", TRAINING_QUEUE, limit, *queue)


def ensure_result_storage(cfg: StackConfig) -> None:
    """Save the ``s3-bucket/tradeforge-results`` block: task results in s3://<bucket>/prefect-results.

    The block holds no credentials and no endpoint: each worker's boto3 reads them from its own
    environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).
    """
    script = (
        "from prefect_aws import AwsCredentials, S3Bucket\n"
        f"S3Bucket(bucket_name={cfg.bucket!r}, bucket_folder={RESULTS_FOLDER!r},"
        " credentials=AwsCredentials())"
        f".save({RESULTS_BLOCK!r}, overwrite=True)\n"
    )
    _venv_python(cfg, "saving the result-storage block", "-c", script)


def ensure_automations(cfg: StackConfig) -> str:
    """Create or update the server-side notification automations (``ops/automations.py``):
    champion demoted, paper alarm or warning, flow run crashed -> the notification block."""
    return _venv_python(cfg, "creating the automations", "-m", "ops.automations")


def _venv_python(cfg: StackConfig, what: str, *args: str) -> str:
    """Run the venv's python with ``args`` in the stack's environment; its stdout, or a
    ``StackError`` saying ``what`` failed with its stderr."""
    proc = subprocess.run(
        [str(VENV_BIN / "python"), *args],
        cwd=cfg.repo,
        env=base_env(cfg),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise StackError(f"{what} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip()


def deploy_all(cfg: StackConfig) -> str:
    """Register (or update) every deployment in prefect.yaml; returns the CLI output."""
    return prefect(cfg, "deploy", "--all").stdout


# ---------------------------------------------------------------------------------- commands

ORDER = ("postgres", "seaweedfs", "prefect-server", "worker", "serve")


def up(cfg: StackConfig) -> None:
    """Start the stack (only the parts that are not already running) and register deployments."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    ports = (
        ("prefect-server", cfg.prefect_port),
        ("seaweedfs", cfg.s3_port),
        ("serve", cfg.serve_port),
    )
    for name, port in ports:
        if read_pid(cfg.pids / f"{name}.pid") is None and port_in_use(port):
            raise StackError(
                f"{name}: port {port} on {HOST} is already in use by another program; "
                "stop it or choose another port "
                "(TRADEFORGE_PREFECT_PORT / TRADEFORGE_S3_PORT / TRADEFORGE_SERVE_PORT)"
            )
    previous = stored_database(cfg.state_dir)
    if previous not in (None, cfg.db):
        print(
            f"Database       switched from {previous} to {cfg.db} (`make up DB={previous}` goes back)"
        )
    start_service(seaweedfs_service(cfg, cfg.state_dir / "seaweedfs"), cfg.logs, cfg.pids)
    print(f"SeaweedFS S3   {cfg.s3_url}  (bucket {cfg.bucket})")
    start_prefect(cfg)
    print(f"Prefect API    {cfg.api_url}  (database: {_database_line(cfg)})")
    if not api_refuses_anonymous(cfg):  # a server started by an older `make up`
        print("warning: the running Prefect server needs no auth string: `make down && make up`")
    ensure_pool(cfg)
    ensure_result_storage(cfg)
    print(f"Results        s3://{cfg.bucket}/{RESULTS_FOLDER} (block s3-bucket/{RESULTS_BLOCK})")
    print("Automations    " + ensure_automations(cfg).replace("\n", "\n               "))
    deploy_all(cfg)
    print(f"Deployments    {', '.join(list_deployments(cfg))}")
    start_service(worker_service(cfg), cfg.logs, cfg.pids)
    print(f"Worker         pool {cfg.pool}")
    start_service(serve_service(cfg), cfg.logs, cfg.pids)
    print(f"Serve          {cfg.serve_url}  (GET /health, GET /models, POST /predict)")
    env_file = write_env_file(cfg)
    print(f"Logs           {cfg.logs}")
    print(f"Shell          source {env_file.relative_to(cfg.repo, walk_up=True)}")
    print(
        f"\nPrefect UI: {cfg.ui_url}  (it asks for the auth string: echo $PREFECT_API_AUTH_STRING)"
    )
    print(f"Predictions: {cfg.serve_url}/predict")


def _database_line(cfg: StackConfig) -> str:
    if cfg.db == "sqlite":
        return f"SQLite in {cfg.state_dir / 'prefect'}"
    return f"PostgreSQL {HOST}:{postgres_port(cfg)}/{postgres_credentials(cfg)['database']}"


def down(cfg: StackConfig) -> None:
    """Stop every part this stack started, worker first (its flow runs go with it), the
    database last."""
    for name in reversed(cfg.services):
        stopped = stop_service(name, cfg.pids)
        print(f"{name:15s}{'stopped' if stopped else 'not running'}")


def status(cfg: StackConfig) -> int:
    """Print what runs; exit code 0 only if every part runs."""
    missing = 0
    for name in cfg.services:
        pid = read_pid(cfg.pids / f"{name}.pid")
        missing += pid is None
        where = f", {HOST}:{postgres_port(cfg)}" if pid and name == "postgres" else ""
        print(f"{name:15s}{f'running (pid {pid}{where})' if pid else 'not running'}")
    known = cfg.db == "sqlite" or (cfg.state_dir / "postgres.port").exists()
    print(f"{'database':15s}{_database_line(cfg) if known else cfg.db}")
    if missing == 0:
        print(f"\nPrefect UI: {cfg.ui_url}\nPredictions: {cfg.serve_url}/predict")
    return 1 if missing else 0


def api(cfg: StackConfig, path: str, body: dict | None = None) -> object:
    """POST (or GET without a body) to the stack's Prefect REST API; returns the decoded JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        cfg.api_url + path,
        data=data,
        headers={"Content-Type": "application/json", "Authorization": api_authorization(cfg)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def api_authorization(cfg: StackConfig) -> str:
    """The ``Authorization`` header value Prefect clients send: basic auth of the auth string."""
    return "Basic " + base64.b64encode(prefect_auth_string(cfg).encode()).decode()


def api_refuses_anonymous(cfg: StackConfig) -> bool:
    """True when the stack's API answers 401 to a request without the auth string."""
    try:
        urllib.request.urlopen(cfg.api_url + "/admin/version", timeout=10).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    return False


def list_deployments(cfg: StackConfig) -> list[str]:
    """Names ``flow/deployment`` registered on the stack's server."""
    flows = {f["id"]: f["name"] for f in api(cfg, "/flows/filter", {})}
    return sorted(f"{flows[d['flow_id']]}/{d['name']}" for d in api(cfg, "/deployments/filter", {}))


def config_from_env() -> StackConfig:
    """Ports can be moved with TRADEFORGE_PREFECT_PORT / TRADEFORGE_S3_PORT /
    TRADEFORGE_SERVE_PORT / TRADEFORGE_POSTGRES_PORT, the state folder with TRADEFORGE_STACK_DIR."""
    postgres_port = os.environ.get("TRADEFORGE_POSTGRES_PORT")
    return StackConfig(
        state_dir=Path(os.environ.get("TRADEFORGE_STACK_DIR", StackConfig.state_dir)),
        prefect_port=int(os.environ.get("TRADEFORGE_PREFECT_PORT", "4200")),
        s3_port=int(os.environ.get("TRADEFORGE_S3_PORT", "8333")),
        serve_port=int(os.environ.get("TRADEFORGE_SERVE_PORT", "8000")),
        postgres_port=int(postgres_port) if postgres_port else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--db",
        choices=DATABASES,
        help="up only: the Prefect server's database (default: what the stack was created "
        "with; sqlite for a new stack)",
    )
    args = parser.parse_args(argv)
    if args.db is not None and args.command != "up":
        parser.error(f"--db applies to `up` only, not `{args.command}`")
    cfg = config_from_env()
    try:
        if args.command == "up":
            cfg = dataclasses.replace(cfg, db=choose_database(cfg.state_dir, args.db))
        else:
            cfg = dataclasses.replace(cfg, db=stored_database(cfg.state_dir) or DATABASES[0])
        if args.command == "up":
            up(cfg)
        elif args.command == "down":
            down(cfg)
        else:
            return status(cfg)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
