"""The training stage: a killed training of a run resumes from its checkpoint; logs are kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
    import sys
    from types import SimpleNamespace
    from storage import open_store
    from tests.agents.test_agents import DQN_CFG, ENV, PARALLEL, TRAIN
    from tradeforge.records import CandidateId
    from tradeforge.training import train_candidate

    if __name__ == "__main__":
        cfg = DQN_CFG.replace(total_steps=10_000_000, checkpoint_every=1000, eval_every=0)
        cid = CandidateId(agent="dqn", seed=0, reward="simple")
        fold = SimpleNamespace(train=TRAIN, index=0)
        train_candidate("TOY", cid, fold, ENV, cfg, PARALLEL, open_store(sys.argv[1]),
                        "run-1", work_dir=sys.argv[2])
"""


@pytest.mark.timeout(240)
def test_a_killed_training_of_a_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from storage import open_store
    from tests.agents.test_agents import DQN_CFG, ENV, PARALLEL, TRAIN
    from tradeforge.agents.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from tradeforge.records import CandidateId
    from tradeforge.training import run_dirs, train_candidate

    store, work = tmp_path / "store", tmp_path / "runs"
    cid = CandidateId(agent="dqn", seed=0, reward="simple")
    dirs = run_dirs(str(work), "run-1", "TOY", cid, 0)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(store), str(work)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (dirs.checkpoints / CHECKPOINT_FILE).exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait()
    _, meta = load_checkpoint(dirs.checkpoints)
    saved_at = int(meta["env_steps"])
    assert saved_at >= 1000

    cfg = DQN_CFG.replace(total_steps=saved_at + 800, checkpoint_every=1000, eval_every=0)
    fold = SimpleNamespace(train=TRAIN, index=0)
    candidate = train_candidate(
        "TOY", cid, fold, ENV, cfg, PARALLEL, open_store(str(store)), "run-1", work_dir=str(work)
    )
    assert candidate.stats["resumed_from"] == saved_at
    assert candidate.stats["steps"] == saved_at + 800
    assert not dirs.checkpoints.exists()  # staged: the checkpoints are gone
    assert any(dirs.tensorboard.rglob("events.out.tfevents.*"))  # the logs stay
    assert candidate.stats["tensorboard"] == str(dirs.tensorboard)
    assert open_store(str(store)).get_bytes(candidate.model_key)[:2] == b"PK"  # a .keras zip
