"""Promotion stage: select on pooled validation, publish a version, move the champion if earned.

``promote_ticker`` pools each candidate's walk-forward validation returns, selects the best
by pooled Sharpe, re-scores the current champion on the same bars with its own scaler, asks the
gate (``tradeforge.promotion.gate``) whether the challenger shows a measured edge over cash,
buy-and-hold and the champion, publishes the challenger as an immutable version either way
(audit trail), records the decision in the history, and moves the pointer only when the gate
says so, by a conditional write. The test window is reported, never used to choose.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tradeforge import __version__
from tradeforge.config import EnvConfig, PipelineConfig
from tradeforge.interrupt import check, requested
from tradeforge.promotion.gate import GateDecision, decide
from tradeforge.records import FoldResult, PolicyResult, Record

__all__ = ["Decision", "GateDecision", "decide", "promote_ticker", "select"]


class Decision(Record):
    """A ticker's promotion decision with the figures behind it (the summary's per-ticker entry)."""

    ticker: str
    promoted: bool
    reason: str
    challenger: dict[str, Any]
    candidates: list[dict[str, Any]]
    baselines: dict[str, dict[str, Any]]
    gate: GateDecision
    champion_before: str | None
    champion_validation: dict[str, float] | None
    version: str
    version_uri: str
    boundaries: dict[str, Any]
    seed_summary: dict[str, Any]
    cost_sweep_test: list[dict[str, Any]]
    plots: list[str]


def candidate_results(
    results: list[FoldResult], periods_per_year: int
) -> list[tuple[FoldResult, PolicyResult]]:
    """Per candidate: its last fold's result (the model to publish) and its pooled figures."""
    from tradeforge.evaluation.stage import pool_candidate

    by_id: dict[Any, list[FoldResult]] = defaultdict(list)
    for r in results:
        by_id[r.candidate.id].append(r)
    out = []
    for group in by_id.values():
        last = max(group, key=lambda r: r.candidate.fold)
        out.append((last, pool_candidate(group, periods_per_year)))
    return out


def select(pooled: list[tuple[FoldResult, PolicyResult]]) -> tuple[FoldResult, PolicyResult]:
    """The candidate with the best pooled validation Sharpe (ties: the lower seed)."""
    if not pooled:
        raise ValueError("no trained candidates to select from")
    return max(pooled, key=lambda p: (p[1].validation["sharpe"], -p[0].candidate.id.seed))


def champion_returns(
    champion: Any, registry: Any, prepared: Any, frame: Any, env: EnvConfig, ppy: int
) -> tuple[list[dict[str, float]], list[list[float]]]:
    """The champion's metrics and returns on every fold's validation stretch (own features, scaler).

    The champion is loaded through the artifact module: its card checked against the pointer,
    every file against the card, the numpy policy (or Keras safe mode for older versions).
    """
    from tradeforge.artifact import card_features, card_scaler, card_window, load_policy
    from tradeforge.evaluation import evaluate
    from tradeforge.features import market_for_window

    agent = load_policy(
        registry,
        champion.ticker,
        champion.agent,
        champion.version_id,
        expected_card_sha256=champion.card_sha256,
    )
    card = agent.card
    window = card_window(card)
    metrics, returns = [], []
    for fold in prepared.folds:
        market = market_for_window(
            frame,
            features=card_features(card),
            scaler=card_scaler(card),
            window=window,
            start=fold.boundaries["val_start"],
            end=fold.boundaries["val_end"],
        )
        result = evaluate(agent, market, env.replace(window=window), periods_per_year=ppy)
        metrics.append(result.metrics)
        returns.append([float(r) for r in result.episode.returns])
    return metrics, returns


