"""Wall times of the everyday commands, and ``tradeforge serve``'s latency and throughput.

    .venv/bin/python benchmarks/latency.py            # a table
    .venv/bin/python benchmarks/latency.py --json     # ... and one JSON object on the last line

Each command is a whole process (``.venv/bin/tradeforge ...``), run ``--repeat`` times (median
reported): ``--help``, ``train --help``, ``validate`` on a real SPY file, and ``predict`` against
a champion this script publishes itself into a temporary store (a seeded, untrained Q-network of
the default size, with the SPY file as its recorded source, through the real registry). Then
``tradeforge serve`` is started on a free 127.0.0.1 port and sent ``--requests`` sequential
``POST /predict`` requests over one keep-alive connection: p50, p99 and requests per second,
twice: without authentication or rate limit (``serve_*``), then with a bearer token and the
per-client rate limit on (``serve_auth_*``; the limit set high enough that the benchmark's one
client is never refused, so every request still goes through the token bucket and the token check).
The machine's load average (``os.getloadavg``) is printed before and after: on a shared 2-core
machine the figures move with it. ``--demo`` also times ``make demo``'s command once
(``tradeforge train --seeds 0`` into a temporary store): issue 12 keeps it under 3 minutes.

    .venv/bin/python benchmarks/latency.py --demo --repeat 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"
SPY = ROOT.parent / "shared" / "data" / "market" / "SPY_2010-2017_yahoo.csv"
#: ``make demo``'s options (Makefile).
DEMO_ARGS = ("--seeds", "0")
#: Targets of issue 13 on this machine (seconds, or ms for serve).
TARGETS = {
    "help_s": 1.5,
    "train_help_s": 1.5,
    "validate_s": 10.0,
    "predict_s": 3.0,
    "serve_p50_ms": 5.0,
    "serve_auth_p50_ms": 1.0,  # issue 30
    "demo_s": 180.0,
    "train_first_task_s": 8.0,  # issue 26
}


def load() -> str:
    """The 1, 5 and 15 minute load averages and the core count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def wall(args: list[str], repeat: int, ok_codes: tuple[int, ...] = (0,)) -> list[float]:
    """Seconds of ``repeat`` runs of ``tradeforge *args`` as whole processes."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PREFECT_API_URL", None)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(TRADEFORGE), *args], capture_output=True, text=True, env=env, timeout=900
        )
        times.append(time.perf_counter() - t0)
        if done.returncode not in ok_codes:
            raise SystemExit(
                f"tradeforge {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )
    return times


#: A small training: what ``train_first_task_s`` times is the start-up before its first task.
FIRST_TASK_ARGS = ("train", "--seeds", "0", "--agents", "dqn", "--folds", "1", "--steps", "200")


def first_task(store: str, repeat: int) -> list[float]:
    """Seconds from starting ``tradeforge train`` to its first task run's first log line
    (imports, preflight and the temporary Prefect server before it); the run is then stopped
    with SIGINT (and killed if it does not stop within 60 s)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PREFECT_API_URL", None)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(TRADEFORGE), *FIRST_TASK_ARGS, "--store", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Task run '" in line:
                times.append(time.perf_counter() - t0)
                break
        else:
            raise SystemExit(f"tradeforge train logged no task run (exit {proc.wait()})")
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return times


