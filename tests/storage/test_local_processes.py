"""The local store's conditional writes hold across processes, not only threads."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from storage import LocalStore, PreconditionFailed
from storage.registry import ModelRegistry

WORKERS = 6


ROUNDS = 10


def _cas_writer(root: str, etag: str, i: int, start, results) -> None:
    store = LocalStore(root)
    for r in range(ROUNDS):
        start.wait()
        try:
            store.put_bytes(f"pointer-{r}.json", f"process {i}".encode(), if_match=etag)
            results.put((r, i, True))
        except PreconditionFailed:
            results.put((r, i, False))  # one message per round either way: counted, not polled


def test_compare_and_swap_across_processes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    etag = ""
    for r in range(ROUNDS):  # same content, same ETag: every process targets every pointer
        etag = store.put_bytes(f"pointer-{r}.json", b"base")
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_cas_writer, args=(str(tmp_path), etag, i, start, results))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    # Exactly WORKERS x ROUNDS messages, read before joining (Queue.empty() is unreliable
    # across processes, and a child with unflushed queue data cannot exit).
    outcomes = [results.get(timeout=120) for _ in range(WORKERS * ROUNDS)]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    wins: dict[int, list[int]] = {}
    for r, i, won in outcomes:
        if won:
            wins.setdefault(r, []).append(i)
    assert sorted(wins) == list(range(ROUNDS)), wins
    assert all(len(w) == 1 for w in wins.values()), wins
    for r, (winner,) in wins.items():
        assert store.get_bytes(f"pointer-{r}.json") == f"process {winner}".encode()


def _promoter(root: str, version_id: str, etag: str | None, start, results) -> None:
    registry = ModelRegistry(LocalStore(root))
    ref = next(v for v in registry.versions("SPY") if v.version_id == version_id)
    start.wait()
    results.put((version_id, registry.promote("SPY", ref, {"promote": True}, etag)))


def test_first_promotions_race_across_processes(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalStore(tmp_path))
    versions = [
        registry.publish("SPY", "dqn", {"model.keras": f"m{i}".encode()}, {"i": i})
        for i in range(WORKERS)
    ]
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_promoter, args=(str(tmp_path), v.version_id, None, start, results))
        for v in versions
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    winners = [v for v, won in outcomes.items() if won]
    assert len(winners) == 1, outcomes
    assert registry.champion("SPY").version_id == winners[0]
    history = registry.history("SPY")
    assert sorted(h["outcome"] for h in history) == ["lost_race"] * (WORKERS - 1) + ["promoted"]
