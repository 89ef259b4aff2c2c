"""DQN: one actor and one learner in a loop (Mnih et al. 2015, with double DQN, dueling, n-step).

The loop only wires the parts together: :class:`~tradeforge.agents.actor.Collector` steps the
vector env, :class:`~tradeforge.agents.buffer.ReplayBuffer` stores index transitions,
:class:`~tradeforge.agents.learner.DQNLearner` updates; ParallelDQN reuses all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.agents.actor import Actor, Collector, actor_env_seed, actor_rng, linear_epsilon
from tradeforge.agents.buffer import NStepAdder, ReplayBuffer
from tradeforge.agents.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from tradeforge.agents.monitor import Monitor, ProgressCallback
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork
from tradeforge.agents.qagent import QAgent, TrainResult
from tradeforge.config import DQNConfig, EnvConfig

#: Builds the vector env of one actor: ``(market, env_config, num_envs, seed) -> VectorEnv``.
EnvFactory = Callable[[Any, EnvConfig, int, int], Any]

NUM_ACTIONS = 2  # 0 = flat, 1 = long (the env contract)


def make_vector_env(market: Any, env: EnvConfig, num_envs: int, seed: int) -> Any:
    """The project's vectorised trading env with random episode starts."""
    from tradeforge.envs import VectorTradingEnv

    return VectorTradingEnv(market, env, num_envs, random_start=True, seed=seed)


def network_spec(env: Any, cfg: DQNConfig) -> NetworkSpec:
    """The Q-network shape for ``env``'s flat observations."""
    shape = env.single_observation_space.shape
    if len(shape) != 1:
        raise ValueError(f"expected flat observations, env has shape {shape}")
    return NetworkSpec(int(shape[0]), NUM_ACTIONS, tuple(cfg.hidden), cfg.dueling)


def replay_buffer_for(env: Any, cfg: DQNConfig, seed: int) -> ReplayBuffer:
    """A replay buffer rebuilding observations from ``env``'s feature matrix."""
    from tradeforge.envs.observation import ObservationBuilder

    return ReplayBuffer(
        cfg.buffer_size, ObservationBuilder(env.feature_matrix, env.window), seed=seed
    )


def updates_due(env_steps: int, cfg: DQNConfig) -> int:
    """Gradient updates owed after ``env_steps`` env steps (stateless, so resumable).

    ``gradient_steps`` updates per ``train_freq`` env steps once ``learning_starts`` is passed:
    the replay ratio is the same whichever loop (DQN or ParallelDQN) counts the steps.
    """
    return max(0, env_steps - cfg.learning_starts) * cfg.gradient_steps // cfg.train_freq


#: Most updates fused into one learner call (bounds the stacked batch's memory).
MAX_FUSED_UPDATES = 64


def sample_due(
    buffer: ReplayBuffer, env_steps: int, cfg: DQNConfig, updates_done: int
) -> list[Any]:
    """The stacked batches for every update owed at ``env_steps`` beyond ``updates_done``."""
    if len(buffer) == 0:
        return []  # nothing to learn from yet: the owed updates run once data arrives
    batches = []
    due = updates_due(env_steps, cfg) - updates_done
    while due > 0:
        k = min(due, MAX_FUSED_UPDATES)
        batches.append(buffer.sample(cfg.batch_size, num_batches=k))
        due -= k
    return batches


def apply_updates(learner: Any, batches: list[Any]) -> dict[str, float] | None:
    """Feed stacked batches to the learner; the last update's metrics, or None if none ran."""
    metrics = None
    for batch in batches:
        metrics = learner.step_many(batch)
    return metrics


def learn(
    learner: Any, buffer: ReplayBuffer, env_steps: int, cfg: DQNConfig
) -> dict[str, float] | None:
    """Run every update owed at ``env_steps``; the last update's metrics, or None if none ran."""
    return apply_updates(learner, sample_due(buffer, env_steps, cfg, learner.num_updates))


def checkpoint_meta(kind: str, seed: int, spec: NetworkSpec, cfg: DQNConfig) -> dict[str, Any]:
    """What must match between a checkpoint and the run resuming from it."""
    return {
        "kind": kind,
        "seed": seed,
        "network": asdict(spec) | {"hidden": list(spec.hidden)},
        "n_step": cfg.n_step,
        "gamma": cfg.gamma,
    }


def restore(
    checkpoint_dir: str | None, meta: dict[str, Any], learner: Any, buffer: ReplayBuffer
) -> int:
    """Load the checkpoint in ``checkpoint_dir`` if any; return the env step it was taken at."""
    if checkpoint_dir is None:
        return 0
    loaded = load_checkpoint(checkpoint_dir)
    if loaded is None:
        return 0
    arrays, saved = loaded
    check_compatible(saved, meta, checkpoint_dir)
    learner.load_state_dict(arrays)
    buffer.load_state_dict(arrays)
    return int(saved["env_steps"])


def write_checkpoint(
    checkpoint_dir: str, meta: dict[str, Any], learner: Any, buffer: ReplayBuffer, env_steps: int
) -> Path:
    """Checkpoint learner + buffer at ``env_steps``."""
    arrays = learner.state_dict() | buffer.state_dict()
    return save_checkpoint(checkpoint_dir, arrays, meta | {"env_steps": env_steps})


