"""Issue 24's hostile drills, each on the real ``tradeforge`` command in a subprocess, with the
exact input of the drill and the exit code it must give (0 done, 1 the data or a stage
failed, 2 bad input refused before anything starts, 130 interrupted).

The table ``DRILLS`` lists the quick drills (seconds each); the Ctrl-C drills (a training
interrupted for real) are at the end of the module, and the HTTP drills of ``serve`` in
``tests/predict/test_serve.py``. The 19 drills that passed before issue 24 (bad files, bad
options, unreachable S3, SIGKILL, tampered policies) are covered by the tests of their stages.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRADEFORGE = ROOT / ".venv" / "bin" / "tradeforge"
MARKET = ROOT.parent / "shared" / "data" / "market"
SPY = MARKET / "SPY_2010-2017_yahoo.csv"
BTC = MARKET / "BTCUSD_2014-2019_coinbase-daily_cdd.csv"
#: A tiny budget on the training drills: should a refusal ever regress, the drill trains for
#: seconds, not minutes.
BUDGET = " --steps 200 --seeds 0 --agents dqn --folds 1"


@dataclass(frozen=True)
class Drill:
    """One drill: the command line (``{name}`` placeholders), its exit code, what it says."""

    name: str
    argv: str
    exit_code: int
    says: str
    """A regex the combined stdout and stderr must match."""
    never: str | None = None
    """A regex it must not match (a wrong or misleading report)."""
    needs: str = "files"
    """The fixture the drill needs: ``files``, ``champions`` or ``s3``."""


DRILLS = [
    # 3. one file and --tickers: no silent relabelling (refused before anything starts)
    Drill(
        "train one file as another ticker",
        "train --source {SPY} --tickers AAPL --store {store}" + BUDGET,
        2,
        r"SPY_2010-2017_yahoo\.csv' holds SPY's bars, not AAPL's.*--source .*=AAPL",
    ),
    Drill(
        "validate one file as two tickers",
        "validate {SPY} --tickers AAPL,MSFT",
        2,
        r"one file holds one ticker, not AAPL, MSFT",
        never=r"passed",
    ),
    Drill(
        "validate one file as another ticker",
        "validate {SPY} --tickers aapl",
        2,
        r"holds SPY's bars, not AAPL's",
        never=r"passed",
    ),
    Drill(
        "predict on another ticker's file",
        "predict --ticker MEANREV --source {SPY} --store {store}",
        2,
        r"holds SPY's bars, not MEANREV's",
    ),
    Drill(
        "a file mapped explicitly to a ticker",
        "validate {dir}/prices.csv=SPY",
        0,
        r"passed: 1822 rows of SPY \(",
    ),
    Drill(
        "a file whose name gives no ticker, unmapped",
        "train --source {dir}/prices@home.csv --store {store}" + BUDGET,
        2,
        r"prices@home\.csv' names no ticker, not GOOGL's.*--source .*prices@home\.csv=GOOGL",
    ),
    # 5. off-calendar bars and absurd values
    Drill(
        "a Saturday bar in a stock file",
        "validate {dir}/SPYWKND.csv --json",
        1,
        r"off_calendar failed on 1 of 1823 rows: 2015-01-03 \(a Saturday\): the exchange "
        r"\(XNYS\) held no session",
    ),
    Drill(
        "weekend bars in a crypto file",
        f"validate {BTC}",
        0,
        r"passed: \d+ rows of BTCUSD",
        never=r"off_calendar failed",
    ),
    Drill(
        "a volume of 1e30",
        "validate {dir}/SPYVOL.csv --json",
        1,
        r"plausible_values failed on 1 of 1822 rows: 2016-11-02 volume=1e\+30 > 1e\+16",
    ),
    # 10. small reports
    Drill(
        "a NaN close",
        "validate {dir}/SPYNAN.csv --json",
        1,
        r"no_nulls failed on 1 of 1822 rows: 2016-11-02 close=null",
        never=r"open=null|high=null|low=null",
    ),
    Drill(
        "an infinite close",
        "validate {dir}/SPYINF.csv --json",
        1,
        r"plausible_values failed on 1 of 1822 rows: 2016-11-02 close=inf is not finite",
        never=r"ohlc_consistency failed|high=",
    ),
    Drill(
        "an unadjusted 3:1 split",
        "validate {dir}/SPLIT3.csv --json",
        1,
        r"--validation\.splits SPLIT3:2018-07-02=3 \(train\) or --split SPLIT3:2018-07-02=3",
        never=r"splits=\{",
    ),
    # 7. --start beyond the data: preflight, naming the data's first and last dates
    Drill(
        "train --start beyond a local file",
        "train --source {SPY} --start 2030-01-01 --store {store}" + BUDGET,
        2,
        r"no bars with start 2030-01-01 \(the data runs from 2010-01-04 to 2017-03-29\)",
        never=r"Traceback",
    ),
    Drill(
        "train --start beyond an S3 object",
        "train --source {s3}/SPY.csv --start 2030-01-01 --store {store}" + BUDGET,
        2,
        r"no bars with start 2030-01-01 \(the data runs from 2010-01-04 to 2017-03-29\)",
        never=r"Traceback",
        needs="s3",
    ),
    # 1. resuming a run that left no checkpoint
    Drill(
        "train --run.resume of an unknown run",
        "train --source {SPY} --run.resume no-such-run --store {store}" + BUDGET,
        2,
        r"--run\.resume no-such-run: no checkpoints of that run in ",
    ),
    # 8. one corrupt champion pointer
    Drill(
        "models list with one corrupt champion pointer",
        "models list --store {champions}",
        1,
        r"(?s)GOOGL +dqn .*\*.*SPY +dqn .*\?.*error: SPY: champion pointer unreadable",
        needs="champions",
    ),
    # 10. tickers are upper-cased everywhere
    Drill(
        "predict with a lower-case ticker",
        "predict --ticker googl --store {champions}",
        0,
        r"^GOOGL \d{4}-\d\d-\d\d close",
        needs="champions",
    ),
]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The drills' files: SPY's real file with one fault each (it is written newest first)."""
    root = tmp_path_factory.mktemp("drills")
    header, *rows = list(csv.reader(SPY.open()))

    def faulty(name: str, row: int, col: int, value: str) -> None:
        changed = [r[:] for r in rows]
        changed[row][col] = value
        _write(root / name, header, changed)

    saturday = next(i for i, r in enumerate(rows) if r[0] == "2015-01-02")
    own = rows[saturday][:]
    own[0] = "2015-01-03"
    own[1:5] = [f"{float(v) * 1.01:.6f}" for v in own[1:5]]  # its own prices, not a copy
    _write(root / "SPYWKND.csv", header, [*rows[:saturday], own, *rows[saturday:]])
    faulty("SPYVOL.csv", 100, 5, "1e30")
    faulty("SPYNAN.csv", 100, 4, "")
    faulty("SPYINF.csv", 100, 4, "inf")
    (root / "prices.csv").write_bytes(SPY.read_bytes())
    (root / "prices@home.csv").write_bytes(SPY.read_bytes())
    # an unadjusted 3:1 split on 2018-07-02: every price before it three times higher
    aapl_header, *aapl = list(csv.reader((MARKET / "AAPL_2013-2023_yahoo-adjusted.csv").open()))
    for r in aapl:
        if r[0] < "2018-07-02":
            r[1:5] = [f"{float(v) * 3:.6f}" for v in r[1:5]]
    _write(root / "SPLIT3.csv", aapl_header, aapl)
    return {"SPY": str(SPY), "dir": str(root), "store": str(root / "store")}


