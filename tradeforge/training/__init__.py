"""Training stage: one agent per (ticker, candidate, fold), staged in the store as a .keras file."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig
from tradeforge.records import Candidate, CandidateId

STAGING_PREFIX = "staging"


def staging_key(run_id: str, ticker: str, cid: CandidateId, fold: int, name: str) -> str:
    """Store key of a staged (not yet published) file of one trained model."""
    return (
        f"{STAGING_PREFIX}/{run_id}/{ticker}/{cid.agent}/{cid.reward}/{cid.slug}/fold-{fold}/{name}"
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
    work_dir: str | None = None,
    on_progress: Any = None,
) -> Candidate:
    """Train ``cid`` on ``fold.train`` and stage its ``.keras`` file in ``store``.

    ``env.reward`` is replaced by the candidate's reward scheme; ``on_progress(env_steps,
    total_steps, scalars)`` reports progress while it trains. With ``work_dir``, the training
    writes checkpoints and TensorBoard scalars under ``run_dirs(...)``; a training of the same
    run, ticker, candidate and fold started again resumes from its last checkpoint (the
    candidate's ``stats["resumed_from"]`` says at which step), and the checkpoints are removed
    once the model is staged.
    """
    from tradeforge.agents import train_agent

    train, held_out = early_stopping_split(fold.train, dqn)
    dirs = run_dirs(work_dir, run_id, ticker, cid, fold.index) if work_dir else None
    result = train_agent(
        cid.agent,
        train,
        env.replace(reward=cid.reward),
        dqn,
        parallel,
        cid.seed,
        validation=held_out,
        log_dir=str(dirs.tensorboard) if dirs else None,
        checkpoint_dir=str(dirs.checkpoints) if dirs else None,
        progress=True,
        on_progress=on_progress,
    )
    key = stage_agent(
        store, result.agent, staging_key(run_id, ticker, cid, fold.index, "model.keras")
    )
    stats = {k: v for k, v in result.stats.items() if isinstance(v, int | float | str)}
    if dirs:
        shutil.rmtree(dirs.checkpoints, ignore_errors=True)  # staged: nothing left to resume
        stats["tensorboard"] = str(dirs.tensorboard)
    return Candidate(ticker=ticker, id=cid, fold=fold.index, model_key=key, stats=stats)


@dataclass(frozen=True)
class RunDirs:
    """Where one training of a run keeps its checkpoints and TensorBoard logs."""

    checkpoints: Path
    tensorboard: Path


def run_dirs(work_dir: str, run_id: str, ticker: str, cid: CandidateId, fold: int) -> RunDirs:
    """``<work_dir>/<run_id>/{checkpoints,tensorboard}/<ticker>/<agent>/<reward>/<seed>/fold-<k>``."""
    tail = Path(ticker, cid.agent, cid.reward, cid.slug, f"fold-{fold}")
    root = Path(work_dir).expanduser() / run_id
    return RunDirs(checkpoints=root / "checkpoints" / tail, tensorboard=root / "tensorboard" / tail)


def stage_agent(store: Any, agent: Any, key: str) -> str:
    """Write ``agent`` as a ``.keras`` file at ``key`` in the store; returns ``key``."""
    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        path = agent.save(Path(tmp) / "model.keras")
        store.put_bytes(key, path.read_bytes())
    return key


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
