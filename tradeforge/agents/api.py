"""``train_agent``: the one entry point the pipeline calls."""

from __future__ import annotations

from typing import Any

from tradeforge.agents.qagent import TrainResult
from tradeforge.config import AGENT_KINDS, DQNConfig, EnvConfig, ParallelConfig


def train_agent(
    kind: str,
    market: Any,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    seed: int,
    *,
    log_dir: str | None = None,
    checkpoint_dir: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a ``"dqn"`` or ``"parallel_dqn"`` agent on ``market``'s steppable range.

    ``log_dir`` enables TensorBoard scalars; ``checkpoint_dir`` (with ``dqn.checkpoint_every``)
    enables checkpoints, and a run started on a directory holding one resumes from it.
    """
    from tradeforge.agents.dqn import DQN
    from tradeforge.agents.parallel import ParallelDQN

    market.check_window(env.window)
    options = {"log_dir": log_dir, "checkpoint_dir": checkpoint_dir, "progress": progress}
    if kind == "dqn":
        return DQN(market, env, dqn, seed, **options).train()
    if kind == "parallel_dqn":
        return ParallelDQN(market, env, dqn, parallel, seed, **options).train()
    raise ValueError(f"agent kind {kind!r} is not one of {', '.join(AGENT_KINDS)}")
