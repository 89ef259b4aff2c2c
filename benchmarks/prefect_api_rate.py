"""The Prefect API's task-run rate on SQLite and on PostgreSQL (docs/explanation/performance.md, "Scaling out").

For each database, a real Prefect server is started with the stack's own helpers
(``ops/stack.py``: ``start_prefect`` on a temporary state folder, PostgreSQL as the stack runs it
for ``make up DB=postgres``), then two loads are measured:

1. **flow**: a flow submits ``--tasks`` no-op tasks on the default thread runner and waits for
   them. ``flow_tasks_per_s`` = tasks / the flow's wall time (client side: task runs report their
   states as events). ``recorded_tasks_per_s`` = tasks / the time from the flow's start until
   the server has written every one of them as COMPLETED to its database (the rate the server
   sustains, events recorded asynchronously included). The server's task-run recorder writes
   in batches at least every few seconds (``PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_*``), so
   a small run measures that delay, not the rate: use a few thousand tasks for the rate.
2. **rest**: the task-run life cycle straight on the REST API, as any client (a worker's flow run)
   drives it: create the task run (Pending), set Running, set Completed. ``api_ms_per_task`` is the
   mean time of those three calls from one client; ``rest_tasks_per_s_concurrent`` the rate of
   ``--clients`` clients at once (where a single-writer database shows).

    .venv/bin/python benchmarks/prefect_api_rate.py --tasks 200 --json
    .venv/bin/python benchmarks/prefect_api_rate.py --tasks 2000 --rest-tasks 200 --json

The last stdout line is one JSON object. The figures depend on the machine's load (the one-minute
load average is reported beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops.stack import (  # noqa: E402
    DATABASES,
    StackConfig,
    api,
    api_authorization,
    base_env,
    down,
    free_port,
    start_prefect,
)

# The flow of the "flow" load, run in its own process against the server (as a flow run is);
# prints its flow run id, state and wall time as JSON.
FLOW = """
import json, sys, time
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

@task(cache_policy=NO_CACHE, persist_result=False)
def noop(i: int) -> int:
    return i

@flow(name="api-rate", persist_result=False)
def api_rate(n: int) -> int:
    futures = [noop.submit(i) for i in range(n)]
    return sum(f.result() for f in futures)

start = time.time()
state = api_rate(int(sys.argv[1]), return_state=True)
wall = time.time() - start
print(json.dumps({"flow_run_id": str(state.state_details.flow_run_id), "state": state.type.value,
                  "start": start, "wall_s": wall}))
"""


def flow_load(cfg: StackConfig, tasks: int) -> dict[str, Any]:
    """Run the no-op flow; wait until the server has recorded every task run as COMPLETED."""
    env = base_env(cfg)
    env.pop("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK")  # no S3 here, and nothing is persisted
    proc = subprocess.run(
        [sys.executable, "-c", FLOW, str(tasks)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the benchmark flow failed:\n{proc.stderr[-3000:]}")
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    if run["state"] != "COMPLETED":
        raise RuntimeError(f"the benchmark flow ended {run['state']}")
    query = {
        "flow_runs": {"id": {"any_": [run["flow_run_id"]]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
    }
    deadline = time.time() + 600
    while (done := api(cfg, "/task_runs/count", query)) < tasks and time.time() < deadline:
        time.sleep(0.2)
    recorded = time.time() - run["start"]
    if done < tasks:
        raise RuntimeError(f"only {done} of {tasks} task runs recorded after 600 s")
    return {
        "flow_wall_s": round(run["wall_s"], 2),
        "flow_tasks_per_s": round(tasks / run["wall_s"], 1),
        "recorded_s": round(recorded, 2),
        "recorded_tasks_per_s": round(tasks / recorded, 1),
    }


#: Prefect's client retries these answers (a busy server's 503, 429) after the Retry-After header
#: or 2**attempt seconds; the REST load does the same and counts them.
RETRY_CODES = {429, 502, 503}
MAX_RETRIES = 5


def _post(client: Any, path: str, body: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """POST like Prefect's client: retry a busy server's answer or a dropped connection (creating
    a task run is idempotent on its keys), counting the retries."""
    import httpx

    for attempt in range(MAX_RETRIES + 1):
        try:
            response = client.post(path, json=body)
        except httpx.TransportError as exc:
            if attempt == MAX_RETRIES:
                raise
            stats["retries"] += 1
            stats.setdefault("retry_answer", f"{type(exc).__name__}: {exc}")
            time.sleep(2**attempt)
            continue
        if response.status_code not in RETRY_CODES or attempt == MAX_RETRIES:
            break
        stats["retries"] += 1
        stats.setdefault("retry_answer", f"{response.status_code} {response.text[:200]}")
        time.sleep(float(response.headers.get("Retry-After") or 2**attempt))
    response.raise_for_status()
    return response.json()


def _life_cycles(
    cfg: StackConfig, flow_run_id: str, count: int, out: list[float], stats: dict[str, Any]
) -> None:
    """Drive ``count`` task runs through Pending -> Running -> Completed; append each's seconds."""
    import httpx  # Prefect's own HTTP client library; one keep-alive connection per client

    headers = {"Authorization": api_authorization(cfg)}
    try:
        with httpx.Client(base_url=cfg.api_url, headers=headers, timeout=120) as client:
            for _ in range(count):
                start = time.perf_counter()
                body = {
                    "flow_run_id": flow_run_id,
                    "task_key": "api-rate-rest",
                    "dynamic_key": uuid.uuid4().hex,
                    "name": "api-rate-rest",
                    "state": {"type": "PENDING"},
                }
                try:
                    task_run_id = _post(client, "/task_runs/", body, stats)["id"]
                    for state in ("RUNNING", "COMPLETED"):
                        path = f"/task_runs/{task_run_id}/set_state"
                        _post(client, path, {"state": {"type": state}}, stats)
                except (httpx.HTTPStatusError, httpx.TransportError) as exc:  # after the retries
                    stats["failed"] += 1
                    stats.setdefault("failure", f"{type(exc).__name__}: {exc}"[:300])
                    continue
                out.append(time.perf_counter() - start)
    except Exception as exc:  # a thread's error is re-raised by rest_load
        stats["errors"].append(f"{type(exc).__name__}: {exc}")