def final_stats(
    monitor: Monitor, learner: Any, buffer: ReplayBuffer, env_steps: int, resumed_from: int
) -> dict[str, Any]:
    """The numbers a TrainResult reports."""
    run = monitor.close()
    return {
        "steps": env_steps,
        "updates": learner.num_updates,
        "seconds": round(run["seconds"], 3),
        "steps_per_s": round(run["steps_per_s"], 1),
        "training_steps_per_s": round(run["training_steps_per_s"], 1),
        "final_epsilon": monitor.last.get("epsilon"),
        "last_loss": monitor.last.get("loss"),
        "mean_q": monitor.last.get("mean_q"),
        "episodes": run["episodes"],
        "mean_episode_return": run["mean_episode_return"],
        "buffer_transitions": len(buffer),
        "buffer_bytes": buffer.nbytes,
        "resumed_from": resumed_from,
    }


class DQN:
    """One actor stepping ``num_envs`` envs, one learner, updating in the same loop."""

    kind = "dqn"

    def __init__(
        self,
        market: Any,
        env: EnvConfig,
        cfg: DQNConfig,
        seed: int,
        *,
        log_dir: str | None = None,
        checkpoint_dir: str | None = None,
        progress: bool = True,
        on_progress: ProgressCallback | None = None,
        env_factory: EnvFactory = make_vector_env,
    ) -> None:
        self.market, self.env_cfg, self.cfg, self.seed = market, env, cfg, seed
        self.log_dir, self.checkpoint_dir, self.progress = log_dir, checkpoint_dir, progress
        self.on_progress = on_progress
        self.env_factory = env_factory

    def train(self) -> TrainResult:
        """Train for ``cfg.total_steps`` env steps (resuming from a checkpoint if there is one)."""
        from tradeforge.agents.learner import DQNLearner

        cfg, seed = self.cfg, self.seed
        probe = self.env_factory(self.market, self.env_cfg, cfg.num_envs, actor_env_seed(seed, 0))
        spec = network_spec(probe, cfg)
        learner = DQNLearner(spec, cfg, seed)
        buffer = replay_buffer_for(probe, cfg, seed)
        meta = checkpoint_meta(self.kind, seed, spec, cfg)
        env_steps = resumed = restore(self.checkpoint_dir, meta, learner, buffer)
        env = probe
        if resumed:  # fresh episodes and a fresh exploration stream after a restart
            env = self.env_factory(
                self.market, self.env_cfg, cfg.num_envs, actor_env_seed(seed, 0, resumed)
            )
        network = NumpyQNetwork(spec, learner.get_weights())
        collector = Collector(
            env,
            Actor(network, actor_rng(seed, 0, resumed)),
            NStepAdder(cfg.num_envs, cfg.n_step, cfg.gamma),
            seed=actor_env_seed(seed, 0, resumed),
        )
        monitor = Monitor(
            cfg.total_steps,
            initial_steps=env_steps,
            log_dir=self.log_dir,
            progress=self.progress,
            max_seconds=cfg.max_seconds,
            on_progress=self.on_progress,
            desc=f"dqn seed {seed}",
        )
        try:
            env_steps = self._loop(collector, network, learner, buffer, monitor, meta, env_steps)
        except BaseException:
            monitor.close()  # close the bar and flush TensorBoard before the error surfaces
            raise
        if self.checkpoint_dir is not None and cfg.checkpoint_every:
            write_checkpoint(self.checkpoint_dir, meta, learner, buffer, env_steps)
        stats = final_stats(monitor, learner, buffer, env_steps, resumed)
        return TrainResult(QAgent(learner.online), stats | {"kind": self.kind, "seed": seed})

    def _loop(
        self,
        collector: Collector,
        network: NumpyQNetwork,
        learner: Any,
        buffer: ReplayBuffer,
        monitor: Monitor,
        meta: dict[str, Any],
        env_steps: int,
    ) -> int:
        """Act, store, learn, until ``total_steps``; returns the env steps reached."""
        cfg = self.cfg
        next_checkpoint = self._next_checkpoint(env_steps)
        while env_steps < cfg.total_steps:
            epsilon = linear_epsilon(env_steps, cfg)
            chunk, finished = collector.step(epsilon)
            buffer.add(chunk)
            env_steps += cfg.num_envs
            metrics = learn(learner, buffer, env_steps, cfg)
            if metrics is not None:
                network.set_weights(learner.get_weights())
                monitor.learner(metrics)
            monitor.update(cfg.num_envs, epsilon, finished)
            if env_steps >= next_checkpoint and env_steps < cfg.total_steps:
                write_checkpoint(self.checkpoint_dir, meta, learner, buffer, env_steps)
                next_checkpoint = self._next_checkpoint(env_steps)
        return env_steps

    def _next_checkpoint(self, env_steps: int) -> float:
        every = self.cfg.checkpoint_every
        if self.checkpoint_dir is None or every == 0:
            return np.inf
        return (env_steps // every + 1) * every
