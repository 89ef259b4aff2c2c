"""How fast failures are reported: a dying ParallelDQN actor, and the store checks of preflight.

    .venv/bin/python benchmarks/failure_times.py            # a table
    .venv/bin/python benchmarks/failure_times.py --json     # ... and one JSON object on the last line

The tests check *what* is reported (tests/agents/test_agents.py, tests/preflight/test_preflight.py)
with only a generous hang guard; the seconds it takes are measured here:

- ``actor raises`` / ``actor killed``: ParallelDQN (2 actors) on the tests' sine market with an
  environment that raises, or SIGKILLs its own process, after 5 steps: seconds from ``train()``
  to ``ActorFailed`` (target: well under 60 s);
- ``store: wrong credentials``: ``check_store`` on a real SeaweedFS (started here) with a wrong
  secret key; ``store: unreachable``: on a closed 127.0.0.1 port (target: under 10 s; the
  check's own timeout is 3 s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _seconds(run: Callable[[], object], expected: type[BaseException]) -> float:
    """Seconds until ``run`` raises ``expected`` (anything else, or no error, is a failure)."""
    started = time.monotonic()
    try:
        run()
    except expected:
        return time.monotonic() - started
    raise SystemExit(f"{run} did not raise {expected.__name__}")


def actor_failures() -> dict[str, float]:
    """Seconds from ``train()`` to ``ActorFailed`` for an actor that raises and one killed."""
    from tests.agents import faulty_envs
    from tests.agents.test_agents import DQN_CFG, ENV, PARALLEL, TRAIN
    from tradeforge.agents import ActorFailed, ParallelDQN

    cfg = DQN_CFG.replace(total_steps=100_000)
    out = {}
    for name, factory in (
        ("actor raises", faulty_envs.raising_env),
        ("actor killed", faulty_envs.killed_env),
    ):
        run = ParallelDQN(TRAIN, ENV, cfg, PARALLEL, 0, progress=False, env_factory=factory)
        out[name] = _seconds(run.train, ActorFailed)
    return out


def store_checks() -> dict[str, float]:
    """Seconds for ``check_store`` to refuse wrong credentials and an unreachable endpoint."""
    from storage.preflight import StoreCheckError, check_store
    from tests.s3server import SeaweedS3

    with tempfile.TemporaryDirectory() as tmp, SeaweedS3(Path(tmp)) as server:
        env = {**server.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
        os.environ.update(env)
        uri = f"s3://{server.bucket}/models"
        wrong = _seconds(lambda: check_store(uri), StoreCheckError)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        away = _seconds(
            lambda: check_store(uri, endpoint_url=f"http://127.0.0.1:{closed}"), StoreCheckError
        )
    return {"store: wrong credentials": wrong, "store: unreachable": away}


def main() -> None:
    """Measure and print the table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    figures = {**actor_failures(), **store_checks()}
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, seconds in figures.items():
        print(f"{name:<28} {seconds:6.2f} s")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
