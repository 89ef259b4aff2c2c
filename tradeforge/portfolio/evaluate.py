"""Portfolio evaluation and the gate (issue 27): candidates and baselines on pooled
walk-forward validation, the existing deflated-PSR gate, and the test window reported only.

Each candidate (agent kind, seed) is trained on every fold's training bars and scored on that
fold's validation stretch; the pooled validation returns select the challenger and feed
``tradeforge.promotion.gate.decide`` (the project's gate, called through its public function
unchanged) against cash, 1/N and the universe's champion when there is one. The final test window is scored by the last fold's model and
by the baselines fitted on the last fold's training bars; it is reported, never used to choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeforge.config import DQNConfig, EnvConfig, ParallelConfig, PortfolioConfig, PromotionConfig
from tradeforge.evaluation.metrics import compute_metrics
from tradeforge.portfolio.market import PortfolioFold, PortfolioPrepared
from tradeforge.portfolio.simulator import PortfolioEpisode, run_weights

#: The benchmarks every challenger must beat on the pooled validation bars (and the universe's
#: champion, re-scored on the same bars, when there is one).
GATE_BENCHMARKS = ("cash", "equal_weight")


@dataclass(frozen=True)
class Curve:
    """One policy's episode over one window, as plain arrays (cheap to pass between tasks)."""

    net_worth: np.ndarray
    turnover: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray

    @classmethod
    def of(cls, episode: PortfolioEpisode) -> Curve:
        return cls(episode.net_worth, episode.turnover, episode.weights, episode.timestamps)

    @property
    def returns(self) -> np.ndarray:
        """Per-step simple returns after costs."""
        return self.net_worth[1:] / self.net_worth[:-1] - 1.0


@dataclass(frozen=True)
class CandidateFold:
    """A candidate's scores on one fold: its validation curve, and the test curve (last fold)."""

    agent: str
    seed: int
    fold: int
    validation: Curve
    test: Curve | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    model: bytes | None = None
    """The trained ``.keras`` file (last fold only): what promotion publishes."""


def train_and_score(
    agent: str,
    seed: int,
    fold: PortfolioFold,
    env: EnvConfig,
    dqn: DQNConfig,
    parallel: ParallelConfig,
    portfolio: PortfolioConfig,
    *,
    test: bool,
    work_dir: str | None = None,
    run_id: str = "local",
    **options: Any,
) -> CandidateFold:
    """Train one allocator on ``fold``'s training bars and score it greedily on its validation
    stretch (and on the test window when ``test``).

    With ``work_dir``, as a single-ticker training (``tradeforge.training.run_dirs``): checkpoints
    and TensorBoard scalars under ``<work_dir>/<run_id>/.../portfolio/<name>/<agent>/...``; the
    same run's training of this candidate and fold started again (``--run.resume``) resumes
    from its last checkpoint (``stats["resumed_from"]``); the checkpoints are removed once it
    is trained."""
    import shutil

    from tradeforge.portfolio.allocator import evaluate_allocator, train_allocator
    from tradeforge.records import CandidateId
    from tradeforge.training import run_dirs

    dirs = None
    if work_dir is not None:
        cid = CandidateId(agent=agent, seed=seed, reward=env.reward)
        dirs = run_dirs(work_dir, run_id, f"portfolio/{portfolio.universe_name}", cid, fold.index)
        options |= {"checkpoint_dir": str(dirs.checkpoints), "log_dir": str(dirs.tensorboard)}
    result = train_allocator(agent, fold.train, env, dqn, parallel, seed, **options)
    if dirs is not None:
        shutil.rmtree(dirs.checkpoints, ignore_errors=True)  # trained: nothing left to resume
    kw = {"allocation": portfolio.allocation, "vol_lookback": portfolio.vol_lookback}
    val = Curve.of(evaluate_allocator(result.agent, fold.val, env, **kw))
    tested = Curve.of(evaluate_allocator(result.agent, fold.test, env, **kw)) if test else None
    keep = ("steps", "seconds", "action_augmentation", "resumed_from")
    stats = {k: result.stats.get(k) for k in keep}
    model = None
    if test:  # the last fold's model is the one a promotion publishes
        from tradeforge.portfolio.champion import keras_bytes

        model = keras_bytes(result.agent)
    return CandidateFold(agent, seed, fold.index, val, tested, stats, model)


def score_baselines(
    prepared: PortfolioPrepared, env: EnvConfig, portfolio: PortfolioConfig
) -> list[dict[str, Curve]]:
    """Per fold, every baseline's validation curve; the last entry also the test curves
    (``"<name>@test"``), fitted on the last fold's training bars."""
    from tradeforge.portfolio.baselines import baseline_weights

    kw = {"momentum_lookback": portfolio.momentum_lookback, "momentum_k": portfolio.momentum_top_k}
    out = []
    for fold in prepared.folds:
        curves = {
            name: Curve.of(run_weights(w, fold.val, env))
            for name, w in baseline_weights(fold.train, fold.val, **kw).items()
        }
        out.append(curves)
    last = prepared.last
    for name, w in baseline_weights(last.train, last.test, **kw).items():
        out[-1][f"{name}@test"] = Curve.of(run_weights(w, last.test, env))
    return out


def curve_metrics(curves: list[Curve], periods_per_year: int) -> dict[str, float]:
    """The project's metrics of curves chained end to end (pooled folds: returns concatenated),
    with turnover as the summed per-step turnover (1.0 = the whole portfolio traded once)."""
    returns = np.concatenate([c.returns for c in curves])
    net_worth = np.r_[1.0, np.cumprod(1.0 + returns)]
    weights = np.concatenate([c.weights for c in curves])
    turnover = np.concatenate([c.turnover for c in curves])
    exposure = np.r_[0.0, weights.sum(axis=1)]
    out = compute_metrics(
        net_worth,
        exposure,
        trades=int((turnover > 1e-12).sum()),
        turnover=float(turnover.sum()),
        periods_per_year=periods_per_year,
    )
    return {k: round(float(v), 6) for k, v in out.items()}


