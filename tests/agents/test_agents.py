"""DQN and ParallelDQN end to end on the real ``VectorTradingEnv``: learning, determinism,
save/load, failure handling, checkpoints and TensorBoard logs. Small and seeded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.agents import faulty_envs
from tests.agents.markets import oracle_actions, random_return, sine_market, total_return
from tradeforge.agents import ActorFailed, ParallelDQN, QAgent, train_agent
from tradeforge.agents.checkpoint import CHECKPOINT_FILE, load_checkpoint
from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig

ROOT = Path(__file__).resolve().parents[2]
MARKET = sine_market(n=1000, period=20, amplitude=0.02, window=4)
TRAIN, HELD_OUT = MARKET.slice(4, 700), MARKET.slice(700, 1000)
ENV = EnvConfig(window=4, commission=0.001, episode_length=64)
DQN_CFG = DQNConfig(
    total_steps=4000,
    num_envs=8,
    hidden=(32, 32),
    learning_starts=500,
    train_freq=4,
    target_update_interval=200,
    exploration_fraction=0.3,
    gamma=0.9,
    # the mechanics tested here predate issue 12's regularised defaults; the noiseless sine
    # needs none of them (tests/agents/test_generalisation.py covers the defaults)
    weight_decay=0.0,
    obs_noise=0.0,
    eval_every=0,
)
PARALLEL = ParallelConfig(num_actors=2, weight_sync_interval=20, chunk_size=64)


#: Ape-X's free-running actors (``--parallel.deterministic false``): chunks learned in arrival
#: order, weights broadcast every ``weight_sync_interval`` updates.
FREE_RUNNING = PARALLEL.replace(deterministic=False)


@pytest.fixture(scope="module")
def trained() -> dict[str, object]:
    """One DQN, one ParallelDQN and one free-running ParallelDQN trained on the sine's first
    700 bars (seed 0)."""
    runs = {
        kind: train_agent(kind, TRAIN, ENV, DQN_CFG, PARALLEL, seed=0, progress=False)
        for kind in ("dqn", "parallel_dqn")
    }
    runs["parallel_dqn_free"] = train_agent(
        "parallel_dqn", TRAIN, ENV, DQN_CFG, FREE_RUNNING, seed=0, progress=False
    )
    return runs


KINDS = ["dqn", "parallel_dqn", "parallel_dqn_free"]


def _probe_obs(n: int = 64) -> np.ndarray:
    from tradeforge.envs.observation import ObservationBuilder

    t = np.arange(n) * 7 + 10
    pos = (np.arange(n) % 2).astype(np.float32)
    return ObservationBuilder(MARKET.features, ENV.window)(t, pos)


@pytest.mark.parametrize("kind", KINDS)
def test_agent_reaches_80_percent_of_the_oracle_on_held_out_bars(trained, kind) -> None:
    oracle = total_return(oracle_actions(HELD_OUT, ENV), HELD_OUT, ENV)
    random = random_return(HELD_OUT, ENV)
    agent_return = total_return(trained[kind].agent, HELD_OUT, ENV)
    assert oracle > 0.5 and random < 0  # the market is learnable and costs punish churning
    assert agent_return >= 0.8 * oracle, (kind, agent_return, oracle)
    assert agent_return > random + 0.5, (kind, agent_return, random)


@pytest.mark.parametrize("kind", KINDS)
def test_training_stats(trained, kind) -> None:
    stats = trained[kind].stats
    assert stats["steps"] >= DQN_CFG.total_steps
    # replay ratio: gradient_steps per train_freq env steps after learning_starts
    expected = (stats["steps"] - DQN_CFG.learning_starts) // DQN_CFG.train_freq
    assert stats["updates"] == expected
    assert stats["steps_per_s"] > 0 and np.isfinite(stats["last_loss"])
    assert stats["final_epsilon"] == pytest.approx(DQN_CFG.exploration_final_eps)
    assert stats["action_augmentation"] == "on"  # simple reward, n_step 1: the default
    if kind != "dqn":  # both actors' chunks were learned, each with its own epsilon
        (first, second) = stats["actor_epsilons"]
        assert np.isfinite([first, second]).all() and first != second


def test_free_running_actors_act_with_the_broadcast_weights(trained) -> None:
    """The actors' own episodes improve as the learner's weights reach them: against actors
    that never get any (a sync interval longer than the run), the training episodes of the
    free-running run earn clearly more (measured 0.066-0.069 vs -0.005 per episode)."""
    never = FREE_RUNNING.replace(weight_sync_interval=10_000)  # > the run's ~875 updates
    stale = train_agent("parallel_dqn", TRAIN, ENV, DQN_CFG, never, seed=0, progress=False)
    free = trained["parallel_dqn_free"].stats["mean_episode_return"]
    assert free > stale.stats["mean_episode_return"] + 0.03, (free, stale.stats)


@pytest.mark.parametrize(
    ("env_over", "dqn_over", "reason"),
    [
        ({"reward": "risk_adjusted"}, {}, "reward 'risk_adjusted' depends on earlier returns"),
        ({}, {"n_step": 3}, "n_step 3: later rewards depend on the actions taken"),
        ({}, {"all_actions": False}, "dqn.all_actions is off"),
    ],
)
def test_action_augmentation_is_off_where_the_table_would_be_wrong(
    env_over, dqn_over, reason
) -> None:
    cfg = DQN_CFG.replace(total_steps=600, learning_starts=300, **dqn_over)
    result = train_agent("dqn", TRAIN, ENV.replace(**env_over), cfg, PARALLEL, 0, progress=False)
    assert result.stats["action_augmentation"] == f"off ({reason})"


@pytest.mark.parametrize("kind", ["dqn", "parallel_dqn"])
def test_save_load_gives_identical_greedy_actions(trained, kind, tmp_path) -> None:
    agent = trained[kind].agent
    path = agent.save(tmp_path / f"{kind}.keras")
    loaded = QAgent.load(path)
    obs = _probe_obs()
    np.testing.assert_array_equal(loaded.act(obs), agent.act(obs))
    np.testing.assert_array_equal(loaded.q_values(obs), agent.q_values(obs))
    assert len(set(agent.act(obs).tolist())) == 2  # the probe exercises both actions


def test_dueling_network_survives_safe_mode_loading(tmp_path) -> None:
    cfg = DQN_CFG.replace(total_steps=600, learning_starts=100, dueling=True, n_step=3)
    agent = train_agent("dqn", TRAIN, ENV, cfg, PARALLEL, seed=1, progress=False).agent
    loaded = QAgent.load(agent.save(tmp_path / "dueling.keras"))
    assert loaded.spec.dueling
    np.testing.assert_array_equal(loaded.q_values(_probe_obs()), agent.q_values(_probe_obs()))


def test_load_rejects_a_missing_or_foreign_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        QAgent.load(tmp_path / "absent.keras")
    bogus = tmp_path / "bogus.keras"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a loadable Q-network"):
        QAgent.load(bogus)


def test_same_seed_same_actions_other_seed_other_network() -> None:
    cfg = DQN_CFG.replace(total_steps=1200, learning_starts=200)
    a, b, c = (
        train_agent("dqn", TRAIN, ENV, cfg, PARALLEL, seed=s, progress=False).agent
        for s in (5, 5, 6)
    )
    obs = _probe_obs()
    np.testing.assert_array_equal(a.q_values(obs), b.q_values(obs))
    np.testing.assert_array_equal(a.act(obs), b.act(obs))
    assert not np.array_equal(a.q_values(obs), c.q_values(obs))


def test_one_synchronous_actor_reproduces_dqn() -> None:
    # with the regularised defaults' parts switched on: noise, weight decay, selection
    cfg = DQN_CFG.replace(total_steps=1200, learning_starts=200, obs_noise=0.5, weight_decay=0.1,
        eval_every=400,
    )  # fmt: skip
    sync = ParallelConfig(num_actors=1, synchronous=True)
    runs = [
        train_agent(kind, TRAIN, ENV, cfg, sync, seed=3, validation=HELD_OUT, progress=False)
        for kind in ("dqn", "parallel_dqn")
    ]
    dqn, par = runs
    obs = _probe_obs()
    np.testing.assert_array_equal(par.agent.q_values(obs), dqn.agent.q_values(obs))
    assert par.stats["updates"] == dqn.stats["updates"]
    assert par.stats["last_loss"] == dqn.stats["last_loss"]
    assert par.stats["validation_history"] == dqn.stats["validation_history"]


def test_parallel_dqn_with_two_actors_is_reproducible() -> None:
    """Same seed, same model: the actors' chunks are learned in turn, on a fixed weight schedule,
    however the operating system schedules the processes."""
    cfg = DQN_CFG.replace(total_steps=1600, learning_starts=200, obs_noise=0.5)
    assert PARALLEL.deterministic and PARALLEL.num_actors == 2
    runs = [
        train_agent("parallel_dqn", TRAIN, ENV, cfg, PARALLEL, seed=4, progress=False)
        for _ in range(2)
    ]
    obs = _probe_obs()
    np.testing.assert_array_equal(runs[0].agent.q_values(obs), runs[1].agent.q_values(obs))
    assert runs[0].stats["updates"] == runs[1].stats["updates"]
    assert runs[0].stats["last_loss"] == runs[1].stats["last_loss"]


def _children(pid: int) -> set[int]:
    """Live actor processes (multiprocessing spawn children) of ``pid``, from /proc (Linux).

    multiprocessing's resource tracker is also a child, by design alive as long as its parent;
    it is not an actor and is not counted.
    """
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in cmdline:
                kids.add(int(entry.name))
    return kids


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (faulty_envs.raising_env, "simulated crash inside the actor's env"),
        (faulty_envs.killed_env, "exited with code -9"),
    ],
)
def test_a_dying_actor_ends_the_run_with_a_clear_error(factory, message) -> None:
    cfg = DQN_CFG.replace(total_steps=100_000)
    run = ParallelDQN(TRAIN, ENV, cfg, PARALLEL, 0, progress=False, env_factory=factory)
    # The timeout above is the hang guard; benchmarks/failure_times.py measures the seconds.
    with pytest.raises(ActorFailed, match=r"actor [01] of ParallelDQN") as err:
        run.train()
    assert message in str(err.value)
    assert _children(os.getpid()) == set(), "actor processes left behind"


def _script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


TRAIN_SCRIPT = """
    import sys
    from tests.agents.test_agents import TRAIN, ENV, DQN_CFG, PARALLEL
    from dataclasses import replace
    from tradeforge.agents import train_agent
    if __name__ == "__main__":
        cfg = DQN_CFG.replace(total_steps=10_000_000, checkpoint_every=1000)
        train_agent(sys.argv[1], TRAIN, ENV, cfg, PARALLEL, 0, checkpoint_dir=sys.argv[2],
                    progress=False)