def rest_load(cfg: StackConfig, tasks: int, clients: int) -> dict[str, Any]:
    """The REST life cycle: one client (time per task), then ``clients`` at once (rate)."""
    flow = api(cfg, "/flows/", {"name": "api-rate-rest"})
    flow_run = api(cfg, "/flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
    single: list[float] = []
    stats: dict[str, Any] = {"retries": 0, "failed": 0, "errors": []}
    _life_cycles(cfg, flow_run["id"], tasks, single, stats)
    together: list[float] = []
    concurrent: dict[str, Any] = {"retries": 0, "failed": 0, "errors": []}
    per_client = max(1, tasks // clients)
    threads = [
        threading.Thread(
            target=_life_cycles, args=(cfg, flow_run["id"], per_client, together, concurrent)
        )
        for _ in range(clients)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    errors = stats["errors"] + concurrent["errors"]
    if errors:
        raise RuntimeError(f"{len(errors)} REST clients failed, the first: {errors[0]}")
    return {
        "api_ms_per_task": round(1000 * sum(single) / max(1, len(single)), 1),
        "rest_tasks_per_s_single": round(len(single) / max(1e-9, sum(single)), 1),
        "rest_tasks_per_s_concurrent": round(len(together) / wall, 1),
        "api_ms_per_task_concurrent": round(1000 * sum(together) / max(1, len(together)), 1),
        "rest_retries_single": stats["retries"],
        "rest_retries_concurrent": concurrent["retries"],
        # life cycles given up after MAX_RETRIES busy answers (not in the rates above)
        "rest_failed_single": stats["failed"],
        "rest_failed_concurrent": concurrent["failed"],
        "failure": stats.get("failure") or concurrent.get("failure"),
        "retry_answer": stats.get("retry_answer") or concurrent.get("retry_answer"),
    }


def measure(db: str, tasks: int, rest_tasks: int, clients: int) -> dict[str, Any]:
    """Start a Prefect server on ``db`` in a temporary state folder, measure both loads, stop."""
    folder = Path(tempfile.mkdtemp(prefix=f"tradeforge-api-rate-{db}-"))
    folder.chmod(0o711)  # PostgreSQL runs as its own user when we are root: it must reach it
    cfg = StackConfig(
        state_dir=folder / "stack", prefect_port=free_port(), s3_port=free_port(), db=db
    )
    try:
        start = time.perf_counter()
        start_prefect(cfg)
        result: dict[str, Any] = {"server_start_s": round(time.perf_counter() - start, 1)}
        result.update(flow_load(cfg, tasks))
        result.update(rest_load(cfg, rest_tasks, clients))
        result["load_1min"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        down(cfg)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="task runs per load (default 200)")
    parser.add_argument(
        "--rest-tasks", type=int, help="task runs of the REST load (default: --tasks)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent REST clients")
    parser.add_argument("--db", default=",".join(DATABASES), help="databases, comma-separated")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line"
    )
    args = parser.parse_args()
    dbs = [db.strip() for db in args.db.split(",") if db.strip()]
    unknown = sorted(set(dbs) - set(DATABASES))
    if unknown or not dbs:
        parser.error(f"--db {args.db!r}: choose from {', '.join(DATABASES)}")
    rest_tasks = args.tasks if args.rest_tasks is None else args.rest_tasks
    if min(args.tasks, rest_tasks, args.clients) < 1:
        parser.error("--tasks, --rest-tasks and --clients must be at least 1")
    results = {}
    for db in dbs:
        results[db] = measure(db, args.tasks, rest_tasks, args.clients)
        print(f"{db}: {json.dumps(results[db])}", flush=True)
    summary = {
        "tasks": args.tasks,
        "rest_tasks": rest_tasks,
        "clients": args.clients,
        "cpus": os.cpu_count(),
        **results,
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
