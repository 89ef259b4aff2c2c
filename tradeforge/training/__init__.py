"""Training stage: one agent per (ticker, candidate, fold), staged in the store as a .keras file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig
from tradeforge.records import Candidate, CandidateId

STAGING_PREFIX = "staging"


def staging_key(run_id: str, ticker: str, cid: CandidateId, fold: int, name: str) -> str:
    """Store key of a staged (not yet published) file of one trained model."""
    return (
        f"{STAGING_PREFIX}/{run_id}/{ticker}/{cid.agent}/{cid.reward}/seed-{cid.seed}/"
        f"fold-{fold}/{name}"
    )


def train_candidate(
    ticker: str,
    cid: CandidateId,
    fold: Any,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    store: Any,
    run_id: str,
    *,
    on_progress: Any = None,
) -> Candidate:
    """Train ``cid`` on ``fold.train`` and stage its ``.keras`` file in ``store``.

    ``env.reward`` is replaced by the candidate's reward scheme; ``on_progress(env_steps,
    total_steps, scalars)`` reports progress while it trains.
    """
    from tradeforge.agents import train_agent

    result = train_agent(
        cid.agent,
        fold.train,
        env.replace(reward=cid.reward),
        dqn,
        parallel,
        cid.seed,
        progress=True,
        on_progress=on_progress,
    )
    key = staging_key(run_id, ticker, cid, fold.index, "model.keras")
    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        path = Path(tmp) / "model.keras"
        result.agent.save(path)
        store.put_bytes(key, path.read_bytes())
    stats = {k: v for k, v in result.stats.items() if isinstance(v, int | float | str)}
    return Candidate(ticker=ticker, id=cid, fold=fold.index, model_key=key, stats=stats)


def clear_staging(store: Any, run_id: str, ticker: str) -> int:
    """Delete every staged file of ``ticker`` in run ``run_id``; returns how many."""
    keys = store.list(f"{STAGING_PREFIX}/{run_id}/{ticker}/")
    for key in keys:
        store.delete(key)
    return len(keys)
