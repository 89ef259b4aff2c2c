"""How much of the momentum rule's test return is the path's luck? Policies that know the generator.

The learning suite's momentum target is 80% of the sign rule's test return (long after an up
day). With AR(1) returns (phi 0.3, 1% daily sd) and 10 bp commission, the sign rule is close to,
but not the best of, the causal threshold policies: entering only above a move of ``k_in`` and
leaving only below ``k_out`` trades less for the same expected return. This script prints

1. each threshold policy's long-run figures on one long simulated path (the expectation), and
2. the same policies on the test window of ``synthetic.momentum`` seeds 0-3, scored by the
   project's own env and costs like the agents.

A policy at least as good as the rule in expectation that earns much less than the rule on a
path says the rule was lucky there: an agent cannot be expected to reach 80% of it.

3. (``--fits``) what the agent's own inputs allow: the next bar's return (x100, the learner's
   reward scale) fitted on the training window's observations (the default 8 features over the
   default 3 bars, scaled as the agent sees them) by least squares, ridge and lasso
   (scikit-learn), and by least squares on ``logret_1`` alone (the rule's own input, i.e. told
   the answer); each traded on the test window with the exact cost band: long above a predicted
   +commission, flat below -commission. No DQN noise in it: the best a linear policy of these
   inputs fitted on these bars does.

Usage::

    .venv/bin/python benchmarks/momentum_oracle.py [--bars 400000] [--paths 0,1,2,3] [--fits]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import synthetic

#: (enter above, leave below) the last close-to-close log return; (0, 0) is the sign rule.
THRESHOLDS = ((0.0, 0.0), (0.002, 0.0), (0.003, -0.003), (0.004, -0.002), (0.005, 0.0))


def positions(r: np.ndarray, k_in: float, k_out: float) -> np.ndarray:
    """1 long / 0 flat per bar, decided at the close of the bar from its own return."""
    out = np.zeros(len(r), np.int8)
    held = 0
    for t, x in enumerate(r):
        if held == 0 and x > k_in:
            held = 1
        elif held == 1 and x < k_out:
            held = 0
        out[t] = held
    return out


def long_run(bars: int, seed: int = 5, phi: float = 0.3, vol: float = 0.01, cost: float = 0.001):
    """Per policy: (log return a year, trades a year, Sharpe) on one long AR(1) path (the momentum
    generator's returns; too many bars for its dated frame)."""
    r = synthetic.ar1_returns(np.random.default_rng(seed), bars, phi=phi, vol=vol)
    years = bars / 252
    rows = []
    for k_in, k_out in THRESHOLDS:
        pos = positions(r, k_in, k_out)
        trades = np.abs(np.diff(np.r_[0, pos]))
        daily = pos[:-1] * r[1:] - cost * trades[1:]
        rows.append(
            (daily.sum() / years, trades.sum() / years, daily.mean() / daily.std() * 252**0.5)
        )
    return rows


def on_paths(paths: list[int]) -> list[tuple[int, list[tuple[float, int]]]]:
    """Per generator seed: each policy's (test return, trades) in the project's env."""
    from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
    from tradeforge.evaluation import evaluate
    from tradeforge.features import prepare

    env = EnvConfig()
    out = []
    for seed in paths:
        frame = synthetic.make("momentum", seed)
        prep = prepare(frame, FeatureConfig(), SplitConfig(folds=1, gap=0), env.window)
        r = np.log(frame["close"]).diff().fillna(0.0).to_numpy()
        row = []
        for k_in, k_out in THRESHOLDS:
            actions = synthetic.rule_actions(positions(r, k_in, k_out), frame, prep.test)
            m = evaluate(actions, prep.test, env, periods_per_year=252).metrics
            row.append((float(m["total_return"]), int(m["trades"])))
        out.append((seed, row))
    return out


#: Linear fits of section 3: label -> (scikit-learn estimator factory given the bars, inputs).
def _fitters(n: int) -> dict[str, tuple[object, str]]:
    from sklearn.linear_model import Lasso, LinearRegression, Ridge

    return {
        "least squares": (LinearRegression(), "all"),
        "ridge (0.25 n)": (Ridge(alpha=0.25 * n), "all"),
        "lasso (0.01)": (Lasso(alpha=0.01, max_iter=20_000), "all"),
        "least squares, logret_1 only": (LinearRegression(), "logret_1"),
    }


def observations(market, window: int) -> np.ndarray:
    """The feature part of the agent's observation at each step (bars t-window+1 .. t)."""
    f = market.features
    lags = [f[market.start - lag : market.end - 1 - lag] for lag in range(window)]
    return np.concatenate(lags, axis=1)


def linear_fits(paths: list[int]) -> tuple[list[str], list[tuple[int, float, list[tuple]]]]:
    """Per generator seed: the rule's test return and each fit's (test return, trades)."""
    from tradeforge.config import EnvConfig, FeatureConfig, SplitConfig
    from tradeforge.evaluation import evaluate
    from tradeforge.features import prepare

    env, features = EnvConfig(), FeatureConfig()
    scale = 100.0  # DQNConfig.reward_scale: the cost band in the same units
    out, labels = [], []
    for seed in paths:
        frame = synthetic.make("momentum", seed)
        prep = prepare(frame, features, SplitConfig(folds=1, gap=0), env.window)
        train, test = prep.train, prep.test
        x, x_test = observations(train, env.window), observations(test, env.window)
        y = scale * np.log(
            train.close[train.start + 1 : train.end] / train.close[train.start : train.end - 1]
        )
        r = np.log(frame["close"]).diff().fillna(0.0).to_numpy()
        rule_actions = synthetic.rule_actions(positions(r, 0.0, 0.0), frame, test)
        rule = evaluate(rule_actions, test, env, periods_per_year=252).metrics["total_return"]
        one = [features.features.index("logret_1")]
        row = []
        fitters = _fitters(len(y))
        labels = list(fitters)
        for model, inputs in fitters.values():
            cols = one if inputs == "logret_1" else slice(None)
            model.fit(x[:, cols], y)
            # the exact one-step cost band: in above +cost, out below -cost
            cost = scale * env.commission
            actions = positions(model.predict(x_test[:, cols]), cost, -cost)
            m = evaluate(actions, test, env, periods_per_year=252).metrics
            row.append((float(m["total_return"]), int(m["trades"])))
        out.append((seed, float(rule), row))
    return labels, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bars", type=int, default=400_000, help="length of the long simulated path")
    p.add_argument("--paths", default="0,1,2,3", help="synthetic.momentum seeds to score")
    p.add_argument(
        "--fits", action="store_true", help="also: linear fits on the agent's inputs (section 3)"
    )
    args = p.parse_args()
    names = [f"in {a:.1%} / out {b:+.1%}" for a, b in THRESHOLDS]
    print(f"long run ({args.bars:,} bars, 10 bp): log return a year, trades a year, Sharpe")
    for name, (ret, trades, sharpe) in zip(names, long_run(args.bars), strict=True):
        print(f"  {name:22s} {ret:.3f}  {trades:4.0f}  {sharpe:.2f}")
    print("\ntest window (the project's env and costs): total return (trades); share of the rule")
    print("| path | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for seed, row in on_paths([int(s) for s in args.paths.split(",")]):
        rule = row[0][0]
        cells = [
            f"{ret:+.1%} ({n})" + (f", {ret / rule:.0%}" if rule > 0 and i else "")
            for i, (ret, n) in enumerate(row)
        ]
        print(f"| momentum:{seed} | " + " | ".join(cells) + " |")
    if not args.fits:
        return
    labels, fits = linear_fits([int(s) for s in args.paths.split(",")])
    print("\nlinear fits on the agent's inputs, exact cost band: test return (trades); share")
    print("| path | rule | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for seed, rule, row in fits:
        cells = [
            f"{ret:+.1%} ({n})" + (f", {ret / rule:.0%}" if rule > 0 else "") for ret, n in row
        ]
        print(f"| momentum:{seed} | {rule:+.1%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
