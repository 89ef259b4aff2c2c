"""Portfolio champions (issue 27): the trained allocator handed to promotion, published under
``models/portfolio/<name>/`` with the registry's card, checksums and conditional pointer, and
the next runs gated against it. On a local store and on a real SeaweedFS S3 server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks.synthetic import momentum
from storage import open_store
from storage.registry import ModelRegistry
from tradeforge.artifact import POLICY_WEIGHTS, load_champion_policy
from tradeforge.config import (
    DataConfig,
    DQNConfig,
    EnvConfig,
    FeatureConfig,
    ParallelConfig,
    PipelineConfig,
    PortfolioConfig,
    SplitConfig,
)
from tradeforge.portfolio.champion import gate_and_promote, portfolio_registry
from tradeforge.portfolio.evaluate import score_baselines, train_and_score
from tradeforge.portfolio.market import prepare_portfolio

TICKERS = ("A0", "A1", "A2")
ENV = EnvConfig(window=3)
PPY = 252


@pytest.fixture(scope="module")
def trained():
    """A real universe, its baselines and a really trained allocator on every fold."""
    frames = {t: momentum(i, 700).assign(ticker=t) for i, t in enumerate(TICKERS)}
    split = SplitConfig(folds=2, gap=2)
    prepared = prepare_portfolio(frames, FeatureConfig(), split, window=3)
    cfg = PipelineConfig(
        data=DataConfig(tickers=TICKERS), split=split, env=ENV,
        dqn=DQNConfig(total_steps=200, num_envs=4),
        portfolio=PortfolioConfig(tickers=TICKERS, name="mom3"),
    )  # fmt: skip
    candidates = [
        train_and_score("dqn", 0, fold, ENV, cfg.dqn, ParallelConfig(), cfg.portfolio,
                        test=fold.index == len(prepared.folds) - 1)
        for fold in prepared.folds
    ]  # fmt: skip
    return frames, prepared, cfg, candidates, score_baselines(prepared, ENV, cfg.portfolio)


def _over_equal_weight(candidates, baselines, daily: float):
    """The same trained candidates with a chosen validation record: 1/N's returns + ``daily``
    (so the gate's verdict is known; the gate itself is tested in test_gate.py)."""
    out = []
    for c, b in zip(candidates, baselines, strict=True):
        returns = b["equal_weight"].returns + daily
        worth = np.r_[1.0, np.cumprod(1.0 + returns)]
        out.append(
            dataclasses.replace(
                c, validation=dataclasses.replace(b["equal_weight"], net_worth=worth)
            )
        )
    return out  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    uri = str(tmp_path / "store") if request.param == "local" else request.getfixturevalue("s3_uri")
    return open_store(uri)


def test_promoted_portfolio_is_published_and_gates_the_next_runs(trained, store) -> None:
    frames, prepared, cfg, candidates, baselines = trained
    registry = portfolio_registry(store)

    def run(daily: float):
        picked = _over_equal_weight(candidates, baselines, daily)
        return gate_and_promote("mom3", picked, baselines, prepared, frames, cfg, store, "r", PPY)

    first, plots = run(0.004)
    assert first["promoted"] and first["published"], first["reason"]
    assert first["champion_before"] is None
    assert [c["benchmark"] for c in first["gate"]["checks"]] == ["cash", "equal_weight"]
    assert set(plots) == {"weights-test.png", "equity-vs-equal-weight-test.png"}
    champion = registry.champion("mom3")
    assert champion.version_id == first["version"]
    assert first["version_uri"].endswith(f"models/portfolio/mom3/dqn/{first['version']}")
    card = registry.verify("mom3", "dqn", first["version"])  # every file against its sha256
    assert card["portfolio"] == "mom3" and card["tickers"] == list(TICKERS)
    assert set(card["scalers"]) == set(TICKERS) and card["window"] == 3
    assert {"model.keras", POLICY_WEIGHTS, *plots} <= set(card["files"])
    # The published policy is the trained last-fold model: same greedy actions.
    policy = load_champion_policy(registry, "mom3", allow_keras=False)
    assert policy.loaded_from == POLICY_WEIGHTS
    from tradeforge.artifact import keras_agent_from_bytes

    keras = keras_agent_from_bytes(candidates[-1].model)
    obs = np.random.default_rng(0).normal(size=(64, policy.obs_dim)).astype(np.float32)
    assert np.array_equal(policy.act(obs), keras.act(obs))

    second, _ = run(0.008)
    gate = {c["benchmark"] for c in second["gate"]["checks"]}
    assert gate == {"cash", "equal_weight", "champion"}
    assert second["champion_before"] == first["version"]
    assert second["champion_validation"]["sharpe"] is not None
    assert second["promoted"] and second["published"], second["reason"]

    third, _ = run(0.0)  # no better than 1/N: published for the audit trail, not promoted
    assert not third["promoted"] and not third["published"]
    assert registry.champion("mom3").version_id == second["version"]
    outcomes = [h["outcome"] for h in registry.history("mom3")]
    assert outcomes == ["promoted", "promoted", "rejected"]
    assert len(registry.versions("mom3")) == 3
    assert ModelRegistry(store).tickers() == []  # nothing in the tickers' space


def test_champion_of_another_universe_under_the_same_name_is_refused(trained, store) -> None:
    frames, prepared, cfg, candidates, baselines = trained
    picked = _over_equal_weight(candidates, baselines, 0.004)
    gate_and_promote("mom3", picked, baselines, prepared, frames, cfg, store, "r", PPY)
    other = {f"B{i}": f.assign(ticker=f"B{i}") for i, f in enumerate(frames.values())}
    renamed = dataclasses.replace(prepared, tickers=tuple(other))
    with pytest.raises(ValueError, match="another name"):
        gate_and_promote("mom3", picked, baselines, renamed, other, cfg, store, "r", PPY)
    assert len(portfolio_registry(store).versions("mom3")) == 1
