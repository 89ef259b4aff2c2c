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
from tradeforge.portfolio import UniverseError
from tradeforge.portfolio.champion import (
    check_universe_name,
    gate_and_promote,
    portfolio_registry,
)
from tradeforge.portfolio.evaluate import score_baselines, train_and_score
from tradeforge.portfolio.market import prepare_portfolio

TICKERS = ("A0", "A1", "A2")
ENV = EnvConfig(window=3)
PPY = 252


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A real universe (also as CSV files: the source its model card records), its baselines
    and a really trained allocator on every fold."""
    from tests.portfolio.test_universe import _csv

    frames = {t: momentum(i, 700).assign(ticker=t) for i, t in enumerate(TICKERS)}
    bars = tmp_path_factory.mktemp("bars")
    for ticker, frame in frames.items():
        _csv(frame, bars / f"{ticker}.csv")
    split = SplitConfig(folds=2, gap=2)
    prepared = prepare_portfolio(frames, FeatureConfig(), split, window=3)
    cfg = PipelineConfig(
        data=DataConfig(tickers=TICKERS, source=str(bars)), split=split, env=ENV,
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
    # The pooled validation record the paper monitor judges by (tests/paper/test_portfolio.py).
    pooled = np.concatenate([b["equal_weight"].returns for b in baselines]) + 0.004
    np.testing.assert_allclose(card["walk_forward"]["returns"], pooled, rtol=0, atol=1e-12)
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
    # The same refusal before anything is read or trained (the flow's portfolio-name task).
    check_universe_name(store, "mom3", TICKERS)  # its own universe: fine
    check_universe_name(store, "other", ("B0", "B1", "B2"))  # no champion yet: fine
    for tickers in (("B0", "B1", "B2"), ("A1", "A0", "A2")):  # other tickers / column order
        with pytest.raises(UniverseError) as refused:
            check_universe_name(store, "mom3", tickers)
        message = str(refused.value)
        assert "'mom3'" in message and "A0, A1, A2" in message and ", ".join(tickers) in message


def test_a_reused_universe_name_exits_2_before_any_bar_is_read(trained, tmp_path: Path) -> None:
    """``train --portfolio B0,B1,B2 --portfolio.name mom3`` where mom3's champion holds A0..A2:
    exit 2 naming the name and both universes. B1's file breaks the data contract, so a check
    made after ingest (or at the gate, after training) would report that instead."""
    from tests.portfolio.test_universe import _csv, _train

    frames, prepared, cfg, candidates, baselines = trained
    store = open_store(str(tmp_path / "store"))
    picked = _over_equal_weight(candidates, baselines, 0.004)
    first, _ = gate_and_promote("mom3", picked, baselines, prepared, frames, cfg, store, "r", PPY)
    assert first["promoted"], first["reason"]
    source = tmp_path / "bars"
    source.mkdir()
    for i, frame in enumerate(frames.values()):
        bad = frame.assign(ticker=f"B{i}")
        if i == 1:
            bad.loc[100, "high"] = bad.loc[100, "low"] / 2  # high below low
        _csv(bad, source / f"B{i}.csv")
    done = _train(
        ["--portfolio", "B0,B1,B2", "--portfolio.name", "mom3", "--source", str(source)],
        tmp_path,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "portfolio name 'mom3'" in done.stderr, done.stderr[-2000:]
    assert "A0, A1, A2" in done.stderr and "B0, B1, B2" in done.stderr
    assert "DataValidationError" not in done.stderr
    assert len(portfolio_registry(store).versions("mom3")) == 1


# -- predict --portfolio: target weights for the latest bar, without TensorFlow ----------------

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "prefect", "great_expectations")


def _promoted_with_bars(trained, store, tmp_path: Path, *, own_bars: bool = False) -> Path:
    """Promote the trained allocator as ``mom3``; returns the folder of its universe's bars
    (with ``own_bars``, a copy in ``tmp_path`` that its card names, for a test to take away)."""
    import shutil

    frames, prepared, cfg, candidates, baselines = trained
    if own_bars:
        bars = shutil.copytree(cfg.data.source, tmp_path / "own-bars")
        cfg = cfg.replace(data=cfg.data.replace(source=str(bars)))
    picked = _over_equal_weight(candidates, baselines, 0.004)
    decision, _ = gate_and_promote(
        "mom3", picked, baselines, prepared, frames, cfg, store, "r", PPY
    )
    assert decision["published"], decision["reason"]
    return Path(cfg.data.source)


def test_predict_portfolio_gives_target_weights_from_current_weights(
    trained, store, tmp_path: Path
) -> None:
    from tradeforge.portfolio.predict import WeightsError, predict_portfolio

    bars = _promoted_with_bars(trained, store, tmp_path)
    frames = trained[0]
    out = predict_portfolio("mom3", store.uri, source=str(bars))
    assert out["weights_assumed"] and list(out["weights"]) == list(TICKERS)
    assert out["timestamp"][:10] == frames["A0"]["timestamp"].iloc[-1].strftime("%Y-%m-%d")
    assert out["version_id"] == portfolio_registry(store).champion("mom3").version_id
    assert out["loaded_from"] == POLICY_WEIGHTS
    for ticker, w in out["weights"].items():  # long gets its 1/N slot, flat 0
        q_flat, q_long = out["q_values"][ticker]
        assert w == pytest.approx(1 / 3 if q_long > q_flat else 0.0), ticker
    assert sum(out["weights"].values()) + out["cash"] == pytest.approx(1.0)
    # Current weights are the held flag of each asset's observation: holding changes the Qs.
    held = predict_portfolio("mom3", store.uri, source=str(bars), current={"A0": 1.0})
    assert held["current_weights"] == {"A0": 1.0, "A1": 0.0, "A2": 0.0}
    assert held["q_values"]["A0"] != out["q_values"]["A0"]
    assert held["q_values"]["A1"] == out["q_values"]["A1"]
    assert held["turnover"] == pytest.approx(
        sum(abs(held["weights"][t] - (t == "A0")) for t in TICKERS)
    )
    with pytest.raises(WeightsError, match="ZZZ not in the universe"):
        predict_portfolio("mom3", store.uri, source=str(bars), current={"ZZZ": 1.0})
    with pytest.raises(WeightsError, match=r"sum to 0\.900000"):
        predict_portfolio("mom3", store.uri, source=str(bars), current={"A0": 0.5, "cash": 0.4})


def _cli(args: list[str], cwd: Path):
    import os
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "400"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tradeforge"), *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


def test_predict_portfolio_command_exits_2_on_bad_weights_and_imports_no_tensorflow(
    trained, tmp_path: Path
) -> None:
    import json
    import subprocess

    store = open_store(str(tmp_path / "store"))
    bars = _promoted_with_bars(trained, store, tmp_path)
    base = ["predict", "--portfolio", "mom3", "--store", store.uri, "--source", str(bars)]
    done = _cli([*base, "--weights", "A0=0.5,cash=0.5", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["current_weights"]["A0"] == 0.5 and not out["weights_assumed"]
    for weights, says in (("ZZZ=1", "ZZZ not in the universe"), ("A0=0.5", "sum to 0.500000")):
        bad = _cli([*base, "--weights", weights], tmp_path)
        assert bad.returncode == 2, bad.stderr[-2000:]
        assert "--weights" in bad.stderr and says in bad.stderr
    both = _cli(["predict", "--ticker", "SPY", "--portfolio", "mom3"], tmp_path)
    assert both.returncode == 2 and "one of --ticker or --portfolio" in both.stderr
    probe = (
        "import json, sys\n"
        "from cli.main import app\n"
        "try:\n"
        f"    app({[*base, '--json']!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    modules = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", probe],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert modules.returncode == 0, modules.stderr[-3000:]
    assert json.loads(modules.stdout.strip().splitlines()[-1]) == []


def test_serve_answers_portfolio_predictions_and_names_bad_current_weights(
    trained, tmp_path: Path
) -> None:
    """``POST /predict`` on the real ``tradeforge serve``: the same target weights as
    ``predict --portfolio``, from the bars of the card's source; bad weights 422 naming the
    field; a request naming both a ticker and a portfolio refused."""
    from tests.predict.test_serve import call, serving
    from tradeforge.portfolio.predict import predict_portfolio

    store = open_store(str(tmp_path / "store"))
    bars = _promoted_with_bars(trained, store, tmp_path, own_bars=True)
    expected = predict_portfolio("mom3", store.uri, current={"A1": 0.6, "cash": 0.4})
    with serving(store.uri) as url:
        status, health = call(url, "/health")  # a store with only a portfolio champion is up
        assert status == 200 and health["portfolios"] == ["mom3"] and health["serving"] == []
        status, models = call(url, "/models")
        assert [p["ticker"] for p in models["portfolios"]] == ["mom3"] and models["models"] == []
        body = {"portfolio": "mom3", "current_weights": {"A1": 0.6, "cash": 0.4}}
        status, out = call(url, "/predict", body)
        assert status == 200, out
        assert out["weights"] == expected["weights"] and out["cash"] == expected["cash"]
        for ticker in TICKERS:
            assert out["q_values"][ticker] == pytest.approx(expected["q_values"][ticker], abs=1e-6)
        assert out["version_id"] == expected["version_id"] and not out["weights_assumed"]
        # The universe's latest bar is cached per version (data_ttl_s, 60 s by default): with
        # the bars taken away, the next requests are answered from it, other weights included.
        import shutil

        shutil.rmtree(bars)
        status, again = call(url, "/predict", body)
        assert status == 200, again
        assert again["weights"] == out["weights"] and again["timestamp"] == out["timestamp"]
        status, cash = call(url, "/predict", {"portfolio": "mom3"})
        assert status == 200 and cash["weights_assumed"], cash
        assert cash["q_values"]["A0"] == again["q_values"]["A0"]  # A0 flat in both: same view
        assert cash["q_values"]["A1"] != again["q_values"]["A1"]  # A1 held only in the first
        for weights, says in (({"ZZZ": 1.0}, "ZZZ not in the universe"), ({"A0": 0.5}, "sum to")):
            status, bad = call(url, "/predict", {"portfolio": "mom3", "current_weights": weights})
            assert status == 422, bad
            assert bad["detail"][0]["loc"] == ["body", "current_weights"]
            assert says in bad["detail"][0]["msg"]
        status, none = call(url, "/predict", {"portfolio": "nope"})
        assert status == 404, none
        status, both = call(url, "/predict", {"ticker": "SPY", "portfolio": "mom3"})
        assert status == 422 and "one of ticker or portfolio" in both["detail"][0]["msg"]
        status, mixed = call(url, "/predict", {"portfolio": "mom3", "position": "long"})
        assert status == 422 and "a portfolio takes current_weights" in mixed["detail"][0]["msg"]