"""


@pytest.mark.timeout(180)
def test_killed_training_resumes_from_its_last_checkpoint(tmp_path) -> None:
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(
        [*_script(TRAIN_SCRIPT), "dqn", str(ckpt)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(ckpt / CHECKPOINT_FILE, proc, 120)
        time.sleep(1.0)  # let it write a later checkpoint or two
    finally:
        proc.kill()
        proc.wait()
    arrays, meta = load_checkpoint(ckpt)
    saved_at = meta["env_steps"]
    assert saved_at >= 1000 and saved_at % 1000 == 0
    cfg = DQN_CFG.replace(total_steps=saved_at + 800, checkpoint_every=1000)
    result = train_agent(
        "dqn", TRAIN, ENV, cfg, PARALLEL, 0, checkpoint_dir=str(ckpt), progress=False
    )
    assert result.stats["resumed_from"] == saved_at
    assert result.stats["steps"] == saved_at + 800
    assert result.stats["updates"] == (saved_at + 800 - DQN_CFG.learning_starts) // 4
    assert result.stats["buffer_transitions"] >= int(arrays["buffer_meta"][1])


def test_a_checkpoint_of_another_run_is_refused(tmp_path) -> None:
    cfg = DQN_CFG.replace(total_steps=400, learning_starts=100, checkpoint_every=200)
    train_agent("dqn", TRAIN, ENV, cfg, PARALLEL, 0, checkpoint_dir=str(tmp_path), progress=False)
    with pytest.raises(ValueError, match=r"seed=0.*seed=1"):
        train_agent(
            "dqn", TRAIN, ENV, cfg, PARALLEL, 1, checkpoint_dir=str(tmp_path), progress=False
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.timeout(180)
def test_ctrl_c_stops_parallel_training_with_no_orphans(tmp_path) -> None:
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(
        [*_script(TRAIN_SCRIPT), "parallel_dqn", str(ckpt)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        # ... and, like one, with Ctrl-C's default action: a job started in the background
        # by a non-interactive shell (`cmd &`, as a CI runner may) inherits SIGINT ignored,
        # and Python then never raises KeyboardInterrupt at all.
        preexec_fn=_default_sigint,
    )
    try:
        _wait_for(ckpt / CHECKPOINT_FILE, proc, 120)  # actors are running by now
        actors = _children(proc.pid)
        assert len(actors) >= PARALLEL.num_actors
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # On failure, say how the process ended: -2 with no traceback is SIGINT's default action.
    detail = f"exit {proc.returncode}; stderr tail:\n{stderr[-3000:]}"
    assert proc.returncode != 0, detail
    assert "KeyboardInterrupt" in stderr, detail
    time.sleep(0.5)
    alive = [pid for pid in actors if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"orphan actors {alive}"


def test_tensorboard_scalars_are_written(tmp_path) -> None:
    cfg = DQN_CFG.replace(total_steps=2400, learning_starts=200)
    train_agent("dqn", TRAIN, ENV, cfg, PARALLEL, 0, log_dir=str(tmp_path), progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"loss", "mean_q", "epsilon", "episode_return", "steps_per_s"} <= tags, tags


def test_unknown_agent_kind_is_named() -> None:
    with pytest.raises(ValueError, match="'ppo' is not one of"):
        train_agent("ppo", TRAIN, ENV, DQN_CFG, PARALLEL, 0, progress=False)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["dqn", "parallel_dqn"])
def test_a_stop_request_checkpoints_and_stops_both_loops(kind: str, tmp_path) -> None:
    """Issue 24: Ctrl-C (``tradeforge.interrupt.request``) stops a training at its next step,
    with a checkpoint of that step, and leaves no actor process behind."""
    from tradeforge import interrupt

    cfg = DQN_CFG.replace(total_steps=60_000, checkpoint_every=100_000)
    interrupt.reset()
    timer = threading.Timer(3.0, interrupt.request)
    timer.start()
    try:
        with pytest.raises(interrupt.Interrupted, match=r"interrupted at env step (\d+)") as err:
            train_agent(kind, TRAIN, ENV, cfg, PARALLEL, 0, checkpoint_dir=str(tmp_path))
        (stopped,) = interrupt.stopped()
    finally:
        timer.cancel()
        interrupt.reset()
    step = int(re.search(r"env step (\d+)", str(err.value))[1])
    assert 0 < step < cfg.total_steps and stopped.env_steps == step
    assert load_checkpoint(tmp_path)[1]["env_steps"] == step  # none was due: written on stop
    assert stopped.checkpoint == str(tmp_path / CHECKPOINT_FILE)
    assert _children(os.getpid()) == set(), "actor processes left behind"
