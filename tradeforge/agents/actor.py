"""Acting: epsilon-greedy batched action selection and experience collection from a vector env.

Used unchanged by :mod:`tradeforge.agents.dqn` (in the learner's loop) and by every actor
process of :mod:`tradeforge.agents.parallel`. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeforge.agents.buffer import NStepAdder, Transitions
from tradeforge.agents.network import NumpyQNetwork
from tradeforge.config import DQNConfig


def linear_epsilon(step: int, cfg: DQNConfig) -> float:
    """Epsilon after ``step`` env steps: linear decay over ``exploration_fraction * total_steps``."""
    horizon = cfg.exploration_fraction * cfg.total_steps
    if horizon <= 0:
        return cfg.exploration_final_eps
    frac = min(step / horizon, 1.0)
    return cfg.exploration_initial_eps + frac * (
        cfg.exploration_final_eps - cfg.exploration_initial_eps
    )


def actor_epsilon(base: float, actor_id: int, num_actors: int, alpha: float) -> float:
    """Ape-X per-actor epsilon (Horgan et al. 2018): ``base ** (1 + alpha * i / (N - 1))``.

    Actor 0 always follows the base schedule, so one actor explores exactly like DQN.
    """
    if num_actors <= 1:
        return base
    return float(base ** (1.0 + alpha * actor_id / (num_actors - 1)))


def actor_rng(seed: int, actor_id: int, resumed_at: int = 0) -> np.random.Generator:
    """The exploration RNG of actor ``actor_id`` (DQN's single actor is actor 0).

    ``resumed_at`` (the env step a checkpoint was taken at) gives a resumed run its own stream.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, actor_id, resumed_at, 0xAC7]))


def actor_env_seed(seed: int, actor_id: int, resumed_at: int = 0) -> int:
    """Seed of actor ``actor_id``'s vector env (actor 0 = DQN's env)."""
    return int(np.random.SeedSequence([seed, actor_id, resumed_at]).generate_state(1)[0])


class Actor:
    """Epsilon-greedy over a batch of observations, with a numpy Q-network."""

    def __init__(self, network: NumpyQNetwork, rng: np.random.Generator) -> None:
        self.network = network
        self.rng = rng

    def select(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """One action per row of ``obs``: random with probability ``epsilon``, else greedy."""
        n = obs.shape[0]
        greedy = self.network.greedy(obs)
        # Draw both arrays every call so the RNG stream does not depend on epsilon.
        explore = self.rng.random(n) < epsilon
        random_actions = self.rng.integers(0, self.network.spec.num_actions, size=n)
        return np.where(explore, random_actions, greedy).astype(np.int64)


class Collector:
    """Steps a vector env with an :class:`Actor` and turns the steps into index transitions.

    Relies on the env contract: ``env.state_index()`` gives ``(t, position)`` of the current
    observations and, for envs that just finished, ``info["final_state_index"]`` those of the
    terminal observation (same-step autoreset).
    """

    def __init__(self, env: Any, actor: Actor, adder: NStepAdder, *, seed: int) -> None:
        self.env, self.actor, self.adder = env, actor, adder
        self.obs, _ = env.reset(seed=seed)
        self.t, self.pos = self._state_index()
        self.episode_return = np.zeros(env.num_envs, np.float64)
        self.num_envs = int(env.num_envs)

    def _state_index(self) -> tuple[np.ndarray, np.ndarray]:
        t, pos = self.env.state_index()
        return np.asarray(t, np.int32).copy(), np.asarray(pos, np.float32).copy()

    def step(self, epsilon: float) -> tuple[Transitions, list[float]]:
        """One vector step; returns the completed transitions and finished episodes' returns."""
        actions = self.actor.select(self.obs, epsilon)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        next_t, next_pos = self._state_index()
        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        boot_t, boot_pos = next_t.copy(), next_pos.copy()
        if done.any():
            final_t, final_pos = info["final_state_index"]
            boot_t[done] = np.asarray(final_t)[done]
            boot_pos[done] = np.asarray(final_pos)[done]
        rewards = np.asarray(rewards, np.float64)
        chunk = self.adder.add(
            self.t, self.pos, actions, rewards, boot_t, boot_pos, terminated, truncated
        )
        self.episode_return += rewards
        finished = self.episode_return[done].tolist()
        self.episode_return[done] = 0.0
        self.obs, self.t, self.pos = obs, next_t, next_pos
        return chunk, finished
