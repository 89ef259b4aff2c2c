"""Training feedback: a tqdm progress bar and TensorBoard scalars (both optional)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[[int, int, dict[str, float]], None]
"""Called as ``(env_steps, total_steps, latest scalars)`` every ``log_every`` env steps."""


class TrainingTimeout(TimeoutError):
    """A training ran past ``DQNConfig.max_seconds``."""


class Monitor:
    """Counts env steps, keeps the latest learner numbers, and reports them.

    TensorBoard scalars (``tf.summary``): loss, mean Q, epsilon, episode return, steps/s.
    Written every ``log_every`` env steps so logging never dominates a fast loop.
    """

    def __init__(
        self,
        total_steps: int,
        *,
        initial_steps: int = 0,
        log_dir: str | None = None,
        progress: bool = True,
        desc: str = "train",
        log_every: int = 1_000,
        max_seconds: float = 0.0,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        from tqdm.auto import tqdm

        self.total_steps = total_steps
        self.steps = initial_steps
        self.log_every = log_every
        self.desc = desc
        self.max_seconds = max_seconds
        self.on_progress = on_progress
        self.last: dict[str, float] = {}
        self.returns: deque[float] = deque(maxlen=100)
        self.episodes = 0
        self._bar = tqdm(
            total=total_steps, initial=initial_steps, desc=desc, disable=not progress, unit="step"
        )
        self._writer = None
        if log_dir is not None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(log_dir))
        self._t0 = time.perf_counter()
        self._steps0 = initial_steps
        self._last_log = initial_steps
        self._last_log_time = self._t0
        self._learning_from: tuple[int, float] | None = None

    def update(self, env_steps: int, epsilon: float, episode_returns: list[float]) -> None:
        """Record ``env_steps`` more steps and any finished episodes."""
        self.steps += env_steps
        self.last["epsilon"] = epsilon
        self.returns.extend(episode_returns)
        self.episodes += len(episode_returns)
        self._bar.update(env_steps)
        if self.steps - self._last_log >= self.log_every:
            self._log()
            if self.max_seconds and self.elapsed > self.max_seconds:
                raise TrainingTimeout(
                    f"{self.desc}: training exceeded its limit of {self.max_seconds:g} s "
                    f"(DQNConfig.max_seconds) at env step {self.steps} of {self.total_steps}"
                )

    def learner(self, metrics: dict[str, float], *, steady: bool = True) -> None:
        """Keep the latest learner metrics (loss, mean_q, ...).

        The first call with ``steady`` starts the clock of ``training_steps_per_s``.
        """
        if steady and self._learning_from is None:
            self._learning_from = (self.steps, time.perf_counter())
        self.last.update(metrics)

    def _log(self) -> None:
        now = time.perf_counter()
        rate = (self.steps - self._last_log) / max(now - self._last_log_time, 1e-9)
        self._last_log, self._last_log_time = self.steps, now
        scalars: dict[str, Any] = {
            k: self.last[k] for k in ("loss", "mean_q", "epsilon") if k in self.last
        }
        scalars["steps_per_s"] = rate
        if self.returns:
            scalars["episode_return"] = sum(self.returns) / len(self.returns)
        self._bar.set_postfix({k: f"{v:.3g}" for k, v in scalars.items()}, refresh=False)
        if self.on_progress is not None:
            self.on_progress(self.steps, self.total_steps, scalars)
        if self._writer is not None:
            import tensorflow as tf

            with self._writer.as_default(step=self.steps):
                for name, value in scalars.items():
                    tf.summary.scalar(name, float(value))

    @property
    def elapsed(self) -> float:
        """Seconds since the monitor started."""
        return time.perf_counter() - self._t0

    def close(self) -> dict[str, float]:
        """Close the bar and writer; return throughput numbers of this run."""
        self._log()
        self._bar.close()
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
        seconds = self.elapsed
        run_steps = self.steps - self._steps0
        training_rate = 0.0
        if self._learning_from is not None:
            steps0, t0 = self._learning_from
            training_rate = (self.steps - steps0) / max(time.perf_counter() - t0, 1e-9)
        return {
            "seconds": seconds,
            "steps_per_s": run_steps / max(seconds, 1e-9),
            # env steps/s from the first gradient update on: excludes start-up and the
            # learning_starts collection, i.e. the rate while training at the replay ratio
            "training_steps_per_s": training_rate,
            "episodes": self.episodes,
            "mean_episode_return": (sum(self.returns) / len(self.returns)) if self.returns else 0.0,
        }
