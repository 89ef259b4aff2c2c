"""DQN: one actor and one learner in a loop (Mnih et al. 2015, with double DQN, dueling, n-step).

The loop only wires the parts the :class:`~tradeforge.agents.builder.DQNBuilder` makes:
a :class:`~tradeforge.agents.actor.Collector` steps the vector env, the
:class:`~tradeforge.agents.buffer.ReplayBuffer` stores index transitions, the
:class:`~tradeforge.agents.learner.DQNLearner` updates. Set-up, checkpoints and the result are
:class:`~tradeforge.agents.training.Trainer`'s, shared with ParallelDQN.
"""

from __future__ import annotations

from tradeforge.agents.actor import Collector, linear_epsilon
from tradeforge.agents.qagent import TrainResult
from tradeforge.agents.training import Run, Trainer, apply_updates, sample_due


class DQN(Trainer):
    """One actor stepping ``num_envs`` envs, one learner, updating in the same loop."""

    kind = "dqn"

    def train(self) -> TrainResult:
        """Train for ``cfg.total_steps`` env steps (resuming from a checkpoint if there is one)."""
        builder = self.builder
        run = self.setup(f"dqn seed {self.seed}")
        # A resumed run starts fresh episodes with a fresh exploration stream.
        env = builder.probe_env if not run.resumed else None
        collector = builder.make_actor(run.learner.get_weights(), 0, run.resumed, env=env)
        try:
            env_steps = self._loop(collector, run)
        except BaseException:
            run.monitor.close()  # close the bar and flush TensorBoard before the error surfaces
            raise
        return self.finish(run, env_steps)

    def _loop(self, collector: Collector, run: Run) -> int:
        """Act, store, learn, until ``total_steps``; returns the env steps reached."""
        cfg, learner, buffer, monitor = self.cfg, run.learner, run.buffer, run.monitor
        network = collector.actor.network
        env_steps = run.resumed
        while env_steps < cfg.total_steps:
            epsilon = linear_epsilon(env_steps, cfg)
            chunk, finished = collector.step(epsilon)
            buffer.add(chunk)
            env_steps += cfg.num_envs
            metrics = apply_updates(
                learner, sample_due(buffer, env_steps, cfg, learner.num_updates)
            )
            if metrics is not None:
                network.set_weights(learner.get_weights())
                monitor.learner(metrics)
            monitor.update(cfg.num_envs, epsilon, finished)
            run.after_updates(env_steps)
            run.checkpoints.maybe_write(learner, buffer, env_steps, cfg.total_steps)
            run.stop_if_requested(env_steps, cfg.total_steps)
        return env_steps
