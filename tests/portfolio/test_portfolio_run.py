"""``tradeforge train --portfolio ... --json`` end to end (issue 27): a real ephemeral Prefect
run on a synthetic universe, its last stdout line the summary with the ``portfolio`` object."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.synthetic import random_walk
from tests.portfolio.test_universe import _csv, _train
from tradeforge.portfolio.baselines import BASELINES


def test_portfolio_run_prints_the_decision_baselines_and_windows_as_json(tmp_path: Path) -> None:
    source = tmp_path / "bars"
    source.mkdir()
    for i, ticker in enumerate(("AAA", "BBB", "CCC")):
        _csv(random_walk(i, 700).assign(ticker=ticker), source / f"{ticker}.csv")
    done = _train(
        [
            "--portfolio", "AAA,BBB,CCC", "--source", str(source), "--json",
            "--agents", "dqn,parallel_dqn", "--seeds", "0", "--steps", "300",
            "--dqn.num_envs", "4", "--split.folds", "2", "--parallel.num_actors", "1",
        ],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])["portfolio"]
    assert summary["tickers"] == ["AAA", "BBB", "CCC"]
    assert isinstance(summary["promoted"], bool) and summary["reason"]
    # The challenger is a version under models/portfolio/<name>/ either way; the summary says
    # whether it is now the champion (published).
    assert summary["published"] is summary["promoted"]
    card = (
        tmp_path
        / "store"
        / "models"
        / "portfolio"
        / "AAA-BBB-CCC"
        / summary["challenger"]["agent"]
        / summary["version"]
        / "model_card.json"
    )
    assert json.loads(card.read_text())["tickers"] == ["AAA", "BBB", "CCC"]
    assert isinstance(summary["challenger"]["test"]["total_return"], float)
    assert summary["challenger"]["agent"] in ("dqn", "parallel_dqn")
    assert {c["agent"] for c in summary["candidates"]} == {"dqn", "parallel_dqn"}
    for name in BASELINES:
        assert isinstance(summary["baselines"][name]["test"]["total_return"], float), name
    assert summary["baselines"]["cash"]["test"]["total_return"] == 0.0
    assert summary["boundaries"]["test_start"] < summary["boundaries"]["end"]
    gate = {c["benchmark"] for c in summary["gate"]["checks"]}
    assert gate == {"cash", "equal_weight"}
    assert summary["sharpe_difference_vs_equal_weight"]["test"]["p_value"] is not None


def test_the_ui_form_is_the_portfolio_section_then_the_training_sections() -> None:
    """The Prefect UI's run form of the ``portfolio`` flow: a Portfolio group with dropdowns,
    then every section single-ticker training has."""
    from prefect.utilities.callables import parameter_schema

    from flows.portfolio import portfolio_pipeline
    from tradeforge.config import SECTIONS

    schema = parameter_schema(portfolio_pipeline).model_dump_for_openapi()
    assert list(schema["properties"]) == ["portfolio", *SECTIONS]
    portfolio = schema["definitions"]["PortfolioConfig"]["properties"]
    assert portfolio["align"]["enum"] == ["refuse", "exchange_sessions"]
    assert portfolio["allocation"]["enum"] == ["equal", "inverse_vol"]
    assert portfolio["tickers"]["description"].startswith("The universe")
