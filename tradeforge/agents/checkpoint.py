"""Training checkpoints: one ``.npz`` with learner, optimizer and replay state, written atomically.

A checkpoint is written to a temporary file and renamed over the previous one, so a training
killed mid-write leaves the last complete checkpoint in place. On resume the envs start fresh
episodes (their state is not saved) and exploration is reseeded from (seed, env step).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_FILE = "checkpoint.npz"


def save_checkpoint(
    directory: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write ``arrays`` and the JSON ``meta`` to ``directory/checkpoint.npz`` atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / CHECKPOINT_FILE
    tmp = directory / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
    payload = dict(arrays)
    payload["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(tmp, "wb") as fh:
        np.savez(fh, **payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def load_checkpoint(directory: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and meta of ``directory/checkpoint.npz``, or None when there is none."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # a truncated or foreign file must not be silently ignored
        raise ValueError(f"checkpoint {path} is unreadable: {exc}") from exc
    meta = json.loads(arrays.pop("meta_json").tobytes().decode())
    return arrays, meta


def check_compatible(meta: dict[str, Any], expected: dict[str, Any], path: str | Path) -> None:
    """Raise if a checkpoint was written by a different kind of run (agent, seed, network)."""
    for key, value in expected.items():
        if meta.get(key) != value:
            raise ValueError(
                f"checkpoint in {path} was written with {key}={meta.get(key)!r}, "
                f"this run has {key}={value!r}; use another checkpoint_dir"
            )
