"""What DQN and ParallelDQN share around their loops: set-up, replay ratio, checkpoints, results.

:class:`Trainer` holds the constructor, builds the parts through one :class:`DQNBuilder`,
restores a checkpoint, runs the checkpoint schedule and turns the run into a
:class:`TrainResult`. Subclasses write only their loop (DQN: one actor in this process;
ParallelDQN: N actor processes and a feeder thread).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.agents.buffer import ReplayBuffer
from tradeforge.agents.builder import DQNBuilder, EnvFactory, make_vector_env
from tradeforge.agents.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from tradeforge.agents.monitor import Monitor, ProgressCallback
from tradeforge.agents.network import NumpyQNetwork, assign_ordered_weights
from tradeforge.agents.qagent import QAgent, TrainResult
from tradeforge.config import DQNConfig, EnvConfig
from tradeforge.interrupt import Interrupted, Stopped, record, requested

#: Most updates fused into one learner call (bounds the stacked batch's memory).
MAX_FUSED_UPDATES = 64


def updates_due(env_steps: int, cfg: DQNConfig) -> int:
    """Gradient updates owed after ``env_steps`` env steps (stateless, so resumable).

    ``gradient_steps`` updates per ``train_freq`` env steps once ``learning_starts`` is passed:
    the replay ratio is the same whichever loop (DQN or ParallelDQN) counts the steps.
    """
    return max(0, env_steps - cfg.learning_starts) * cfg.gradient_steps // cfg.train_freq


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


class CheckpointSchedule:
    """Writes learner + buffer every ``every`` env steps (never at the very end: see ``final``)."""

    def __init__(
        self, directory: str | None, every: int, meta: dict[str, Any], env_steps: int
    ) -> None:
        self.directory, self.every, self.meta = directory, every, meta
        self.enabled = directory is not None and every > 0
        self._next = self._after(env_steps)

    def _after(self, env_steps: int) -> float:
        return (env_steps // self.every + 1) * self.every if self.enabled else np.inf

    def restore(self, learner: Any, buffer: ReplayBuffer) -> int:
        """Load the checkpoint in the directory if any; return the env step it was taken at."""
        if self.directory is None:
            return 0
        loaded = load_checkpoint(self.directory)
        if loaded is None:
            return 0
        arrays, saved = loaded
        check_compatible(saved, self.meta, self.directory)
        learner.load_state_dict(arrays)
        buffer.load_state_dict(arrays)
        env_steps = int(saved["env_steps"])
        self._next = self._after(env_steps)
        return env_steps

    def write(self, learner: Any, buffer: ReplayBuffer, env_steps: int) -> Path:
        """Checkpoint learner + buffer at ``env_steps``."""
        arrays = learner.state_dict() | buffer.state_dict()
        return save_checkpoint(self.directory, arrays, self.meta | {"env_steps": env_steps})

    def maybe_write(
        self, learner: Any, buffer: ReplayBuffer, env_steps: int, total_steps: int, lock: Any = None
    ) -> None:
        """Write if a checkpoint is due and the run is not finishing (``final`` does that)."""
        if env_steps >= self._next and env_steps < total_steps:
            with lock if lock is not None else contextlib.nullcontext():
                self.write(learner, buffer, env_steps)
            self._next = self._after(env_steps)

    def final(self, learner: Any, buffer: ReplayBuffer, env_steps: int) -> None:
        """The checkpoint at the end of a run (a longer run can resume from it)."""
        if self.enabled:
            self.write(learner, buffer, env_steps)


class _Greedy:
    """A numpy Q-network as a greedy policy (what ``run_episode`` asks for)."""

    def __init__(self, network: NumpyQNetwork) -> None:
        self.network = network

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.network.greedy(obs)


class ValidationSelector:
    """Keeps the weights whose greedy policy scores best on the validation window.

    Every ``every`` env steps (once learning has started) and at the end, the current online
    weights act greedily over the whole validation window with the env's costs; the best
    score's weights are kept, as Qlib keeps its best validation checkpoint. Early stopping in
    effect, without stopping: a late collapse or an overfitted end of training is not shipped.
    """

    def __init__(self, market: Any, env: EnvConfig, cfg: DQNConfig, network: NumpyQNetwork) -> None:
        market.check_window(env.window)
        self.market, self.env, self.cfg, self.network = market, env, cfg, network
        self.every = cfg.eval_every
        self._next = max(cfg.learning_starts, 1)
        self.best_score = -np.inf
        self.best_step = -1
        self.best_weights: list[np.ndarray] | None = None
        self.history: list[tuple[int, float]] = []

    def score(self, weights: list[np.ndarray]) -> float:
        """Validation score (``cfg.eval_metric``) of the greedy policy over ``weights``."""
        from tradeforge.envs.episode import run_episode
        from tradeforge.evaluation.metrics import sharpe, simple_returns, total_return

        self.network.set_weights(weights)
        episode = run_episode(_Greedy(self.network), self.market, self.env)
        if self.cfg.eval_metric == "sharpe":
            return sharpe(simple_returns(episode.net_worth), 252)
        return total_return(episode.net_worth)

    def maybe_evaluate(
        self, learner: Any, env_steps: int, *, final: bool = False, changed: bool = False
    ) -> None:
        """Score the learner's weights if an evaluation is due (or ``final``); keep the best.

        ``changed``: the weights changed without a step (the exact refit): score them even if
        this step was scored already.
        """
        if not final and env_steps < self._next:
            return
        if self.history and self.history[-1][0] == env_steps and not changed:
            return  # already scored at this step
        self._next = (env_steps // self.every + 1) * self.every
        weights = learner.get_weights()
        value = self.score(weights)
        self.history.append((env_steps, round(value, 6)))
        if value > self.best_score:  # ties keep the earlier (shorter-trained) weights
            self.best_score, self.best_step, self.best_weights = value, env_steps, weights

    def stats(self) -> dict[str, Any]:
        """What the selection chose, for ``TrainResult.stats``."""
        return {
            "selected_step": self.best_step,
            "selected_validation_score": round(float(self.best_score), 6),
            "validation_history": self.history,
        }


@dataclass
class Run:
    """The parts of one training run, as :meth:`Trainer.setup` assembles them."""

    learner: Any
    buffer: ReplayBuffer
    checkpoints: CheckpointSchedule
    monitor: Monitor
    resumed: int
    """Env step the run resumed from (0 for a fresh run)."""
    selector: ValidationSelector | None = None
    """Best-checkpoint selection on the validation window (None: keep the last weights)."""

    def after_updates(self, env_steps: int) -> None:
        """Evaluate on the validation window when due."""
        if self.selector is not None:
            self.selector.maybe_evaluate(self.learner, env_steps)

    def stop_if_requested(self, env_steps: int, total_steps: int, lock: Any = None) -> None:
        """On a stop request (Ctrl-C): checkpoint where the run is, then raise
        :class:`~tradeforge.interrupt.Interrupted` (a rerun resumes from that step)."""
        if not requested():
            return
        path = None
        if self.checkpoints.enabled:
            with lock if lock is not None else contextlib.nullcontext():
                path = str(self.checkpoints.write(self.learner, self.buffer, env_steps))
        what = self.monitor.desc
        record(Stopped(what, env_steps, total_steps, path))
        kept = f"; checkpoint {path}" if path else "; no checkpoint (no checkpoint_dir)"
        raise Interrupted(f"{what}: interrupted at env step {env_steps} of {total_steps}{kept}")


class Trainer:
    """Constructor, set-up and wrap-up shared by :class:`DQN` and :class:`ParallelDQN`."""

    kind = ""

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
        validation: Any = None,
    ) -> None:
        self.market, self.env_cfg, self.cfg, self.seed = market, env, cfg, seed
        self.validation = validation
        self.log_dir, self.checkpoint_dir, self.progress = log_dir, checkpoint_dir, progress
        self.on_progress = on_progress
        self.builder = DQNBuilder(market, env, cfg, seed, env_factory)

    def setup(self, desc: str) -> Run:
        """Learner, buffer and monitor, restored from ``checkpoint_dir`` when it holds one."""
        cfg, builder = self.cfg, self.builder
        learner = builder.make_learner()
        buffer = builder.make_replay_buffer()
        checkpoints = CheckpointSchedule(
            self.checkpoint_dir, cfg.checkpoint_every, builder.checkpoint_meta(self.kind), 0
        )
        resumed = checkpoints.restore(learner, buffer)
        monitor = Monitor(
            cfg.total_steps,
            initial_steps=resumed,
            log_dir=self.log_dir,
            progress=self.progress,
            max_seconds=cfg.max_seconds,
            on_progress=self.on_progress,
            desc=desc,
        )
        selector = None
        if self.validation is not None and cfg.eval_every > 0:
            network = NumpyQNetwork(builder.spec)
            selector = ValidationSelector(self.validation, self.env_cfg, cfg, network)
        return Run(learner, buffer, checkpoints, monitor, resumed, selector)

    def finish(self, run: Run, env_steps: int, **extra: Any) -> TrainResult:
        """Final checkpoint, training numbers and the trained greedy agent.

        With ``ls_fit`` the last layer is then solved exactly on the buffer. With validation
        selection the agent carries the best validation checkpoint's weights, the refit being
        one more checkpoint (the checkpoint file keeps the last SGD state, so a longer run
        resumes where this one ended).
        """
        run.checkpoints.final(run.learner, run.buffer, env_steps)
        stats = final_stats(run, env_steps) | {"kind": self.kind, "seed": self.seed} | extra
        off = self.builder.augmentation_off
        stats["action_augmentation"] = "on" if off is None else f"off ({off})"
        if self.cfg.ls_fit:
            if run.selector is not None:  # the last SGD weights compete with the refit
                run.selector.maybe_evaluate(run.learner, env_steps, final=True)
            # after the checkpoint: a longer run resumes SGD where it stopped, then refits
            stats |= run.learner.fit_head(run.buffer)
        if run.selector is not None:
            run.selector.maybe_evaluate(run.learner, env_steps, final=True, changed=self.cfg.ls_fit)
            assign_ordered_weights(run.learner.online, run.selector.best_weights)
            stats |= run.selector.stats()
        return TrainResult(QAgent(run.learner.online), stats)


def final_stats(run: Run, env_steps: int) -> dict[str, Any]:
    """The numbers a TrainResult reports."""
    monitor, learner, buffer = run.monitor, run.learner, run.buffer
    done = monitor.close()
    return {
        "steps": env_steps,
        "updates": learner.num_updates,
        "seconds": round(done["seconds"], 3),
        "steps_per_s": round(done["steps_per_s"], 1),
        "training_steps_per_s": round(done["training_steps_per_s"], 1),
        "final_epsilon": monitor.last.get("epsilon"),
        "last_loss": monitor.last.get("loss"),
        "mean_q": monitor.last.get("mean_q"),
        "episodes": done["episodes"],
        "mean_episode_return": done["mean_episode_return"],
        "buffer_transitions": len(buffer),
        "buffer_bytes": buffer.nbytes,
        "resumed_from": run.resumed,
    }
