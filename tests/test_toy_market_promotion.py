"""A toy market with a known rule is learned and promoted by the pipeline (issue 12).

``tradeforge train`` runs as a user runs it (a subprocess, ephemeral Prefect, a local store) on
a seeded mean-reverting market (``benchmarks/synthetic.py``: log price = trend + an AR(1)
deviation; the rule "long while the close is below its 10-bar SMA" earns after costs). Default
settings except one agent kind and one seed, so the gate deflates for a single candidate: the
model must show its edge over cash and buy-and-hold on the pooled walk-forward validation
returns, be promoted, become the champion, and on the untouched test window beat buy-and-hold
and cash with at least 80% of the rule's return. ``test_cli`` checks the other side: a 300-step
agent shows no edge and is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.learning_suite import rule_figures, run_train, write_csv
from benchmarks.synthetic import make


@pytest.mark.slow
def test_a_mean_reverting_market_is_learned_and_promoted(tmp_path: Path) -> None:
    source, store = tmp_path / "markets", tmp_path / "store"
    source.mkdir()
    market = make("mean_reversion", 0)
    write_csv(market, source / "TOY.csv")
    summary = run_train(source, ["TOY"], store, ["--agents", "dqn", "--seeds", "0"])
    (ticker,) = summary["tickers"]

    assert ticker["promoted"] is True, ticker["reason"]
    gate = ticker["gate"]
    assert gate["promote"] is True and gate["trials"] == 1
    # the edge was measured on the pooled validation returns of every walk-forward fold
    assert len(ticker["challenger"]["folds"]) == 3
    assert ticker["challenger"]["validation"]["sharpe"] > 1.0
    test = ticker["challenger"]["test"]["total_return"]
    hold = ticker["baselines"]["buy_and_hold"]["test"]["total_return"]
    assert test > max(hold, 0.0) + 0.05, (test, hold)
    # ... and earns at least 80% of the known rule's return on the same bars and costs
    rule = rule_figures(market, "mean_reversion", ticker["boundaries"])["rule_test_return"]
    assert rule > 0.1 and test >= 0.8 * rule, (test, rule)
    # the promoted version is the champion, and the history says so
    from storage import open_store
    from storage.registry import ModelRegistry

    registry = ModelRegistry(open_store(str(store)))
    champion = registry.champion("TOY")
    assert champion is not None and champion.uri == ticker["version_uri"]
    (entry,) = registry.history("TOY")
    assert entry["outcome"] == "promoted", entry
