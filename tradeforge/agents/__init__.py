"""Agents: DQN and ParallelDQN over the vectorised trading env, in TensorFlow / Keras 3.

Parts (as in Acme and stable-baselines3): ``network`` (Keras MLP + numpy mirror), ``buffer``
(index replay + n-step adder), ``learner`` (tf.function double-DQN step), ``actor``
(epsilon-greedy collection), ``builder`` (makes all of them from one config), ``training``
(set-up, checkpoint schedule and result shared by both agents), ``dqn`` (one actor + one
learner), ``parallel`` (N actor processes + one learner). TensorFlow is imported only when a
learner or model is built.
"""

from tradeforge.agents.api import ProgressCallback, TrainingTimeout, train_agent
from tradeforge.agents.buffer import Batch, ReplayBuffer, Transitions
from tradeforge.agents.dqn import DQN
from tradeforge.agents.parallel import ActorFailed, ParallelDQN
from tradeforge.agents.qagent import QAgent, TrainResult

__all__ = [
    "DQN",
    "ActorFailed",
    "Batch",
    "ParallelDQN",
    "ProgressCallback",
    "QAgent",
    "ReplayBuffer",
    "TrainResult",
    "TrainingTimeout",
    "Transitions",
    "train_agent",
]
