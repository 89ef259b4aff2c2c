"""The ``tradeforge train`` console script, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import tiny_options

ROOT = Path(__file__).resolve().parents[1]
SPY = ROOT.parent / "shared" / "data" / "market" / "SPY_2010-2017_yahoo.csv"
TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def _run(args: list[str], tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), **extra_env}
    env.pop("PREFECT_API_URL", None)  # ephemeral mode, as on a fresh machine
    return subprocess.run(
        [str(TRADEFORGE), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_a_bad_option_names_the_field_and_exits_2(tmp_path: Path) -> None:
    done = _run(["train", "--env.execution", "tomorrow", "--store", str(tmp_path)], tmp_path)
    assert done.returncode == 2
    assert "--env.execution" in done.stderr and "tomorrow" in done.stderr
    done = _run(["train", "--commission", "0.5", "--store", str(tmp_path)], tmp_path)
    assert done.returncode == 2
    assert "--commission (env.commission: Input should be less than 0.1)" in done.stderr
    done = _run(["train", "--tickers", "A/B", "--store", str(tmp_path)], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "'A/B' is not a ticker symbol" in done.stderr
    assert not any(tmp_path.glob("models"))  # nothing ran, nothing was written


def test_train_help_groups_options_by_section(tmp_path: Path) -> None:
    done = _run(["train", "--help"], tmp_path, COLUMNS="200")
    assert done.returncode == 0, done.stderr
    for heading in ("Run: what is trained", "Trading environment", "DQN agent", "Promotion gate"):
        assert heading in done.stdout
    for option in ("--env.commission", "--tickers", "--seeds", "--steps", "--dqn.gamma"):
        assert option in done.stdout


@pytest.fixture(scope="module")
def spy_on_dask(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One tiny training of a local file on a temporary Dask LocalCluster, with extra trials.

    Two tests read it (what a local file gives the summary; what ``--dask`` and
    ``--promotion.extra_trials`` do), so the suite pays for one CLI training, not two."""
    tmp_path = tmp_path_factory.mktemp("cli-spy")
    options = tiny_options(
        data={"start": "2013-01-01", "end": "2016-01-01"},
        split={"val_start": "2015-01-01", "test_start": "2015-07-01"},
    )
    args = ["train", "--source", str(SPY), "--agents", "dqn", "--store", str(tmp_path / "store")]
    args += ["--json", "--dask", "--promotion.extra_trials", "7"]
    return _run([*args, *options], tmp_path, TRADEFORGE_DASK_WORKERS="1")


@pytest.mark.slow
def test_train_on_a_local_file_prints_the_summary_as_json(
    spy_on_dask: subprocess.CompletedProcess[str],
) -> None:
    done = spy_on_dask
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    (ticker,) = summary["tickers"]
    assert ticker["ticker"] == "SPY"  # named by the file
    assert ticker["boundaries"]["val_start"] == "2015-01-02"  # the first session of 2015
    assert len(ticker["boundaries"]["folds"]) == 2
    assert ticker["promoted"] is False  # a 300-step agent shows no edge
    assert isinstance(ticker["challenger"]["test"]["total_return"], float)
    assert isinstance(ticker["baselines"]["buy_and_hold"]["test"]["total_return"], float)
    assert Path(ticker["version_uri"], "model.keras").is_file()
    assert {"buy_and_hold", "cash", "random", "sma_crossover"} <= set(ticker["baselines"])


@pytest.mark.slow
def test_a_failed_training_fails_the_run_and_names_the_candidate(tmp_path: Path) -> None:
    """A training stopped by its deadline: exit 1, one error line naming ticker, agent, seed,
    fold and cause; the JSON summary marks the ticker failed, nothing staged or published."""
    store = tmp_path / "store"
    args = ["train", "--source", str(SPY), "--agents", "dqn", "--store", str(store), "--json"]
    options = ["--steps", "10000000", "--train-timeout", "3", "--folds", "1", "--seeds", "0"]
    done = _run([*args, *options, "--start", "2013-01-01", "--end", "2016-01-01"], tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    (ticker,) = json.loads(done.stdout.strip().splitlines()[-1])["tickers"]
    assert ticker["outcome"] == "failed" and not ticker["promoted"], ticker
    assert "train-SPY-dqn-simple-seed0-fold0" in ticker["reason"]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, done.stderr[-3000:]
    for text in ("SPY", "train-SPY-dqn-simple-seed0-fold0", "exceeded its limit of 3 s"):
        assert text in error[0], error[0]
    assert not [p for p in store.rglob("*") if p.is_file() and "staging" in p.parts]
    assert not (store / "models").exists()


def test_list_options_parse_commas_and_none_as_the_empty_list() -> None:
    from cli.train import build_config

    def hidden(value: str) -> tuple[int, ...]:
        return build_config({"dqn__hidden": value, "data__tickers": "SPY"}).dqn.hidden

    assert hidden("16,8") == (16, 8)
    assert hidden("none") == ()  # how --help shows an empty default: a linear Q-function
    assert hidden("None") == () and hidden("") == ()


@pytest.mark.slow
def test_dask_flag_and_extra_trials_reach_the_run(
    spy_on_dask: subprocess.CompletedProcess[str],
) -> None:
    """``--dask`` fans the run out on a temporary Dask LocalCluster; ``--promotion.extra_trials``
    reaches the gate's deflation (trials counted and in the reason)."""
    done = spy_on_dask
    assert done.returncode == 0, done.stderr[-3000:]
    # prefect-dask's own words when the flow's task runner starts a LocalCluster
    assert "Creating a new Dask cluster with `distributed" in done.stderr, done.stderr[-3000:]
    (ticker,) = json.loads(done.stdout.strip().splitlines()[-1])["tickers"]
    gate = ticker["gate"]
    assert gate["trials"] == 1 + 7  # one candidate trained, seven searched by hand before
    assert gate["effective_trials"] == pytest.approx(1 + 7)
    assert gate["deflation_sharpe"] > 0  # one candidate alone is not deflated at all
