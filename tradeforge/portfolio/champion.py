"""Portfolio champions (issue 27): one per named universe, in the registry's portfolio space.

``models/portfolio/<name>/<agent>/<version>/`` holds the allocator's ``model.keras``, its
TensorFlow-free policy (``policy.npz`` + ``policy.json``, as single-asset versions), the plots and
the model card (tickers, features, window, each asset's scaler, allocation, metrics, gate), all
through ``storage.registry.ModelRegistry(store, PORTFOLIOS)``: the same checksums and the same
conditional champion pointer as the tickers' models.

``gate_and_promote`` is the portfolio's promotion stage: re-score the champion (its own
scalers, on this run's validation bars), gate the challenger against cash, 1/N and the champion,
publish the challenger as an immutable version either way (audit trail), and move the pointer
only when the gate says so. ``allocator_market`` rebuilds a stored allocator's inputs from
canonical frames; serving uses it (``tradeforge.portfolio.predict``) without TensorFlow.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.config import EnvConfig, FeatureConfig
from tradeforge.portfolio.market import PortfolioMarket, PortfolioPrepared


def portfolio_registry(store: Any) -> Any:
    """The registry's portfolio key space (``models/portfolio/<name>/``) on ``store``."""
    from storage.registry import PORTFOLIOS, ModelRegistry

    return ModelRegistry(store, PORTFOLIOS)


def keras_bytes(agent: Any) -> bytes:
    """The ``.keras`` file of a trained agent, as bytes (to hand from training to promotion)."""
    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        return agent.save(Path(tmp) / "model.keras").read_bytes()


def card_tickers(card: dict[str, Any]) -> tuple[str, ...]:
    """The universe a portfolio version allocates across, in its column order."""
    tickers = card.get("tickers")
    if not isinstance(tickers, list) or len(tickers) < 2:
        raise ValueError(f"portfolio card {card.get('portfolio')!r}: no universe ('tickers')")
    return tuple(tickers)


def other_universe(name: str, held: tuple[str, ...], tickers: tuple[str, ...]) -> str | None:
    """Why ``name`` cannot register ``tickers``: its champion allocates across ``held``, another
    universe (or the same tickers in another column order); None when they are the same."""
    if tuple(held) == tuple(tickers):
        return None
    return (
        f"portfolio name {name!r}: its champion allocates across {', '.join(held)}; this run's "
        f"universe is {', '.join(tickers)}; give this universe another name (--portfolio.name)"
    )


def check_universe_name(store: Any, name: str, tickers: tuple[str, ...]) -> None:
    """``UniverseError`` before anything is trained when ``name`` is the registry name of a
    champion of another universe (a run would train, then be refused at the gate)."""
    from tradeforge.portfolio.universe import UniverseError

    registry = portfolio_registry(store)
    champion = registry.champion(registry.space.check(name))
    if champion is None:
        return
    held = card_tickers(registry.card(name, champion.agent, champion.version_id))
    problem = other_universe(name, held, tickers)
    if problem:
        raise UniverseError(problem)


def allocator_market(frames: dict[str, pd.DataFrame], card: dict[str, Any]) -> PortfolioMarket:
    """Every asset's whole history featured and scaled with the card's own features and
    per-asset scalers (never refitted), stacked; its last steppable bar is the latest."""
    from tradeforge.artifact import card_features, card_window
    from tradeforge.features import market_for_inference

    features = FeatureConfig(features=card_features(card))
    scalers = card["scalers"]
    markets = [
        market_for_inference(frames[t], features, scalers[t], card_window(card))
        for t in card_tickers(card)
    ]
    return PortfolioMarket.stack(markets)


def champion_curves(
    policy: Any, frames: dict[str, pd.DataFrame], prepared: PortfolioPrepared, env: EnvConfig
) -> list[Any]:
    """The champion allocator's validation curve on each of this run's folds (same bars as the
    challenger's), with its own features, scalers, window and allocation."""
    from tradeforge.portfolio.allocator import evaluate_allocator
    from tradeforge.portfolio.evaluate import Curve
    from tradeforge.portfolio.universe import UniverseError

    card = policy.card
    # Checked before training (check_universe_name); again here, for a champion promoted since.
    problem = other_universe(card["portfolio"], card_tickers(card), prepared.tickers)
    if problem:
        raise UniverseError(problem)
    market = allocator_market(frames, card)
    kw = {"allocation": card["allocation"], "vol_lookback": card["vol_lookback"]}
    window_env = env.replace(window=policy.window)
    curves = []
    for fold in prepared.folds:
        val = fold.val
        first, last = val.timestamps[val.start], val.timestamps[val.end - 1]
        begin, stop = np.searchsorted(market.timestamps, [first, last])
        if begin < market.start or market.timestamps[stop] != last:
            raise ValueError(
                f"portfolio {card['portfolio']}: the champion cannot be scored on fold "
                f"{fold.index}'s validation bars (its look-back needs earlier bars)"
            )
        view = market.slice(begin, stop + 1)
        curves.append(Curve.of(evaluate_allocator(policy, view, window_env, **kw)))
    return curves