def _aligned(a: list[list[float]], b: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per fold, the common tail of two return series (both end on the fold's last bar)."""
    xa, xb = [], []
    for ra, rb in zip(a, b, strict=True):
        n = min(len(ra), len(rb))
        xa += ra[len(ra) - n :]
        xb += rb[len(rb) - n :]
    return xa, xb


def _stop_if_requested(store: Any, run_id: str, ticker: str) -> None:
    """A run asked to stop (Ctrl-C) never promotes, and leaves no staged file behind."""
    if requested():
        from tradeforge.training import clear_staging

        clear_staging(store, run_id, ticker)
        check(f"promote {ticker}")


def promote_ticker(
    ticker: str,
    results: list[FoldResult],
    baselines: dict[str, PolicyResult],
    prepared: Any,
    ingested: Any,
    cfg: PipelineConfig,
    store: Any,
    run_id: str,
    periods_per_year: int,
) -> Decision:
    """Select, gate, publish and (only if earned) promote one ticker's challenger."""
    from storage.registry import ModelRegistry
    from tradeforge.artifact import keras_agent_from_bytes, policy_files
    from tradeforge.evaluation import cost_sweep, plot_cost_sweep, summarize_seeds
    from tradeforge.training import clear_staging

    _stop_if_requested(store, run_id, ticker)
    registry = ModelRegistry(store)
    pooled = candidate_results(results, periods_per_year)
    last, challenger = select(pooled)
    mine_by_fold = sorted(
        (r for r in results if r.candidate.id == last.candidate.id), key=lambda r: r.candidate.fold
    )
    fold_returns = [r.val_returns for r in mine_by_fold]

    champion = registry.champion(ticker)
    benchmarks = {name: baselines[name].val_returns for name in ("cash", "buy_and_hold")}
    challenger_returns = challenger.val_returns
    champion_metrics = None
    if champion is not None:
        from tradeforge.evaluation.stage import pooled_metrics

        champ_metrics, champ = champion_returns(
            champion, registry, prepared, ingested.frame, cfg.env, periods_per_year
        )
        mine, theirs = _aligned(fold_returns, champ)
        champion_metrics = pooled_metrics(champ_metrics, champ, periods_per_year)
        if len(mine) == len(challenger_returns):
            benchmarks["champion"] = theirs
        else:  # a champion with a longer warm-up: compare every benchmark on the common bars
            cut = len(challenger_returns) - len(mine)
            benchmarks = {k: list(v)[cut:] for k, v in benchmarks.items()} | {"champion": theirs}
            challenger_returns = mine
    gate = decide(
        challenger_returns,
        benchmarks,
        [p.validation["sharpe"] for _, p in pooled],
        abs(challenger.validation["max_drawdown"]),
        cfg.promotion,
        periods_per_year,
        trial_returns=[p.val_returns for _, p in pooled],
    )

    files = {"model.keras": store.get_bytes(last.candidate.model_key)}
    for split, key in last.plots.items():
        files[f"equity-{split}.png"] = store.get_bytes(key)
    agent = keras_agent_from_bytes(files["model.keras"])
    files.update(policy_files(agent))  # policy.npz + policy.json: acting without TensorFlow
    sweep = cost_sweep(
        agent,
        prepared.test,
        cfg.env,
        periods_per_year=periods_per_year,
        costs_bp=cfg.evaluation.cost_sweep_bp,
    )
    files["cost-sweep.png"] = plot_cost_sweep(
        sweep, title=f"{ticker} {last.candidate.id.label}: test window"
    )
    boundaries = {**prepared.boundaries, "folds": [f.boundaries for f in prepared.folds]}
    challenger_entry = {
        **last.candidate.id.json_dict(),
        "validation": challenger.validation,
        "folds": challenger.folds,
        "test": challenger.test,
    }
    card = {
        "ticker": ticker,
        "agent": last.candidate.id.agent,
        "seed": last.candidate.id.seed,
        "ensemble": last.candidate.id.ensemble,
        "reward": last.candidate.id.reward,
        "run_id": run_id,
        "code_version": __version__,
        "config": cfg.model_dump(mode="json"),
        "data": {
            "source": ingested.source,
            "sha256": ingested.sha256,
            "rows": len(ingested.frame),
            "boundaries": boundaries,
        },
        "features": list(prepared.feature_names),
        "window": cfg.env.window,
        "scaler": prepared.last.scaler,
        "metrics": {"validation": challenger.validation, "test": challenger.test},
        # The pooled validation returns: the out-of-sample record paper trading is judged by.
        "walk_forward": {
            "folds": challenger.folds,
            "pooled": challenger.validation,
            "returns": challenger.val_returns,
        },
        "gate": gate.json_dict(),
        "training": last.candidate.stats,
        "cost_sweep_test": sweep,
    }
    _stop_if_requested(store, run_id, ticker)
    version = registry.publish(ticker, last.candidate.id.agent, files, card)
    # The registry records every decision; a refused one moves nothing.
    promoted = registry.promote(
        ticker,
        version,
        decision={"promote": gate.promote, "reason": gate.reason, "gate": gate.json_dict()},
        expected_etag=champion.etag if champion is not None else None,
    )
    clear_staging(store, run_id, ticker)
    reason = gate.reason
    if gate.promote and not promoted:
        reason = "lost a race: another promotion moved the champion first"
    return Decision(
        ticker=ticker,
        promoted=promoted,
        reason=reason,
        challenger=challenger_entry,
        candidates=[
            {
                **fr.candidate.id.json_dict(),
                "validation": p.validation,
                "folds": p.folds,
                "test": p.test,
                "stats": fr.candidate.stats,
            }
            for fr, p in pooled
        ],
        baselines={
            name: {"validation": b.validation, "folds": b.folds, "test": b.test}
            for name, b in baselines.items()
        },
        gate=gate,
        champion_before=champion.version_id if champion is not None else None,
        champion_validation=champion_metrics,
        version=version.version_id,
        version_uri=version.uri,
        boundaries=boundaries,
        seed_summary=summarize_seeds(
            [
                {"agent": f"{fr.candidate.id.agent} ({fr.candidate.id.reward})", **p.model_dump()}
                for fr, p in pooled
                if not fr.candidate.id.ensemble  # the spread of single seeds
            ],
            samples=cfg.evaluation.bootstrap_samples,
            confidence=cfg.evaluation.confidence,
        ),
        cost_sweep_test=sweep,
        plots=sorted(name for name in files if name.endswith(".png")),
    )


def read_version_plots(decision: Decision, store: Any) -> dict[str, bytes]:
    """The PNG plots of a published version, checked against its model card."""
    from storage.registry import ModelRegistry

    registry = ModelRegistry(store)
    agent = decision.challenger["agent"]
    return {
        name: registry.read_file(decision.ticker, agent, decision.version, name)
        for name in decision.plots
    }
