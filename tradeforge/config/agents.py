"""Agent configuration: DQN hyper-parameters and the ParallelDQN wiring."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tradeforge.config._base import OptionalCount, Section

AgentKind = Literal["dqn", "parallel_dqn"]
AGENT_KINDS: tuple[str, ...] = ("dqn", "parallel_dqn")
EVAL_METRICS: tuple[str, ...] = ("total_return", "sharpe")


class DQNConfig(Section):
    """DQN (Mnih et al. 2015) with the usual improvements, each switchable."""

    total_steps: int = Field(
        20_000,
        gt=0,
        description="Environment steps to train for (summed over the vectorised envs).",
    )
    num_envs: int = Field(8, ge=1, description="Environments stepped together by one actor.")
    hidden: tuple[int, ...] = Field(
        (),
        description="Widths of the MLP's hidden layers; none = a linear Q-function, the default: (64, 64) memorised the training path, and a linear Q beat one layer of 32 out of sample (benchmarks/results/agents_study.md, round 6).",
    )
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate.")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount factor.")
    batch_size: int = Field(64, ge=1, description="Transitions per gradient step.")
    buffer_size: int = Field(100_000, ge=1, description="Replay capacity in transitions.")
    learning_starts: OptionalCount = Field(
        None,
        ge=0,
        description="Env steps collected before the first gradient step; empty = min(1000, total_steps / 10).",
    )
    train_freq: int = Field(4, ge=1, description="Env steps between gradient updates.")
    gradient_steps: int = Field(1, ge=1, description="Gradient steps per update.")
    target_update_interval: int = Field(
        500, ge=1, description="Gradient steps between target syncs (hard update when tau = 1)."
    )
    tau: float = Field(
        1.0, gt=0, le=1, description="Polyak coefficient of target updates; 1 = hard copy."
    )
    double_dqn: bool = Field(True, description="Double-DQN targets (van Hasselt et al. 2016).")
    dueling: bool = Field(False, description="Dueling value/advantage head (Wang et al. 2016).")
    n_step: int = Field(1, ge=1, description="n-step returns.")
    all_actions: bool = Field(
        True,
        description="Action augmentation: fit both actions, from both positions, on every replayed bar (their rewards are known from prices; simple/pbr rewards, n_step 1).",
    )
    exploration_initial_eps: float = Field(1.0, ge=0, le=1, description="Epsilon at the start.")
    exploration_final_eps: float = Field(0.05, ge=0, le=1, description="Epsilon after the decay.")
    exploration_fraction: float = Field(
        0.3, ge=0, le=1, description="Share of total_steps over which epsilon decays linearly."
    )
    max_grad_norm: float = Field(10.0, gt=0, description="Global-norm gradient clipping.")
    checkpoint_every: int = Field(
        5_000,
        ge=0,
        description="Env steps between checkpoints a killed training resumes from (0 = none).",
    )
    max_seconds: float = Field(
        6 * 3600.0,
        ge=0,
        description="Seconds one training may run before it is stopped (0 = no limit).",
    )
    reward_scale: float = Field(
        100.0, gt=0, description="Rewards are multiplied by this in the learner."
    )
    weight_decay: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Decoupled L2 weight decay (AdamW, Loshchilov & Hutter 2019); 0 = plain Adam.",
    )
    l1: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="L1 penalty (lasso, Tibshirani 1996) on the weights the features enter by (not the position's): drives the weights of inputs that carry no signal to zero; 0 = none.",
    )
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout after each hidden layer while learning."
    )
    ls_fit: bool = Field(
        True,
        description=(
            "After training, solve the last layer exactly on the replay buffer: fitted Q "
            "iteration by ridge regression (LS-DQN's shallow update, Levine et al. 2017) with "
            "the ridge the observation noise implies; with the linear Q-function that is the "
            "whole Q (agents study round 9). With eval_every > 0 the refit is one more "
            "checkpoint to choose from."
        ),
    )
    obs_noise: float = Field(
        0.5,
        ge=0,
        le=10,
        description="Std of Gaussian noise on the scaled features of replayed observations (augmentation against memorising).",
    )
    position_noise: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Std of Gaussian noise on the position input (0/1) of replayed observations; obs_noise / 2 matches its spread.",
    )
    eval_every: int = Field(
        0,
        ge=0,
        description=(
            "Env steps between greedy scores on the early-stopping bars, the best weights kept; "
            "0 (default) = train on all the fold's bars and keep the last weights (agents study round 7)."
        ),
    )
    eval_metric: Literal["total_return", "sharpe"] = Field(
        "total_return", description="Score of the kept checkpoint on the early-stopping bars."
    )
    early_stopping_fraction: float = Field(
        0.2,
        ge=0,
        lt=0.5,
        description="Share of each fold's training bars held out (at their end) to pick the best checkpoint when eval_every > 0; 0 = no selection.",
    )

    @model_validator(mode="after")
    def _derived(self) -> DQNConfig:
        if any(h <= 0 for h in self.hidden):
            raise ValueError(f"hidden: {list(self.hidden)} has a non-positive width")
        if self.buffer_size < self.batch_size:
            raise ValueError(
                f"buffer_size: {self.buffer_size} is smaller than batch_size {self.batch_size}"
            )
        if self.learning_starts is None:
            # Short trainings still learn: at most a tenth of the budget is spent warming up.
            object.__setattr__(self, "learning_starts", min(1_000, max(self.total_steps // 10, 1)))
        return self


class ParallelConfig(Section):
    """ParallelDQN (Ape-X style): N actor processes feed one learner."""

    num_actors: int = Field(
        2, ge=1, description="Actor processes, each with its own envs and epsilon."
    )
    weight_sync_interval: int = Field(
        50, ge=1, description="Learner updates between weight broadcasts to the actors."
    )
    chunk_size: int = Field(64, ge=1, description="Transitions an actor sends per message.")
    synchronous: bool = Field(
        False, description="Lock-step mode (one actor reproduces DQN for a fixed seed); for tests."
    )
    deterministic: bool = Field(
        True,
        description=(
            "Reproducible runs: the learner takes the actors' chunks in turn (0, 1, .., 0, ..) "
            "and each actor collects its next chunk with the weights the learner had after its "
            "chunk before last; false = Ape-X's free-running actors (chunks in arrival order, "
            "weights broadcast every weight_sync_interval updates), a little faster and not "
            "reproducible."
        ),
    )
