"""ParallelDQN (Ape-X style, Horgan et al. 2018): N actor processes feed one learner.

Only wiring is new here. Each actor process runs DQN's :class:`Collector` and :class:`Actor` over
its own ``VectorTradingEnv`` with its own epsilon, and sends index transitions in chunks; the
learner (this process) runs DQN's :class:`ReplayBuffer` and :class:`DQNLearner` and broadcasts the
online weights as numpy arrays every ``weight_sync_interval`` updates. Actors never import
TensorFlow (they act with :class:`NumpyQNetwork`), so they start fast and cost no TF threads.

The replay ratio equals DQN's: the learner runs exactly the updates :func:`updates_due` owes for
the env steps received, and the bounded transition queue makes actors wait when the learner falls
behind. With ``synchronous=True`` every actor waits for fresh weights after each vector step;
with one actor that reproduces DQN exactly for a fixed seed.

Reproducibility (``deterministic=True``, the default): free-running actors make a run depend on
the operating system's scheduling (which chunk arrives first, which weights an actor happened to
hold), so two runs of one seed differ. In deterministic mode the feeder takes the actors' chunks
in turn, whatever order they arrive in, and actor ``i`` collects its chunk ``k + 1`` with the
weights the learner had just after its chunk ``k - 1``: a fixed schedule, one chunk of lag, so
the actors still collect while the learner learns. Same seed, same model.

Failure handling: an actor that raises sends its traceback; one that dies silently is noticed
from its exit code. Either ends the run with :class:`ActorFailed` naming the actor. Actors ignore
SIGINT so Ctrl-C reaches the learner, whose ``finally`` stops, terminates and joins every actor;
actors also exit on their own when the learner process disappears.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.agents.actor import actor_epsilon, linear_epsilon
from tradeforge.agents.buffer import Transitions
from tradeforge.agents.builder import DQNBuilder, EnvFactory, make_vector_env
from tradeforge.agents.monitor import ProgressCallback
from tradeforge.agents.qagent import TrainResult
from tradeforge.agents.training import Run, Trainer, apply_updates, sample_due
from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig

#: Seconds between liveness checks while waiting on a queue.
POLL_SECONDS = 0.2
#: Seconds an actor gets to exit after the stop signal before it is terminated.
JOIN_SECONDS = 5.0
#: Ape-X's exponent spread for per-actor epsilons.
APEX_ALPHA = 7.0


class ActorFailed(RuntimeError):
    """An actor process raised or died; the training was stopped."""


@dataclass(frozen=True)
class ActorArgs:
    """Everything an actor process needs (pickled once at spawn)."""

    actor_id: int
    num_actors: int
    builder: DQNBuilder
    parallel: ParallelConfig
    resumed_at: int
    weights: list[np.ndarray]


@dataclass
class _Channels:
    data: Any  # actors -> learner: ("data", id, Transitions, env_steps, returns, eps) | ("error", id, tb)
    weights: list[Any]  # learner -> actor i: list of arrays
    stop: Any  # Event


def _parent_alive() -> bool:
    parent = mp.parent_process()
    return parent is None or parent.is_alive()


def _put(q: Any, item: Any, stop: Any) -> bool:
    """Put ``item``, waiting while the queue is full; False if told to stop meanwhile."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            if not _parent_alive():
                return False
    return False


def _get(q: Any, stop: Any) -> Any | None:
    """Blocking get that gives up (None) when told to stop or when the learner is gone."""
    while not stop.is_set():
        try:
            return q.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not _parent_alive():
                return None
    return None


def _latest(q: Any) -> Any | None:
    """The newest item waiting in ``q`` (older ones are stale weights), or None."""
    item = None
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return item


