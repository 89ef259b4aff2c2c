"""One builder makes every part of a DQN agent from one config, for DQN and ParallelDQN alike.

As Acme's ``DQNBuilder``: the environment of an actor, the network shape, the learner, the replay
buffer and the actor (with its collector) all come from ``(market, env config, DQN config,
seed)``. DQN asks it for one actor; ParallelDQN ships the (picklable) builder to each actor
process and asks it there for actor ``i``, so both agents are assembled by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tradeforge.agents.actor import Actor, Collector, actor_env_seed, actor_rng
from tradeforge.agents.buffer import NStepAdder, ReplayBuffer
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork
from tradeforge.config import DQNConfig, EnvConfig

#: Builds the vector env of one actor: ``(market, env_config, num_envs, seed) -> VectorEnv``.
EnvFactory = Callable[[Any, EnvConfig, int, int], Any]

NUM_ACTIONS = 2  # 0 = flat, 1 = long (the env contract)


def make_vector_env(market: Any, env: EnvConfig, num_envs: int, seed: int) -> Any:
    """The project's vectorised trading env with random episode starts."""
    from tradeforge.envs import VectorTradingEnv

    return VectorTradingEnv(market, env, num_envs, random_start=True, seed=seed)


@dataclass(frozen=True, eq=False)
class DQNBuilder:
    """Network, learner, replay buffer and actors of one training run, from one config.

    Picklable (plain data and a module-level factory), so ParallelDQN sends it to its actor
    processes; nothing here imports TensorFlow except :meth:`make_learner`.
    """

    market: Any
    env: EnvConfig
    dqn: DQNConfig
    seed: int
    env_factory: EnvFactory = make_vector_env

    def make_env(self, actor_id: int = 0, resumed_at: int = 0) -> Any:
        """The vector env of actor ``actor_id`` (actor 0 is DQN's), seeded per actor and resume."""
        seed = actor_env_seed(self.seed, actor_id, resumed_at)
        return self.env_factory(self.market, self.env, self.dqn.num_envs, seed)

    @cached_property
    def probe_env(self) -> Any:
        """Actor 0's env at the start of a run: gives the observation shape and feature matrix."""
        return self.make_env(0)

    @cached_property
    def spec(self) -> NetworkSpec:
        """The Q-network shape for the env's flat observations."""
        shape = self.probe_env.single_observation_space.shape
        if len(shape) != 1:
            raise ValueError(f"expected flat observations, env has shape {shape}")
        cfg = self.dqn
        return NetworkSpec(int(shape[0]), NUM_ACTIONS, tuple(cfg.hidden), cfg.dueling, cfg.dropout)

    @property
    def augmentation_off(self) -> str | None:
        """Why this run learns one action per sample (None: every action, from the reward table)."""
        from tradeforge.envs.counterfactual import counterfactual_supported

        if not self.dqn.all_actions:
            return "dqn.all_actions is off"
        if self.dqn.n_step != 1:
            return f"n_step {self.dqn.n_step}: later rewards depend on the actions taken"
        # An env factory whose envs pay what the single-asset simulator pays (the portfolio's
        # per-asset episodes, tradeforge.portfolio.allocator) keeps the reward table.
        if self.env_factory is not make_vector_env and not getattr(
            self.env_factory, "single_asset_accounting", False
        ):
            return "a custom env factory"
        return counterfactual_supported(self.env)

    def make_learner(self) -> Any:
        """The double-DQN learner (imports TensorFlow)."""
        from tradeforge.agents.learner import DQNLearner

        return DQNLearner(self.spec, self.dqn, self.seed, augment=self.augmentation_off is None)

    def make_replay_buffer(self) -> ReplayBuffer:
        """A replay buffer rebuilding observations from the env's feature matrix.

        With action augmentation it also holds the market's reward table.
        """
        from tradeforge.envs.counterfactual import reward_table
        from tradeforge.envs.observation import ObservationBuilder

        env = self.probe_env
        table = None
        if self.augmentation_off is None:
            table = reward_table(self.market, self.env)
        return ReplayBuffer(
            self.dqn.buffer_size,
            ObservationBuilder(env.feature_matrix, env.window),
            seed=self.seed,
            reward_table=table,
        )

    def make_actor(
        self, weights: list[np.ndarray], actor_id: int = 0, resumed_at: int = 0, env: Any = None
    ) -> Collector:
        """Actor ``actor_id``: its env (``env`` if given), an epsilon-greedy numpy policy over
        ``weights`` and an n-step adder, wired into a :class:`Collector`."""
        cfg = self.dqn
        env_seed = actor_env_seed(self.seed, actor_id, resumed_at)
        if env is None:
            env = self.make_env(actor_id, resumed_at)
        network = NumpyQNetwork(self.spec, weights)
        return Collector(
            env,
            Actor(network, actor_rng(self.seed, actor_id, resumed_at)),
            NStepAdder(cfg.num_envs, cfg.n_step, cfg.gamma),
            seed=env_seed,
        )

    def checkpoint_meta(self, kind: str) -> dict[str, Any]:
        """What must match between a checkpoint and the run resuming from it."""
        spec = self.spec
        return {
            "kind": kind,
            "seed": self.seed,
            # dropout changes no weight shape: a checkpoint resumes with any rate
            "network": {k: v for k, v in asdict(spec).items() if k != "dropout"}
            | {"hidden": list(spec.hidden)},
            "n_step": self.dqn.n_step,
            "gamma": self.dqn.gamma,
            "all_actions": self.augmentation_off is None,
        }

    def release_probe_env(self) -> None:
        """Drop the probe env (ParallelDQN's learner needs none: each actor builds its own)."""
        self.__dict__.pop("probe_env", None)

    def __getstate__(self) -> dict[str, Any]:
        # The probe env (with its precomputed windows) stays here; an actor builds its own.
        return {k: v for k, v in self.__dict__.items() if k != "probe_env"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