def publish_champion(store: str) -> str:
    """A seeded Q-network of the default size, published and promoted for SPY; its version id."""
    from storage import open_store
    from storage.registry import ModelRegistry
    from tradeforge.agents import QAgent
    from tradeforge.agents.network import NetworkSpec, build_q_network
    from tradeforge.artifact import save_agent
    from tradeforge.config import DataConfig, DQNConfig, EnvConfig, FeatureConfig, SplitConfig
    from tradeforge.data import ingest
    from tradeforge.features import prepare

    got = ingest("SPY", DataConfig(source=str(SPY)))
    window = EnvConfig().window
    prepared = prepare(got.frame, FeatureConfig(), SplitConfig(), window)
    dqn = DQNConfig()
    spec = NetworkSpec(window * len(prepared.feature_names) + 1, 2, dqn.hidden, dqn.dueling)
    agent = QAgent(build_q_network(spec, seed=0))
    with tempfile.TemporaryDirectory(prefix="tradeforge-bench-") as tmp:
        files = save_agent(agent, tmp)
        card = {
            "features": list(prepared.feature_names),
            "window": window,
            "scaler": prepared.scaler,
            "data": {"source": got.source, "sha256": got.sha256},
            "metrics": {},
        }
        registry = ModelRegistry(open_store(store))
        version = registry.publish("SPY", "dqn", files, card)
    assert registry.promote("SPY", version, {"promote": True, "reason": "benchmark"}, None)
    return version.version_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_serve(store: str, requests: int, *, auth: bool = False) -> dict[str, float]:
    """p50 / p99 of ``POST /predict`` over one keep-alive connection, and requests per second.

    ``auth``: with a bearer token and the rate limiter (keys ``serve_auth_*``); else neither.
    """
    port = free_port()
    token = secrets.token_urlsafe(32)
    if auth:  # the limiter runs on every request, set high enough never to refuse this client
        options = ["--rate-limit", "1000000", "--rate-burst", "1000000"]
        env = {**os.environ, "TRADEFORGE_SERVE_TOKEN": token}
    else:
        options = ["--rate-limit", "0"]
        env = {k: v for k, v in os.environ.items() if k != "TRADEFORGE_SERVE_TOKEN"}
    proc = subprocess.Popen(
        [str(TRADEFORGE), "serve", "--store", store, "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("tradeforge serve did not start") from None
                time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        bodies = [json.dumps({"ticker": "SPY", "position": p}).encode() for p in ("flat", "long")]
        headers = {"content-type": "application/json"}
        if auth:
            headers["authorization"] = f"Bearer {token}"

        def one(i: int) -> float:
            t0 = time.perf_counter()
            conn.request("POST", "/predict", body=bodies[i % 2], headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                raise SystemExit(f"/predict answered {resp.status}: {body[:500]!r}")
            return elapsed

        for i in range(50):  # warm-up: connection, caches, allocator
            one(i)
        started = time.perf_counter()
        times = [one(i) for i in range(requests)]
        total = time.perf_counter() - started
        conn.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    times.sort()
    prefix = "serve_auth" if auth else "serve"
    return {
        f"{prefix}_p50_ms": statistics.median(times) * 1e3,
        f"{prefix}_p99_ms": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] * 1e3,
        f"{prefix}_rps": requests / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    parser.add_argument("--requests", type=int, default=1000, help="requests sent to serve")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also time `make demo` (tradeforge train --seeds 0), once",
    )
    args = parser.parse_args()
    before = load()
    print(f"before: {before}")
    results: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tradeforge-latency-") as tmp:
        store = str(Path(tmp) / "store")
        version = publish_champion(store)
        print(f"champion SPY {version} published into {store} (source {SPY.name})")
        commands = {
            "help_s": ["--help"],
            "train_help_s": ["train", "--help"],
            "validate_s": ["validate", str(SPY)],
            "predict_s": ["predict", "--ticker", "SPY", "--store", store, "--json"],
        }
        for key, argv in commands.items():
            # validate exits 1 when a rule fails: still a whole run, still timed.
            runs[key] = wall(argv, args.repeat, ok_codes=(0, 1) if key == "validate_s" else (0,))
            results[key] = statistics.median(runs[key])
            shown = " ".join(f"{t:.2f}" for t in runs[key])
            print(f"  {key:14s} {results[key]:6.2f} s  ({shown})  tradeforge {' '.join(argv)}")
        runs["train_first_task_s"] = first_task(str(Path(tmp) / "first-store"), args.repeat)
        results["train_first_task_s"] = statistics.median(runs["train_first_task_s"])
        shown = " ".join(f"{t:.2f}" for t in runs["train_first_task_s"])
        print(f"  train_first_task_s {results['train_first_task_s']:6.2f} s  ({shown})")
        results.update(bench_serve(store, args.requests))
        results.update(bench_serve(store, args.requests, auth=True))
        if args.demo:
            demo_store = str(Path(tmp) / "demo-store")
            runs["demo_s"] = wall(["train", *DEMO_ARGS, "--store", demo_store], 1)
            results["demo_s"] = runs["demo_s"][0]
            print(
                f"  {'demo_s':14s} {results['demo_s']:6.2f} s  tradeforge train {' '.join(DEMO_ARGS)}"
            )
    after = load()
    print(f"after:  {after}\n")
    print(f"{'figure':34s}{'value':>10s}  {'target':>9s}")
    labels = {
        "help_s": ("tradeforge --help", "s"),
        "train_help_s": ("tradeforge train --help", "s"),
        "validate_s": ("tradeforge validate SPY file", "s"),
        "predict_s": ("tradeforge predict (SPY)", "s"),
        "train_first_task_s": ("train: start to first task", "s"),
        "serve_p50_ms": (f"serve /predict p50 ({args.requests})", "ms"),
        "serve_p99_ms": (f"serve /predict p99 ({args.requests})", "ms"),
        "serve_rps": ("serve requests per second", "/s"),
        "serve_auth_p50_ms": (f"serve auth /predict p50 ({args.requests})", "ms"),
        "serve_auth_p99_ms": (f"serve auth /predict p99 ({args.requests})", "ms"),
        "serve_auth_rps": ("serve auth requests per second", "/s"),
        "demo_s": ("make demo (train --seeds 0)", "s"),
    }
    for key, (label, unit) in labels.items():
        if key not in results:
            continue
        target = TARGETS.get(key)
        mark = "" if target is None else ("ok" if results[key] < target else "MISSED")
        limit = "" if target is None else f"< {target:g} {unit}"
        print(f"{label:34s}{results[key]:>8.2f} {unit:<3s}{limit:>9s}  {mark}")
    if args.json:
        out = {
            **{k: round(v, 4) for k, v in results.items()},
            "runs": runs,
            "load_before": before,
            "load_after": after,
        }
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
