"""How well a many-ticker run keeps a real Dask cluster busy (issue 26).

    .venv/bin/python benchmarks/scale.py                       # 8 tickers, 2 workers: a table
    .venv/bin/python benchmarks/scale.py --tickers 8 --workers 2 --json   # ... and one JSON line

Starts a temporary Prefect server and a Dask cluster of separate processes on 127.0.0.1 (a
``dask scheduler`` and ``--workers`` single-threaded ``dask worker`` processes,
``ops/dask_cluster.py``), then runs ``train_pipeline`` on ``--tickers`` tickers with small
trainings (real vendor files from ``../shared/data/market``, one copy per ticker name). Dask's
task stream records when each task computed on which worker. Reported:

- ``tasks_per_s``: tasks computed on Dask / wall time of the cluster phase (first task start to
  last task end);
- ``utilisation`` per worker and its mean: the worker's compute time / that wall time;
- ``ideal_s``: total compute time / workers, and ``wall_over_ideal`` = wall / ideal (1.0 = no
  worker ever idle);
- ``prefect_api_s_per_task``: the mean of (Dask compute time - Prefect's own run time of the
  task), the orchestration each task pays (creating its run, proposing states, resolving inputs);
- ``flow_s``: the whole flow run, and ``task_s`` by task kind (mean Prefect run seconds);
- ``cpu_s_per_ticker``, ``store_objects_per_ticker``, ``store_mb_per_ticker``: the cost model of
  a nightly run (``--defaults`` for ``tradeforge train``'s own settings).

Targets on this 2-core machine (issue 26): utilisation >= 0.85 with 2 workers and 8 tickers,
wall within 1.2x of the ideal. The load average is printed before and after: on a shared 2-core
machine the figures move with it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "market"
#: Real daily files that cover the training window below; a run of more tickers than files
#: reuses them under further names (``AAPL2``, ...): the work per ticker is what matters here.
FILES = [
    "AAPL_2013-2023_yahoo-adjusted.csv",
    "AMZN_2013-2023_yahoo-adjusted.csv",
    "GOOGL_2013-2023_yahoo-adjusted.csv",
    "META_2013-2023_yahoo-adjusted.csv",
    "MSFT_2013-2023_yahoo-adjusted.csv",
    "NVDA_2013-2023_yahoo-adjusted.csv",
    "TSLA_2013-2023_yahoo-adjusted.csv",
]
TARGETS = {"utilisation": 0.85, "wall_over_ideal": 1.2}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def market(folder: Path, n: int) -> list[str]:
    """``n`` ticker files in ``folder`` (copies of the real files); their ticker names."""
    folder.mkdir(parents=True, exist_ok=True)
    tickers = []
    for i in range(n):
        name = FILES[i % len(FILES)]
        ticker = name.split("_")[0] + (str(i // len(FILES) + 1) if i >= len(FILES) else "")
        shutil.copyfile(SHARED / name, folder / f"{ticker}.csv")
        tickers.append(ticker)
    return tickers


def sections(
    source: Path, store: Path, tickers: list[str], steps: int, defaults: bool = False
) -> dict[str, Any]:
    """Small trainings: one agent kind, two seeds (and their ensemble), two folds; or, with
    ``defaults``, every default of ``tradeforge train`` (the nightly run's cost per ticker)."""
    if defaults:
        data = {"source": str(source), "tickers": tickers}
        return {"run": {"store": str(store)}, "data": data}
    return {
        "run": {"store": str(store), "agents": ["dqn"], "seeds": [0, 1]},
        "data": {
            "source": str(source),
            "tickers": tickers,
            "start": "2015-01-01",
            "end": "2019-01-01",
        },
        "split": {"val_start": "2017-01-01", "test_start": "2018-01-01", "folds": 2, "gap": 2},
        "dqn": {"total_steps": steps, "num_envs": 4},
        "env": {"window": 5},
    }


def measure(n_tickers: int, n_workers: int, steps: int, defaults: bool = False) -> dict[str, Any]:
    from distributed import Client, get_task_stream

    from cli.ephemeral import ephemeral_server
    from ops.dask_cluster import process_cluster

    with tempfile.TemporaryDirectory(prefix="tradeforge-scale-") as tmp:
        folder = Path(tmp)
        tickers = market(folder / "market", n_tickers)
        params = sections(folder / "market", folder / "store", tickers, steps, defaults)
        os.environ["PREFECT_HOME"] = str(folder / "prefect")
        with ephemeral_server() as server:
            env = {"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(folder / "prefect")}
            with process_cluster(n_workers, env=env) as address, Client(address) as client:
                from flows.runners import with_task_runner
                from flows.train import train_pipeline

                pipeline = with_task_runner(train_pipeline, dask_address=address)
                started = time.perf_counter()
                with get_task_stream(client) as stream:
                    state = pipeline(**params, return_state=True)
                flow_s = time.perf_counter() - started
                failed = not state.is_completed()
                runs = prefect_run_times()
        steps = None if defaults else steps
        result = summarise(stream.data, runs, n_tickers, n_workers, steps, flow_s, failed)
        files = [p for p in (folder / "store").rglob("*") if p.is_file()]
        result["store_objects_per_ticker"] = round(len(files) / n_tickers, 1)
        result["store_mb_per_ticker"] = round(
            sum(p.stat().st_size for p in files) / 1e6 / n_tickers, 2
        )
        return result


def prefect_run_times() -> dict[str, float]:
    """Task run name -> Prefect's own run time (seconds in Running) of the last flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(limit=1)
        only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        runs: list[Any] = []
        while page := client.read_task_runs(flow_run_filter=only, limit=200, offset=len(runs)):
            runs += page
    return {r.name: r.total_run_time.total_seconds() for r in runs}


def summarise(
    stream: list[dict[str, Any]],
    run_times: dict[str, float],
    n_tickers: int,
    n_workers: int,
    steps: int | None,
    flow_s: float,
    failed: bool,
) -> dict[str, Any]:
    computes = [  # (worker, start, stop) of every task computed on Dask
        (record["worker"], span["start"], span["stop"])
        for record in stream
        for span in record["startstops"]
        if span["action"] == "compute"
    ]
    wall = max(c[2] for c in computes) - min(c[1] for c in computes)
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for worker, start, stop in computes:
        spans[worker].append((start, stop))
    busy = {worker: _covered(s) for worker, s in spans.items()}  # time with a task running
    total = sum(busy.values())
    ideal = total / n_workers
    # Prefect's own run time of the tasks it ran on Dask (nested and in-flow tasks left out):
    # what Dask's compute time has beyond it is the orchestration each task pays.
    from flows.train import IN_FLOW_TASKS

    on_dask = {n: t for n, t in run_times.items() if not n.startswith(IN_FLOW_TASKS)}
    by_kind: dict[str, list[float]] = defaultdict(list)
    for name, seconds in on_dask.items():
        by_kind[name.split("-")[0]].append(seconds)
    utilisation = {w: b / wall for w, b in sorted(busy.items())}
    return {
        "tickers": n_tickers,
        "workers": n_workers,
        "steps": steps,
        "failed": failed,
        "tasks": len(computes),
        "prefect_task_runs": len(on_dask),
        "flow_s": round(flow_s, 1),
        "wall_s": round(wall, 1),
        "ideal_s": round(ideal, 1),
        "wall_over_ideal": round(wall / ideal, 3),
        "tasks_per_s": round(len(computes) / wall, 2),
        "utilisation": round(statistics.fmean(utilisation.values()), 3),
        "utilisation_per_worker": {w: round(u, 3) for w, u in utilisation.items()},
        "prefect_api_s_per_task": round((total - sum(on_dask.values())) / len(computes), 3),
        "task_s": {k: round(statistics.fmean(v), 2) for k, v in sorted(by_kind.items())},
        "cpu_s_per_ticker": round(total / n_tickers, 1),
        "overlap_s": round(sum(b - a for _, a, b in computes) - total, 1),
    }


def _covered(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``spans``: a worker whose task waits inside Dask
    (``secede``) may start another meanwhile, and that time counts once."""
    covered, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            covered += stop - max(start, end)
            end = stop
    return covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2000, help="env steps per training")
    parser.add_argument(
        "--defaults", action="store_true", help="every default of tradeforge train (not small)"
    )
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args()
    print(load(), flush=True)
    with contextlib.redirect_stdout(sys.stderr):  # the flow's prints stay off the JSON line
        result = measure(args.tickers, args.workers, args.steps, args.defaults)
    result["load_after"] = load()
    result["targets"] = TARGETS
    print(f"{result['tickers']} tickers on {result['workers']} worker processes:")
    for key in ("tasks", "flow_s", "wall_s", "ideal_s", "wall_over_ideal", "tasks_per_s"):
        print(f"  {key:24s} {result[key]}")
    print(f"  {'utilisation':24s} {result['utilisation']} {result['utilisation_per_worker']}")
    print(f"  {'prefect_api_s_per_task':24s} {result['prefect_api_s_per_task']}")
    print(f"  {'task_s':24s} {result['task_s']}")
    for key in ("cpu_s_per_ticker", "store_objects_per_ticker", "store_mb_per_ticker"):
        print(f"  {key:24s} {result[key]}")
    print(result["load_after"])
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