def actor_main(args: ActorArgs, channels: _Channels) -> None:
    """Entry point of an actor process: collect, send chunks, pull weights, until stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the learner's to handle
    try:
        _act(args, channels)
    except BaseException:
        # Flushed on exit (no cancel_join_thread here) so the learner can show the traceback;
        # if the learner is gone, its shutdown terminates this process after JOIN_SECONDS.
        with contextlib.suppress(queue.Full):
            channels.data.put(
                ("error", args.actor_id, traceback.format_exc()), timeout=JOIN_SECONDS
            )
        raise SystemExit(1) from None
    channels.data.cancel_join_thread()  # stopped normally: never block exit on an unread queue


def _act(args: ActorArgs, ch: _Channels) -> None:
    cfg, pcfg, i = args.builder.dqn, args.parallel, args.actor_id
    collector = args.builder.make_actor(args.weights, i, args.resumed_at)
    network = collector.actor.network
    local_steps = 0
    pending: list[Transitions] = []
    pending_steps, returns = 0, []
    sent = 0  # chunks sent so far
    while not ch.stop.is_set():
        # Each actor sees ~1/N of the env steps: scale so the schedule spans the whole run.
        base = linear_epsilon(args.resumed_at + local_steps * args.num_actors, cfg)
        epsilon = actor_epsilon(base, i, args.num_actors, APEX_ALPHA)
        chunk, finished = collector.step(epsilon)
        local_steps += cfg.num_envs
        pending.append(chunk)
        pending_steps += cfg.num_envs
        returns += finished
        if not pcfg.synchronous and sum(len(c) for c in pending) < pcfg.chunk_size:
            continue
        message = ("data", i, Transitions.concat(pending), pending_steps, returns, epsilon)
        if not _put(ch.data, message, ch.stop):
            return
        pending, pending_steps, returns = [], 0, []
        sent += 1
        if pcfg.synchronous or pcfg.deterministic:
            if pcfg.synchronous or sent > 1:
                # the weights after this chunk (lock-step) or the one before it (deterministic)
                weights = _get(ch.weights[i], ch.stop)
                if weights is None:
                    return  # stopped while waiting
                network.set_weights(weights)
        elif (weights := _latest(ch.weights[i])) is not None:
            network.set_weights(weights)


class ParallelDQN(Trainer):
    """N actor processes (each its own env and epsilon) and one learner in this process."""

    kind = "parallel_dqn"

    def __init__(
        self,
        market: Any,
        env: EnvConfig,
        cfg: DQNConfig,
        parallel: ParallelConfig,
        seed: int,
        *,
        log_dir: str | None = None,
        checkpoint_dir: str | None = None,
        progress: bool = True,
        on_progress: ProgressCallback | None = None,
        env_factory: EnvFactory = make_vector_env,
        validation: Any = None,
    ) -> None:
        super().__init__(
            market, env, cfg, seed, log_dir=log_dir, checkpoint_dir=checkpoint_dir,
            progress=progress, on_progress=on_progress, env_factory=env_factory,
            validation=validation,
        )  # fmt: skip
        self.pcfg = parallel

    def train(self) -> TrainResult:
        """Train for ``cfg.total_steps`` env steps summed over all actors."""
        pcfg = self.pcfg
        run = self.setup(f"parallel_dqn x{pcfg.num_actors} seed {self.seed}")
        self.builder.release_probe_env()
        ctx = mp.get_context("spawn")
        # Bounded: when the learner falls behind, actors block instead of piling up experience.
        channels = _Channels(
            data=ctx.Queue(maxsize=2 * pcfg.num_actors),
            weights=[ctx.Queue(maxsize=2) for _ in range(pcfg.num_actors)],
            stop=ctx.Event(),
        )
        weights = run.learner.get_weights()
        procs = [
            ctx.Process(
                target=actor_main,
                args=(
                    ActorArgs(i, pcfg.num_actors, self.builder, pcfg, run.resumed, weights),
                    channels,
                ),
                name=f"tradeforge-actor-{i}",
                daemon=True,
            )
            for i in range(pcfg.num_actors)
        ]
        try:
            for p in procs:
                p.start()
            env_steps = self._learn_loop(run, channels, procs)
        except BaseException:
            run.monitor.close()  # close the bar and flush TensorBoard before the error surfaces
            raise
        finally:
            _shutdown(procs, channels)
        return self.finish(
            run,
            env_steps,
            num_actors=pcfg.num_actors,
            actor_epsilons=[round(e, 6) for e in self.actor_epsilons],
        )

    def _learn_loop(self, run: Run, ch: _Channels, procs: list[Any]) -> int:
        cfg, pcfg = self.cfg, self.pcfg
        learner, buffer, monitor = run.learner, run.buffer, run.monitor
        env_steps = run.resumed
        last_broadcast = learner.num_updates
        self.actor_epsilons = [float("nan")] * pcfg.num_actors
        in_turn = pcfg.deterministic or pcfg.synchronous
        feeder = _Feeder(ch, procs, buffer, cfg, env_steps, learner.num_updates, in_turn=in_turn)
        heard_from: set[int] = set()
        feeder.start()
        try:
            while env_steps < cfg.total_steps:
                actor_id, steps, returns, epsilon, env_steps, batches = feeder.next()
                metrics = apply_updates(learner, batches)
                heard_from.add(actor_id)
                if metrics is not None:
                    # steady state once every actor runs (process start-up is not training)
                    monitor.learner(metrics, steady=len(heard_from) == pcfg.num_actors)
                if in_turn:
                    # this actor's next-but-one chunk (or, lock-step, its next) uses these weights
                    if not _put(ch.weights[actor_id], learner.get_weights(), ch.stop):
                        break
                elif learner.num_updates - last_broadcast >= pcfg.weight_sync_interval:
                    _broadcast(ch, learner.get_weights())
                    last_broadcast = learner.num_updates
                self.actor_epsilons[actor_id] = epsilon
                # The progress/TensorBoard epsilon is the base schedule, i.e. actor 0's.
                monitor.update(steps, linear_epsilon(env_steps, cfg), returns)
                run.after_updates(env_steps)
                run.checkpoints.maybe_write(
                    learner, buffer, env_steps, cfg.total_steps, lock=feeder.lock
                )
                run.stop_if_requested(env_steps, cfg.total_steps, lock=feeder.lock)
        finally:
            feeder.stop()
        return env_steps


class _Feeder(threading.Thread):
    """Receives actors' chunks, fills the buffer and samples the owed batches.

    Runs beside the learner so that unpickling, buffer writes and observation gathers overlap
    the TensorFlow update (which releases the GIL). It samples exactly the batches DQN's loop
    would, in the same order, so one synchronous actor still reproduces DQN.
    """

    def __init__(
        self, ch: _Channels, procs: list[Any], buffer: Any, cfg: DQNConfig, env_steps: int,
        updates_done: int, *, in_turn: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(name="tradeforge-feeder", daemon=True)
        self.ch, self.procs, self.buffer, self.cfg = ch, procs, buffer, cfg
        self.env_steps, self.issued = env_steps, updates_done
        #: Take the actors' chunks in turn (0, 1, .., N-1, 0, ..), not in arrival order.
        self.in_turn = in_turn
        self._held: list[collections.deque] = [collections.deque() for _ in procs]
        self._turn = 0
        self.lock = threading.Lock()  # guards the buffer against a concurrent checkpoint
        self._out: queue.Queue = queue.Queue(maxsize=2)
        self._halt = threading.Event()

    def _next_message(self, received: int) -> tuple | None:
        """The next chunk to learn from: the next to arrive, or (in turn) the turn's actor's.

        In turn, chunks that arrive early wait here; an actor is at most two chunks ahead of the
        learner (it waits for the weights after its chunk before last), so few ever wait.
        """
        if not self.in_turn:
            return _receive(self.ch, self.procs, received, self._halt)
        while not self._held[self._turn]:
            message = _receive(self.ch, self.procs, received, self._halt)
            if message is None:
                return None
            self._held[message[1]].append(message)
        message = self._held[self._turn].popleft()
        self._turn = (self._turn + 1) % len(self._held)
        return message

    def run(self) -> None:
        received = 0
        try:
            while not self._halt.is_set():
                message = self._next_message(received)
                if message is None:  # halted while waiting
                    return
                _, actor_id, chunk, steps, returns, eps = message
                received += 1
                with self.lock:
                    self.buffer.add(chunk)
                    self.env_steps += steps
                    batches = sample_due(self.buffer, self.env_steps, self.cfg, self.issued)
                self.issued += sum(int(b.action.shape[0]) for b in batches)
                self._offer((actor_id, steps, returns, eps, self.env_steps, batches))
        except BaseException as exc:  # handed to the learner thread, which raises it
            self._offer(exc)

    def _offer(self, item: Any) -> None:
        while not self._halt.is_set():
            try:
                self._out.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def next(self) -> tuple:
        """The next message's data and batches; re-raises the feeder's exception."""
        while True:
            try:
                item = self._out.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self.is_alive():
                    raise RuntimeError("ParallelDQN feeder thread ended unexpectedly") from None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def stop(self) -> None:
        """Stop and join (the feeder polls its queues, so this takes at most ~POLL_SECONDS)."""
        self._halt.set()
        self.join(timeout=JOIN_SECONDS)


def _receive(ch: _Channels, procs: list[Any], received: int, halt: Any) -> tuple | None:
    """Next data message, or None once ``halt`` is set while none comes (actors that wait for
    weights send nothing more after the last update); raises :class:`ActorFailed` on an
    actor's error or death."""
    if received % 64 == 0:
        _check_alive(procs, ch)
    while True:
        try:
            message = ch.data.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if halt.is_set():
                return None
            _check_alive(procs, ch)
            continue
        if message[0] == "error":
            _raise_actor_error(message)
        return message


