"""Evaluation stage: each fold's model on its validation stretch, pooled; baselines on the same bars.

Selection and the promotion gate read the validation returns pooled over the walk-forward
folds; the test window is evaluated for the last fold's model only (the one that is published)
and is reported, never used to choose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeforge.config import EnvConfig, EvalConfig
from tradeforge.records import Candidate, FoldResult, Metrics, PolicyResult


def load_staged_agent(store: Any, key: str) -> Any:
    """A ``QAgent`` from a staged ``.keras`` file (Keras safe mode; never unpickled)."""
    from tradeforge.artifact import keras_agent_from_bytes

    return keras_agent_from_bytes(store.get_bytes(key))


def evaluate_fold(
    candidate: Candidate,
    prepared: Any,
    env: EnvConfig,
    evaluation: EvalConfig,
    periods_per_year: int,
    store: Any,
    run_id: str,
) -> FoldResult:
    """Greedy metrics of a staged model on its fold's validation stretch (and test, last fold)."""
    from tradeforge.evaluation import evaluate, plot_equity
    from tradeforge.interrupt import check
    from tradeforge.training import staging_key

    check(f"evaluate {candidate.ticker} {candidate.id.label} fold {candidate.fold}")
    fold = prepared.folds[candidate.fold]
    agent = load_staged_agent(store, candidate.model_key)
    val = evaluate(agent, fold.val, env, periods_per_year=periods_per_year)
    test = None
    plots: dict[str, str] = {}
    if candidate.fold == len(prepared.folds) - 1:
        test = evaluate(agent, fold.test, env, periods_per_year=periods_per_year)
        if evaluation.plots:
            for split, result, market in (("validation", val, fold.val), ("test", test, fold.test)):
                title = f"{candidate.ticker} {candidate.id.label} - {split}"
                key = staging_key(
                    run_id, candidate.ticker, candidate.id, fold.index, f"equity-{split}.png"
                )
                store.put_bytes(key, plot_equity(result, market, env, title=title))
                plots[split] = key
    return FoldResult(
        candidate=candidate,
        validation=val.metrics,
        val_returns=[float(r) for r in val.episode.returns],
        test=None if test is None else test.metrics,
        plots=plots,
    )


def ensemble_fold(
    members: list[Candidate],
    prepared: Any,
    env: EnvConfig,
    evaluation: EvalConfig,
    periods_per_year: int,
    store: Any,
    run_id: str,
) -> FoldResult:
    """The seed ensemble of ``members`` (one agent kind and reward, one fold, several seeds):
    Q-values averaged, staged as one ``.keras`` file and evaluated like any candidate."""
    from tradeforge.agents import QAgent
    from tradeforge.interrupt import check
    from tradeforge.training import stage_agent, staging_key

    first = members[0]
    check(f"ensemble {first.ticker} {first.id.agent} fold {first.fold}")
    if len({(m.ticker, m.id.agent, m.id.reward, m.fold) for m in members}) != 1:
        raise ValueError("ensemble_fold: members must share ticker, agent, reward and fold")
    cid = first.id.model_copy(update={"seed": -1, "ensemble": len(members)})
    ensemble = QAgent.ensemble([load_staged_agent(store, m.model_key) for m in members])
    key = stage_agent(
        store, ensemble, staging_key(run_id, first.ticker, cid, first.fold, "model.keras")
    )
    candidate = Candidate(
        ticker=first.ticker,
        id=cid,
        fold=first.fold,
        model_key=key,
        stats={"members": ", ".join(str(m.id.seed) for m in members)},
    )
    return evaluate_fold(candidate, prepared, env, evaluation, periods_per_year, store, run_id)


def pooled_metrics(
    folds: list[Metrics], returns: list[list[float]], periods_per_year: int
) -> Metrics:
    """Metrics of the validation returns chained over the folds (one out-of-sample curve).

    Trades and turnover add up over the folds; exposure is the step-weighted mean.
    """
    from tradeforge.evaluation.metrics import compute_metrics

    r = np.concatenate([np.asarray(x, dtype=np.float64) for x in returns])
    net_worth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    steps = np.array([len(x) for x in returns], dtype=np.float64)
    exposure = float(np.dot([f["exposure"] for f in folds], steps) / steps.sum())
    metrics = compute_metrics(
        net_worth,
        np.zeros(len(net_worth)),
        trades=int(sum(f["trades"] for f in folds)),
        turnover=float(sum(f["turnover"] for f in folds)),
        periods_per_year=periods_per_year,
    )
    return {**metrics, "exposure": exposure}


def pool_candidate(results: list[FoldResult], periods_per_year: int) -> PolicyResult:
    """One candidate's fold results -> its pooled validation figures and the last fold's test."""
    ordered = sorted(results, key=lambda r: r.candidate.fold)
    last = ordered[-1]
    if last.test is None:
        raise ValueError(f"{last.candidate.id.label}: the last fold's result has no test metrics")
    folds = [r.validation for r in ordered]
    returns = [r.val_returns for r in ordered]
    return PolicyResult(
        name=last.candidate.id.label,
        validation=pooled_metrics(folds, returns, periods_per_year),
        folds=folds,
        test=last.test,
        val_returns=[x for r in returns for x in r],
    )


def baseline_results(
    prepared: Any, env: EnvConfig, evaluation: EvalConfig, periods_per_year: int
) -> dict[str, PolicyResult]:
    """Buy-and-hold, cash, random and SMA crossover on every fold's validation bars and the test."""
    from tradeforge.evaluation import baselines

    per_fold = [
        baselines(fold.val, env, evaluation, periods_per_year=periods_per_year)
        for fold in prepared.folds
    ]
    test = baselines(prepared.test, env, evaluation, periods_per_year=periods_per_year)
    out = {}
    for name in test:
        folds = [f[name].metrics for f in per_fold]
        returns = [[float(x) for x in f[name].episode.returns] for f in per_fold]
        out[name] = PolicyResult(
            name=name,
            validation=pooled_metrics(folds, returns, periods_per_year),
            folds=folds,
            test=test[name].metrics,
            val_returns=[x for r in returns for x in r],
        )
    return out
