"""An exact refit of the Q-function's last layer on the replay buffer (fitted Q iteration).

SGD with Huber loss, noise, weight decay and bootstrapped targets fits a linear Q-function only
approximately. Since the Q-values are linear in the last layer's weights, that layer can instead
be solved for: fitted Q iteration (Ernst, Geurts & Wehenkel 2005) by ridge regression on the
replay buffer, the "shallow update" of LS-DQN (Levine et al. 2017). With the default linear
Q-function the last layer *is* the Q-function, so the refit is exact.

Each sweep regresses the targets ``scale * r + discount * max_a' Q(s', a')`` (Q from the
previous sweep) on the features of ``s``, per action; sweeps repeat until the weights stop
moving. The ridge on each input is ``n * sigma_j ** 2``, with ``sigma_j`` the std of the
observation noise on that input (``obs_noise`` on the features, ``position_noise`` on the
position) and ``n`` the rows fitted: in expectation the penalty SGD's noise applies
(Bishop 1995, "Training with noise is equivalent to Tikhonov regularization"). The bias is free.

With action augmentation every buffered bar gives four rows: both positions, both actions, each
with its known reward and the bootstrap from the position the action leads to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeforge.agents.buffer import ReplayBuffer, Transitions
from tradeforge.agents.network import NetworkSpec, NumpyQNetwork

#: A head weight this large means the iteration is diverging (Q-values are scaled returns, ~1-100).
_DIVERGED = 1e6


@dataclass(frozen=True)
class HeadFit:
    """The refit head and how the iteration went."""

    weights: list[np.ndarray]
    """Every layer's weights, :func:`~tradeforge.agents.network.ordered_weights` order."""
    sweeps: int
    converged: bool
    """False: the iteration diverged or did not settle in ``max_sweeps``; do not use ``weights``
    (fitted Q iteration with function approximation can diverge: Baird 1995, Tsitsiklis & Van
    Roy 1997; on the agents' data it converges, see the tests)."""
    rows: int
    """Rows regressed: the transitions, or with augmentation 2 x transitions (both positions,
    shared by both actions)."""


def _head(spec: NetworkSpec, weights: list[np.ndarray]) -> np.ndarray:
    """The head as one ``(features + 1, actions)`` matrix, bias last (dueling combined)."""
    k = 2 * len(spec.hidden)
    if not spec.dueling:
        return np.vstack([weights[k], weights[k + 1][None]]).astype(np.float64)
    value = np.vstack([weights[k], weights[k + 1][None]])
    adv = np.vstack([weights[k + 2], weights[k + 3][None]])
    return (value + adv - adv.mean(axis=1, keepdims=True)).astype(np.float64)


def _with_head(spec: NetworkSpec, weights: list[np.ndarray], head: np.ndarray) -> list[np.ndarray]:
    """``weights`` with the head replaced; a dueling head gets V = mean_a Q, A = Q - V (exact)."""
    k = 2 * len(spec.hidden)
    out = [w.copy() for w in weights[:k]]
    if not spec.dueling:
        return [*out, head[:-1].astype(np.float32), head[-1].astype(np.float32)]
    value = head.mean(axis=1, keepdims=True)
    adv = head - value
    parts = (value[:-1], value[-1], adv[:-1], adv[-1])
    return [*out, *(w.astype(np.float32) for w in parts)]


def _distinct(buffer: ReplayBuffer, augment: bool) -> tuple[Transitions, np.ndarray]:
    """The buffer's distinct transitions and how often each is stored.

    Actors revisit the same bars: 20,000 transitions of a 1,700-bar market hold about 1,700
    distinct ones under augmentation (where only the bar, its successor and the discount
    matter). Fitting each once, weighted by its count, gives the same solution 10x faster.
    """
    tr = buffer.transitions(np.arange(len(buffer)))
    cols = (tr.t, tr.next_t, tr.discount) if augment else tuple(tr)
    key = np.stack([np.asarray(c, np.float64) for c in cols], axis=1)
    _, first, count = np.unique(key, axis=0, return_index=True, return_counts=True)
    return Transitions(*(np.asarray(c)[first] for c in tr)), count.astype(np.float64)


