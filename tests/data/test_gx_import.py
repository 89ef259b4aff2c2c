"""The trimmed great-expectations import: same suite results, none of the unused backends loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.helpers import market_file

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from tradeforge.validation.gx_import import _Deferred
from tradeforge.config.data import DataConfig
from tradeforge.data import ingest
from tradeforge.validation import validate
path = sys.argv[1]
got = ingest("AAPL", DataConfig(tickers=("AAPL",), source=path))
report = validate(got.frame)
bad = got.frame.copy()
bad.loc[412, "high"] = bad.loc[412, "low"] - 1.0  # one impossible bar: a failing rule's details
failed = validate(bad)
results = {
    name: {"success": r.success, "rows_checked": r.rows_checked, "summary": r.summary(),
           "rows": r.rows(), "kept_bars": len(r.frame)}
    for name, r in (("clean", report), ("bad", failed))
}
def loaded(name):
    return name in sys.modules and not isinstance(sys.modules[name], _Deferred)
before = {n: loaded(n) for n in ("sqlalchemy", "boto3", "altair", "scipy.stats", "prefect",
                                 "tensorflow")}
import scipy.stats._stats_py  # a submodule import through the stand-in
from scipy.stats import norm
import scipy.stats
import great_expectations.compatibility.sqlalchemy as gx_sa
after = {
    "entropy": round(float(scipy.stats.entropy([0.5, 0.5])), 6),
    "norm_cdf": float(norm.cdf(0.0)),
    "altair_chart": hasattr(sys.modules["altair"], "Chart"),
    "scipy_stats_loaded": loaded("scipy.stats"),
    "gx_sees_sqlalchemy": bool(gx_sa.sqlalchemy),
}
print(json.dumps({"success": report.success, "rules": len(report.results), "before": before,
                  "after": after, "results": results}, default=str))
"""


def _probe(extra_env: dict[str, str]) -> dict:
    env = {**os.environ, **extra_env}
    path = str(market_file("AAPL_2013-2023_yahoo-adjusted.csv"))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trimmed() -> dict:
    """The probe with the trimmed import (the default)."""
    return _probe({})


def test_validation_loads_no_unused_backend_and_deferred_modules_still_work(trimmed: dict) -> None:
    got = trimmed
    assert got["success"] and got["rules"] > 10
    assert not any(got["before"].values()), got["before"]
    # A stand-in loads the real module on first use: code that needs scipy.stats or altair
    # (in this process or another library) is not broken by the trim.
    assert got["after"] == {
        "entropy": 0.693147,
        "norm_cdf": 0.5,
        "altair_chart": True,
        "scipy_stats_loaded": True,
        "gx_sees_sqlalchemy": False,
    }


def test_full_import_switch_gives_the_same_result(trimmed: dict) -> None:
    got = _probe({"TRADEFORGE_GX_FULL_IMPORT": "1"})
    assert got["before"]["sqlalchemy"] and got["after"]["gx_sees_sqlalchemy"]  # really full
    # Every rule's outcome, counts, message and examples, on a clean file and a broken bar.
    assert got["results"] == trimmed["results"]
    assert trimmed["results"]["bad"]["success"] is False
    assert any(row["status"] == "FAILED" for row in trimmed["results"]["bad"]["rows"])