def sharpe_difference(a: np.ndarray, b: np.ndarray, periods_per_year: int) -> dict[str, float]:
    """Ledoit & Wolf (2008) HAC test of ``SR_a - SR_b`` on paired returns, the gate's own
    (``significance.sharpe_difference``), reported as the annualised difference, its standard
    error and the two-sided p-value. Too few bars or a flat benchmark: no evidence either way."""
    from tradeforge.evaluation.significance import sharpe_difference as paired_difference

    x, z = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) < 10 or float(np.var(z)) <= 0.0:
        return {"difference": 0.0, "standard_error": math.inf, "p_value": 1.0}
    d = paired_difference(x, z)
    p = math.erfc(abs(d.difference) / d.se / math.sqrt(2)) if d.se > 0.0 else 1.0
    scale = math.sqrt(periods_per_year)
    return {
        "difference": round(d.difference * scale, 6),
        "standard_error": round(d.se * scale, 6),
        "p_value": round(p, 6),
    }


def decide_portfolio(
    candidates: list[CandidateFold],
    baselines: list[dict[str, Curve]],
    promotion: PromotionConfig,
    periods_per_year: int,
    champion: list[Curve] | None = None,
) -> dict[str, Any]:
    """Select the candidate with the best pooled validation Sharpe, gate it against cash, 1/N
    and ``champion`` (its validation curve per fold, on the same bars) with the project's
    deflated-PSR gate, and report every baseline on validation and test."""
    by_candidate: dict[tuple[str, int], list[CandidateFold]] = {}
    for c in sorted(candidates, key=lambda c: c.fold):
        by_candidate.setdefault((c.agent, c.seed), []).append(c)
    folds = len(baselines)
    pooled = {
        key: np.concatenate([f.validation.returns for f in runs])
        for key, runs in by_candidate.items()
        if len(runs) == folds
    }
    if not pooled:
        raise ValueError(f"no candidate was scored on all {folds} folds")
    rows = {
        key: curve_metrics([f.validation for f in by_candidate[key]], periods_per_year)
        for key in pooled
    }
    best = max(pooled, key=lambda key: (rows[key]["sharpe"], -pooled[key].std()))
    names = [n for n in baselines[0] if "@" not in n]
    base_val = {n: np.concatenate([b[n].returns for b in baselines]) for n in names}
    benchmarks = {n: base_val[n] for n in GATE_BENCHMARKS}
    champion_row = None
    if champion is not None:
        benchmarks["champion"] = np.concatenate([c.returns for c in champion])
        if len(benchmarks["champion"]) != len(pooled[best]):
            raise ValueError(
                f"champion scored on {len(benchmarks['champion'])} validation bars, the "
                f"challenger on {len(pooled[best])}: not the same bars"
            )
        champion_row = curve_metrics(champion, periods_per_year)
    # What the gate receives, as plain lists: the model card keeps it (not the run summary), so
    # a later gate can re-judge the same trained candidates (benchmarks/portfolio_suite.py).
    gate_inputs = {
        "challenger_returns": pooled[best].tolist(),
        "benchmarks": {n: np.asarray(r).tolist() for n, r in benchmarks.items()},
        "trial_sharpes": [rows[k]["sharpe"] for k in pooled],
        "trial_returns": [pooled[k].tolist() for k in pooled],
        "max_drawdown": rows[best]["max_drawdown"],
        "periods_per_year": periods_per_year,
    }
    gate = judge(gate_inputs, promotion)
    test_curve = by_candidate[best][-1].test
    challenger = {
        "agent": best[0],
        "seed": best[1],
        "validation": rows[best],
        "test": curve_metrics([test_curve], periods_per_year) if test_curve else None,
    }
    baseline_rows = {
        n: {
            "validation": curve_metrics([b[n] for b in baselines], periods_per_year),
            "test": curve_metrics([baselines[-1][f"{n}@test"]], periods_per_year),
        }
        for n in names
    }
    return {
        "promoted": gate.promote,
        "reason": gate.reason,
        "challenger": challenger,
        "candidates": [
            {"agent": k[0], "seed": k[1], "validation": rows[k]} for k in sorted(pooled)
        ],
        "baselines": baseline_rows,
        "champion_validation": champion_row,
        "sharpe_difference_vs_equal_weight": {
            "validation": sharpe_difference(
                pooled[best], base_val["equal_weight"], periods_per_year
            ),
            "test": sharpe_difference(
                test_curve.returns, baselines[-1]["equal_weight@test"].returns, periods_per_year
            )
            if test_curve
            else None,
        },
        "gate": gate.model_dump(mode="json"),
        "gate_inputs": gate_inputs,
    }


def judge(inputs: dict[str, Any], promotion: PromotionConfig) -> Any:
    """The project's gate (``tradeforge.promotion.gate.decide``) on recorded ``gate_inputs``
    (``decide_portfolio``'s, kept in the model card): the run's decision, or a later gate's on
    the same trained candidates."""
    from tradeforge.promotion.gate import decide

    trials = inputs["trial_returns"]
    return decide(
        inputs["challenger_returns"],
        inputs["benchmarks"],
        inputs["trial_sharpes"],
        inputs["max_drawdown"],
        promotion,
        inputs["periods_per_year"],
        trial_returns=trials if len(trials) > 1 else None,
    )