def fit_head(
    spec: NetworkSpec,
    weights: list[np.ndarray],
    buffer: ReplayBuffer,
    *,
    reward_scale: float,
    noise: np.ndarray,
    augment: bool,
    max_sweeps: int = 2_000,
    tol: float = 1e-6,
) -> HeadFit:
    """Fitted Q iteration of the last layer on every transition in ``buffer``.

    ``noise`` is the observation noise's std per input (length ``obs_dim``); it sets the ridge
    when the Q-function is linear. With hidden layers the ridge is ``n * mean(noise ** 2)`` on
    every hidden unit. Starts from ``weights``' head; stops when no weight moves by more than
    ``tol`` times the head's largest weight, or after ``max_sweeps``.
    """
    if len(buffer) == 0:
        raise ValueError("fit_head: the replay buffer is empty")
    if augment and buffer.reward_table is None:
        raise ValueError("fit_head: augmentation needs a buffer with a reward table")
    tr, count = _distinct(buffer, augment)
    obs_fn = buffer.obs_fn
    n_act = spec.num_actions
    if augment:
        if n_act != 2:
            raise ValueError(f"fit_head: augmentation needs 2 actions, the network has {n_act}")
        zeros, ones = np.zeros(len(tr), np.float32), np.ones(len(tr), np.float32)
        # rows: every bar from flat, then from long; the same rows fit both actions
        obs = np.concatenate([obs_fn(tr.t, zeros), obs_fn(tr.t, ones)])
        # bootstrap state of action a: the next bar with position a
        next_obs = [obs_fn(tr.next_t, zeros), obs_fn(tr.next_t, ones)]
        rewards = reward_scale * np.asarray(buffer.reward_table[tr.t], np.float64)  # (n, p, a)
        reward = np.concatenate([rewards[:, 0, :], rewards[:, 1, :]])  # (2n, a)
        discount = np.tile(np.asarray(tr.discount, np.float64), 2)
        count = np.tile(count, 2)
    else:
        obs = obs_fn(tr.t, tr.position)
        next_obs = [obs_fn(tr.next_t, tr.next_position)]
        reward = reward_scale * np.asarray(tr.reward, np.float64)
        discount = np.asarray(tr.discount, np.float64)
    net = NumpyQNetwork(spec, weights)
    phi = net.features(np.asarray(obs, np.float64))
    design = np.hstack([phi, np.ones((len(phi), 1))])
    next_design = [
        np.hstack([(f := net.features(np.asarray(o, np.float64))), np.ones((len(f), 1))])
        for o in next_obs
    ]
    rows = int(count.sum())
    if spec.hidden:
        ridge = np.full(phi.shape[1], float(np.mean(np.square(noise))))
    else:
        ridge = np.square(np.asarray(noise, np.float64))
    penalty = np.diag(np.r_[ridge, 0.0])
    # One factorisation per action's rows, reused by every sweep (only the targets change);
    # a row stored k times weighs k, as if each copy were a row.
    masks = [slice(None)] * n_act if augment else [tr.action == a for a in range(n_act)]
    solves = []
    for m in masks:
        x, w = design[m], count[m]
        solves.append(
            np.linalg.pinv(x.T @ (w[:, None] * x) + w.sum() * penalty) @ (w[:, None] * x).T
        )
    head = _head(spec, weights)
    sweeps, converged = 0, False
    while sweeps < max_sweeps:
        if augment:
            # V(next bar, position a), for a = flat, long: the action a leads there
            values = np.stack([(d @ head).max(axis=1) for d in next_design], axis=1)
            values = np.tile(values, (2, 1))  # the same from either position
            target = reward + discount[:, None] * values
            new = np.stack([solves[a] @ target[:, a] for a in range(n_act)], axis=1)
        else:
            target = reward + discount * (next_design[0] @ head).max(axis=1)
            new = np.stack(
                [solves[a] @ target[m] if m.any() else head[:, a] for a, m in enumerate(masks)],
                axis=1,
            )
        sweeps += 1
        change = float(np.abs(new - head).max())
        head = new
        if not np.isfinite(change) or np.abs(head).max() > _DIVERGED:
            break
        if change <= tol * max(float(np.abs(head).max()), 1.0):
            converged = True
            break
    return HeadFit(_with_head(spec, weights, head), sweeps, converged, rows)
