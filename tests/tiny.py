"""The tiny training run the flow and end-to-end tests share.

Small enough for seconds of training on 2 cores, large enough for every stage to be real: three
years of daily GOOGL bars (the demo data), two walk-forward folds of three months each and a
six-month test window. One seed (the default is three): a test that wants more says so.
"""

from __future__ import annotations

from typing import Any

TINY_SECTIONS: dict[str, dict[str, Any]] = {
    "run": {"seeds": [0]},
    "data": {"start": "2014-01-01", "end": "2017-01-01"},
    "split": {"val_start": "2015-07-01", "test_start": "2016-07-01", "folds": 2, "gap": 2},
    "dqn": {"total_steps": 300, "num_envs": 4},
    "env": {"window": 5},
}
"""Section -> field values: the flow's nested parameters (also what a deployment passes)."""


def tiny(**sections: dict[str, Any]) -> dict[str, Any]:
    """``TINY_SECTIONS`` as flow keyword arguments, each section updated by ``sections``."""
    out = {name: dict(values) for name, values in TINY_SECTIONS.items()}
    for name, values in sections.items():
        out.setdefault(name, {}).update(values)
    return out


def tiny_options(**sections: dict[str, Any]) -> list[str]:
    """The same values as ``tradeforge train`` options (``--split.folds=2`` ...)."""
    return [
        f"--{section}.{field}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}"
        for section, values in tiny(**sections).items()
        for field, v in values.items()
    ]