@pytest.fixture(scope="module")
def champions(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with a GOOGL champion (demo data) and a SPY champion whose pointer is garbage."""
    from storage import open_store
    from tests.predict.champions import publish
    from tradeforge.config import DataConfig
    from tradeforge.data import ingest

    root = tmp_path_factory.mktemp("drill-champions")
    store = str(root / "store")
    demo = ingest("GOOGL", DataConfig(source="demo")).frame
    publish(store, demo, "demo", workdir=root)
    spy = ingest("SPY", DataConfig(tickers=("SPY",), source=str(SPY))).frame
    publish(store, spy, str(SPY), workdir=root)
    open_store(store).put_bytes("models/SPY/champion.json", b"{not json")
    return store


def _context(drill: Drill, request: pytest.FixtureRequest) -> tuple[dict[str, str], dict]:
    ctx = dict(request.getfixturevalue("files"))
    env = {**os.environ, "COLUMNS": "200", "PREFECT_HOME": str(Path(ctx["dir"]) / "prefect")}
    if drill.needs == "champions":
        ctx["champions"] = request.getfixturevalue("champions")
    if drill.needs == "s3":
        from storage import open_store

        server = request.getfixturevalue("s3_server")
        ctx["s3"] = f"s3://{server.bucket}/drills"
        env.update(server.env())
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name, value in server.env().items():  # this process puts the object; undone after
            monkeypatch.setenv(name, value)
        open_store(ctx["s3"]).put_bytes("SPY.csv", SPY.read_bytes())
    return ctx, env


@pytest.mark.parametrize("drill", DRILLS, ids=[d.name for d in DRILLS])
def test_drill(drill: Drill, request: pytest.FixtureRequest) -> None:
    ctx, env = _context(drill, request)
    argv = [a.format(**ctx) for a in drill.argv.split()]
    done = subprocess.run(
        [str(TRADEFORGE), *argv], capture_output=True, text=True, env=env, timeout=300
    )
    said = done.stdout + done.stderr
    assert done.returncode == drill.exit_code, said
    assert re.search(drill.says, said, re.MULTILINE), said
    if drill.never:
        assert not re.search(drill.never, said), said


# -- 1 and 2: Ctrl-C during a training (slow: each starts a real training, ~1 min) -----------

INTERRUPTED = re.compile(
    r"^interrupted \(Ctrl-C\): dqn seed 0 at step (\d+) of 60000; staged files removed; "
    r"checkpoints kept in (\S+): resume with the same command and --run\.resume (\S+)$"
)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["group", "pid"])
def test_ctrl_c_stops_a_running_training_and_keeps_its_checkpoint(how: str, tmp_path: Path) -> None:
    """Drill 1 (SIGINT to the process group, as a terminal sends it) and drill 2 (to the
    command's PID alone) on the drill's exact training: exit 130 with one line, no staged
    file left, the checkpoint of the step it stopped at kept; the group drill then resumes."""
    from benchmarks.interrupt import DRILL, interrupt_training

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    store, work = tmp_path / "store", tmp_path / "runs"
    got = interrupt_training(how, store, work, at_step=2500, env=env)
    assert got.exit_code == 130, got.stderr[-3000:]
    found = INTERRUPTED.match(got.last_line)
    assert found, got.last_line
    step, run_id = int(found[1]), found[3]
    assert step >= got.step_at_signal >= 2500  # it was training, and stopped where it was
    assert "Traceback" not in got.stderr and "ConnectError" not in got.stderr
    assert not [p for p in store.rglob("*") if "staging" in p.parts and p.is_file()]
    (checkpoint,) = (work / run_id / "checkpoints").rglob("checkpoint.npz")
    from tradeforge.agents.checkpoint import load_checkpoint

    assert load_checkpoint(checkpoint.parent)[1]["env_steps"] == step
    if how != "group":
        return
    again = ["--steps", str(step + 200), "--store", str(store), "--run.work_dir", str(work)]
    resumed = subprocess.run(
        [
            str(TRADEFORGE),
            "train",
            *DRILL[:2],
            *DRILL[4:],
            *again,
            "--run.resume",
            run_id,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'"resumed_from": {step}' in resumed.stdout.splitlines()[-1]