def _frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a canonical frame (values and index, order-sensitive)."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy()).hexdigest()


def _pooled_validation(candidates: list[Any], best: dict[str, Any]) -> np.ndarray:
    """The chosen candidate's validation returns, fold after fold (what the gate judged)."""
    mine = [c for c in candidates if (c.agent, c.seed) == (best["agent"], best["seed"])]
    return np.concatenate([c.validation.returns for c in sorted(mine, key=lambda c: c.fold)])


def gate_and_promote(
    name: str,
    candidates: list[Any],
    baselines: list[dict[str, Any]],
    prepared: PortfolioPrepared,
    frames: dict[str, pd.DataFrame],
    cfg: Any,
    store: Any,
    run_id: str,
    periods_per_year: int,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Gate the challenger against cash, 1/N and the universe's champion; publish it as a
    version; move the champion pointer (If-Match on what was read) only when the gate says so.

    Returns ``decide_portfolio``'s decision with ``published`` (the pointer now names this
    version), ``version``, ``version_uri`` and ``champion_before``; and the version's plots
    (weights over the test window, equity against 1/N)."""
    from tradeforge import __version__
    from tradeforge.artifact import keras_agent_from_bytes, load_champion_policy, policy_files
    from tradeforge.portfolio.evaluate import decide_portfolio
    from tradeforge.portfolio.plots import plot_equity_vs, plot_weights

    registry = portfolio_registry(store)
    registry.space.check(name)  # a name the registry refuses fails before anything is read
    champion = load_champion_policy(registry, name)
    champ_curves = (
        None if champion is None else champion_curves(champion, frames, prepared, cfg.env)
    )
    decision = decide_portfolio(
        candidates, baselines, cfg.promotion, periods_per_year, champion=champ_curves
    )
    gate_inputs = decision.pop("gate_inputs")
    best = decision["challenger"]
    last_fold = next(
        c for c in candidates
        if (c.agent, c.seed) == (best["agent"], best["seed"]) and c.model is not None
    )  # fmt: skip
    plots = {
        "weights-test.png": plot_weights(last_fold.test, prepared.tickers, title=f"{name} weights"),
        "equity-vs-equal-weight-test.png": plot_equity_vs(
            last_fold.test,
            baselines[-1]["equal_weight@test"],
            title=f"{name}: agent vs 1/N after costs",
        ),
    }
    files: dict[str, bytes] = {"model.keras": last_fold.model, **plots}
    files.update(policy_files(keras_agent_from_bytes(last_fold.model)))  # acting without TensorFlow
    last = prepared.last
    card = {
        "tickers": list(prepared.tickers),
        "agent": best["agent"],
        "seed": best["seed"],
        "run_id": run_id,
        "code_version": __version__,
        "config": cfg.model_dump(mode="json"),
        "data": {
            "source": cfg.data.source,
            "interval": cfg.data.interval,
            "assets": {t: {"sha256": _frame_sha256(f), "rows": len(f)} for t, f in frames.items()},
            "boundaries": {**prepared.boundaries, "folds": [f.boundaries for f in prepared.folds]},
        },
        "features": list(prepared.feature_names),
        "window": cfg.env.window,
        "scalers": last.scalers,
        "allocation": cfg.portfolio.allocation,
        "vol_lookback": cfg.portfolio.vol_lookback,
        "metrics": {"validation": best["validation"], "test": best["test"]},
        "gate": decision["gate"],
        "gate_inputs": gate_inputs,
        # The pooled validation record the paper monitor judges live returns by (issue 25's
        # ``walk_forward.returns``, as single-asset cards carry it).
        "walk_forward": {"returns": _pooled_validation(candidates, best).tolist()},
    }
    version = registry.publish(name, best["agent"], files, card)
    promoted = registry.promote(
        name,
        version,
        decision={
            "promote": decision["promoted"],
            "reason": decision["reason"],
            "gate": decision["gate"],
        },
        expected_etag=champion.etag if champion is not None else None,
    )
    if decision["promoted"] and not promoted:
        decision["reason"] = "lost a race: another promotion moved the champion first"
    return decision | {
        "promoted": promoted,
        "published": promoted,
        "version": version.version_id,
        "version_uri": version.uri,
        "champion_before": champion.version_id if champion is not None else None,
    }, plots