def _raise_actor_error(message: tuple) -> None:
    _, actor_id, tb = message
    raise ActorFailed(f"actor {actor_id} of ParallelDQN raised an error:\n{tb}")


def _check_alive(procs: list[Any], ch: _Channels) -> None:
    """Raise :class:`ActorFailed` if an actor exited, with its traceback when it sent one."""
    dead = [(i, p) for i, p in enumerate(procs) if p.exitcode is not None]
    if not dead:
        return
    # A crashing actor sends its traceback before exiting: prefer that over a bare exit code.
    while True:
        try:
            message = ch.data.get(timeout=POLL_SECONDS)
        except queue.Empty:
            break
        if message[0] == "error":
            _raise_actor_error(message)
    i, p = dead[0]
    raise ActorFailed(
        f"actor {i} of ParallelDQN (pid {p.pid}) exited with code {p.exitcode} "
        "before training finished"
    )


def _broadcast(ch: _Channels, weights: list[np.ndarray]) -> None:
    """Offer fresh weights to every actor; an actor still holding unread ones skips this round."""
    for q in ch.weights:
        # A full queue: it takes the next broadcast; stale-by-one weights are fine (Ape-X).
        with contextlib.suppress(queue.Full):
            q.put_nowait(weights)


def _shutdown(procs: list[Any], ch: _Channels) -> None:
    """Stop every actor: signal, drain so none blocks on a full queue, join, then terminate."""
    ch.stop.set()
    for p in procs:
        if p.pid is None:
            continue
        p.join(timeout=JOIN_SECONDS)
        if p.is_alive():
            p.terminate()
            p.join(timeout=JOIN_SECONDS)
        if p.is_alive():
            p.kill()
            p.join()
    for q in [ch.data, *ch.weights]:
        q.cancel_join_thread()
        q.close()
