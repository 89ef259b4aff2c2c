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

    train, held_out = early_stopping_split(fold.train, dqn)
    result = train_agent(
        cid.agent,
        train,
        env.replace(reward=cid.reward),
        dqn,
        parallel,
        cid.seed,
        validation=held_out,
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


#: Fewer held-out bars than this give no checkpoint selection (too noisy to choose by).
MIN_EARLY_STOPPING_BARS = 40


def early_stopping_split(train: Any, dqn: DQNConfig) -> tuple[Any, Any | None]:
    """The fold's training bars, less the last ``dqn.early_stopping_fraction`` of them, which
    pick the best checkpoint (scored every ``dqn.eval_every`` steps).

    The early-stopping bars come out of the training window, never out of the fold's
    validation stretch: the pooled validation returns the gate judges stay untouched by any
    choice (a checkpoint chosen on them would look better there than it is, issue 12).
    Returns ``(train, None)`` when selection is off or the held-out part would be too short.
    """
    held = round(train.num_bars * dqn.early_stopping_fraction)
    if dqn.eval_every <= 0 or held < MIN_EARLY_STOPPING_BARS or train.num_bars - held < 2:
        return train, None
    cut = train.end - held
    return train.slice(train.start, cut), train.slice(cut, train.end)


def clear_staging(store: Any, run_id: str, ticker: str) -> int:
    """Delete every staged file of ``ticker`` in run ``run_id``; returns how many."""
    keys = store.list(f"{STAGING_PREFIX}/{run_id}/{ticker}/")
    for key in keys:
        store.delete(key)
    return len(keys)
