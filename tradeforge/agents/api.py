"""``train_agent``: the one entry point the pipeline calls."""

from __future__ import annotations

from typing import Any

from tradeforge.agents.monitor import ProgressCallback, TrainingTimeout
from tradeforge.agents.qagent import KERAS_LOCK, TrainResult
from tradeforge.config import AGENT_KINDS, DQNConfig, EnvConfig, ParallelConfig


def train_agent(
    kind: str,
    market: Any,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    seed: int,
    *,
    validation: Any = None,
    log_dir: str | None = None,
    checkpoint_dir: str | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a ``"dqn"`` or ``"parallel_dqn"`` agent on ``market``'s steppable range.

    ``validation`` (a ``MarketData`` window after the training one) with ``dqn.eval_every > 0``
    turns on best-checkpoint selection: the returned agent has the weights whose greedy policy
    scored best (``dqn.eval_metric``, after costs) on it; ``stats`` says which step won.

    ``log_dir`` enables TensorBoard scalars; ``checkpoint_dir`` (with ``dqn.checkpoint_every``)
    enables checkpoints, and a run started on a directory holding one resumes from it.
    ``on_progress(env_steps, total_steps, scalars)`` is called every 1,000 env steps (e.g. to
    update a Prefect progress artifact); ``dqn.max_seconds`` bounds the training's wall time.
    """
    from tradeforge.agents.dqn import DQN
    from tradeforge.agents.parallel import ParallelDQN

    market.check_window(env.window)
    if validation is not None:
        validation.check_window(env.window)
    options = {
        "validation": validation,
        "log_dir": log_dir,
        "checkpoint_dir": checkpoint_dir,
        "progress": progress,
        "on_progress": on_progress,
    }
    if kind not in AGENT_KINDS:
        raise ValueError(f"agent kind {kind!r} is not one of {', '.join(AGENT_KINDS)}")
    with KERAS_LOCK:  # one training at a time per process (see KERAS_LOCK)
        if kind == "dqn":
            return DQN(market, env, dqn, seed, **options).train()
        return ParallelDQN(market, env, dqn, parallel, seed, **options).train()


__all__ = ["ProgressCallback", "TrainingTimeout", "train_agent"]
