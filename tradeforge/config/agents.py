"""Agent configuration: DQN hyper-parameters and the ParallelDQN wiring."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.config._validate import require, require_choice

AGENT_KINDS = ("dqn", "parallel_dqn")
EVAL_METRICS = ("total_return", "sharpe")


@dataclass(frozen=True)
class DQNConfig:
    """DQN (Mnih et al. 2015) with the usual improvements, each switchable."""

    total_steps: int = 20_000
    """Environment steps to train for (summed over the vectorised envs)."""
    num_envs: int = 8
    """Environments stepped together by one actor."""
    hidden: tuple[int, ...] = (32,)
    """Widths of the MLP's hidden layers (one small layer: a (64, 64) net memorised the
    training path on synthetic markets, benchmarks/results/agents_study.md)."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    batch_size: int = 64
    """Transitions per gradient step."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    learning_starts: int = 1_000
    """Env steps collected before the first gradient step."""
    train_freq: int = 4
    """Env steps between gradient updates (replay ratio = gradient_steps * batch / train_freq)."""
    gradient_steps: int = 1
    """Gradient steps per update."""
    target_update_interval: int = 500
    """Gradient steps between target syncs (hard update when tau == 1)."""
    tau: float = 1.0
    """Polyak coefficient for target updates: 1.0 = hard copy."""
    double_dqn: bool = True
    """Double-DQN targets (van Hasselt et al. 2016)."""
    dueling: bool = False
    """Dueling value/advantage head (Wang et al. 2016)."""
    n_step: int = 1
    """n-step returns."""
    exploration_initial_eps: float = 1.0
    """Epsilon at the start of training."""
    exploration_final_eps: float = 0.05
    """Epsilon after the schedule ends."""
    exploration_fraction: float = 0.3
    """Share of ``total_steps`` over which epsilon decays linearly."""
    max_grad_norm: float = 10.0
    """Global-norm gradient clipping."""
    checkpoint_every: int = 0
    """Env steps between checkpoints (0 = no checkpoints)."""
    max_seconds: float = 0.0
    """Wall-clock limit of one training (0 = none); past it the training stops with
    ``TrainingTimeout``, under any task runner (a thread cannot be interrupted from outside)."""
    reward_scale: float = 100.0
    """Rewards are multiplied by this in the learner (step returns of ~1e-3 become ~0.1)."""
    weight_decay: float = 0.1
    """Decoupled L2 weight decay of the optimizer (AdamW, Loshchilov & Hutter 2019; each update
    shrinks weights by ``learning_rate * weight_decay``); 0 = plain Adam."""
    dropout: float = 0.0
    """Dropout rate after each hidden layer while learning (acting never drops)."""
    obs_noise: float = 0.5
    """Std of Gaussian noise added to the (scaled) features of sampled observations in each
    update, not to the position; a data augmentation against memorising the training path."""
    eval_every: int = 1_000
    """Env steps between greedy evaluations on the validation window, when ``train_agent`` gets
    one; the best-scoring weights are kept (0 = keep the last weights)."""
    eval_metric: str = "total_return"
    """Validation score of the kept checkpoint: ``total_return`` or ``sharpe`` (after costs)."""

    def __post_init__(self) -> None:
        require(self.total_steps > 0, "total_steps", f"{self.total_steps} <= 0")
        require(self.num_envs >= 1, "num_envs", f"{self.num_envs} < 1")
        require(
            all(h > 0 for h in self.hidden), "hidden", f"{self.hidden} has a non-positive width"
        )
        require(self.learning_rate > 0, "learning_rate", f"{self.learning_rate} <= 0")
        require(0 <= self.gamma <= 1, "gamma", f"{self.gamma} not in [0, 1]")
        require(self.batch_size >= 1, "batch_size", f"{self.batch_size} < 1")
        require(self.buffer_size >= self.batch_size, "buffer_size", "smaller than batch_size")
        require(self.learning_starts >= 0, "learning_starts", f"{self.learning_starts} < 0")
        require(self.train_freq >= 1, "train_freq", f"{self.train_freq} < 1")
        require(self.gradient_steps >= 1, "gradient_steps", f"{self.gradient_steps} < 1")
        require(self.target_update_interval >= 1, "target_update_interval", "< 1")
        require(0 < self.tau <= 1, "tau", f"{self.tau} not in (0, 1]")
        require(self.n_step >= 1, "n_step", f"{self.n_step} < 1")
        for name in ("exploration_initial_eps", "exploration_final_eps", "exploration_fraction"):
            v = getattr(self, name)
            require(0 <= v <= 1, name, f"{v} not in [0, 1]")
        require(self.max_grad_norm > 0, "max_grad_norm", f"{self.max_grad_norm} <= 0")
        require(self.reward_scale > 0, "reward_scale", f"{self.reward_scale} <= 0")
        require(self.checkpoint_every >= 0, "checkpoint_every", f"{self.checkpoint_every} < 0")
        require(self.max_seconds >= 0, "max_seconds", f"{self.max_seconds} < 0")
        require(0 <= self.weight_decay < 1, "weight_decay", f"{self.weight_decay} not in [0, 1)")
        require(0 <= self.dropout < 1, "dropout", f"{self.dropout} not in [0, 1)")
        require(0 <= self.obs_noise <= 10, "obs_noise", f"{self.obs_noise} not in [0, 10]")
        require(self.eval_every >= 0, "eval_every", f"{self.eval_every} < 0")
        require_choice(self.eval_metric, "eval_metric", EVAL_METRICS)


@dataclass(frozen=True)
class ParallelConfig:
    """ParallelDQN (Ape-X style): N actor processes feed one learner."""

    num_actors: int = 2
    """Actor processes, each with its own vectorised env and epsilon."""
    weight_sync_interval: int = 50
    """Learner updates between weight broadcasts to the actors."""
    chunk_size: int = 64
    """Transitions an actor sends per message."""
    synchronous: bool = False
    """Lock-step mode (one actor reproduces DQN for a fixed seed); for tests and debugging."""

    def __post_init__(self) -> None:
        require(self.num_actors >= 1, "num_actors", f"{self.num_actors} < 1")
        require(self.weight_sync_interval >= 1, "weight_sync_interval", "< 1")
        require(self.chunk_size >= 1, "chunk_size", f"{self.chunk_size} < 1")


def check_agent_kinds(kinds: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the first unknown agent kind."""
    require(len(kinds) > 0, "agents", "at least one agent kind is required")
    for k in kinds:
        require_choice(k, "agents", AGENT_KINDS)
