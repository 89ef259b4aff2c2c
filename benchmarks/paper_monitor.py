"""Does the paper monitor demote a champion whose edge broke, and leave a sound one alone?

Synthetic markets with a known structure (``benchmarks/synthetic.py``) are traded by each one's
reference rule through the project's own simulator (``run_episode``: next-open fills, 10 bp
commission). The rule's returns on 500 bars before live trading are the champion's validation
record; the monitor (``tradeforge.paper.monitor``) then judges the live returns bar by bar:

- broken markets, whose structure changes at a known bar 126 bars into live trading:
  ``momentum_flip`` (AR(1) coefficient +0.5 -> -0.5: the rule now loses) and
  ``meanrev_to_rw`` (the mean-reverting deviation stops: a random walk of the same volatility).
  Measured: the detection delay (returns earned after the break until the demotion), whether
  the demotion came before the live drawdown passed twice the validation maximum, and
  demotions before the break (false ones).
- stable markets (``momentum``, ``mean_reversion``, ``regimes``): 504 live bars with the
  structure intact. Measured: demotions per 252 live bars.

Targets (issue 25): median detection delay <= 60 bars, demoted before twice the validation
maximum drawdown, false demotions <= 5% per 252 bars over >= 20 paths.

Usage::

    .venv/bin/python benchmarks/paper_monitor.py --json             # 25 paths per market
    .venv/bin/python benchmarks/paper_monitor.py --paths 5

The last stdout line (``--json``) is one JSON object with ``median_detection_delay_bars``,
``false_demotion_rate`` and ``paths``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import synthetic  # noqa: E402

VALIDATION_BARS = 500
LIVE_BEFORE_BREAK = 126
LIVE_AFTER_BREAK = 252
STABLE_LIVE = 504
DELAY_TARGET = 60
FALSE_RATE_TARGET = 0.05
DRAWDOWN_MULTIPLE = 2.0
BROKEN = ("momentum_flip", "meanrev_to_rw")
STABLE = ("momentum", "mean_reversion", "regimes")


#: The markets' strengths: strong edges (the rules' Sharpe ~0.25-0.3 a bar), because detecting
#: a change of mean of d standard deviations within 60 bars at a few false alarms a year needs
#: d of about 0.5 (a CUSUM's delay is about 2 ln(ARL0) / d^2 bars; Lorden 1971); the
#: learning suite's default strengths (Sharpe ~0.1 a bar) lose d ~0.1-0.35 at their breaks.
MOMENTUM = {"phi": 0.5, "vol": 0.01}
MEAN_REVERSION = {"rho": 0.3, "noise": 0.001, "dev_vol": 0.015}
STABLE_PARAMS = {"momentum": MOMENTUM, "mean_reversion": MEAN_REVERSION, "regimes": {}}


def broken_frame(name: str, seed: int, n: int, at: int) -> tuple[pd.DataFrame, Any]:
    """A market whose structure changes at bar ``at``, and the rule that exploited it."""
    rng = np.random.default_rng([seed, 25])
    if name == "momentum_flip":
        r = np.r_[
            synthetic.ar1_returns(rng, at, **MOMENTUM),
            synthetic.ar1_returns(rng, n - at, phi=-MOMENTUM["phi"], vol=MOMENTUM["vol"]),
        ]
        return synthetic._frame(r, rng, f"FLIP{seed}"), synthetic.last_return_rule
    if name == "meanrev_to_rw":
        before = synthetic.mean_reversion(seed, at, **MEAN_REVERSION)
        r = np.diff(np.log(before["close"].to_numpy()), prepend=np.log(100.0))
        vol = float(np.std(r[1:]))
        after = rng.normal(0.0002, vol, n - at)
        return synthetic._frame(np.r_[r, after], rng, f"MRRW{seed}"), synthetic.below_sma_rule
    raise ValueError(name)


def rule_returns(frame: pd.DataFrame, rule: Any) -> np.ndarray:
    """Net returns of the rule's positions, step by step, by the project's simulator: entry ``i``
    is the step from bar ``i`` to ``i + 1`` (decided on bar ``i``)."""
    from tradeforge.config import EnvConfig
    from tradeforge.envs.episode import run_episode
    from tradeforge.envs.market import MarketData

    n = len(frame)
    ts = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    market = MarketData(
        ts,
        np.zeros((n, 1), np.float32),
        frame["open"].to_numpy(np.float64),
        frame["close"].to_numpy(np.float64),
        ("none",),
        0,
        n,
        str(frame["ticker"].iloc[0]),
    )
    actions = np.nan_to_num(rule(frame)).astype(np.int8)[: n - 1]
    return run_episode(actions, market, EnvConfig(window=1)).returns


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of the equity curve of ``returns`` (starting at 1), as a fraction."""
    from tradeforge.paper.monitor import drawdown_paths

    return float(drawdown_paths(np.asarray(returns)[None, :])[0, -1]) if len(returns) else 0.0


def broken_path(name: str, seed: int) -> dict[str, Any]:
    """One broken market: where the monitor demoted, relative to the break."""
    from tradeforge.paper.monitor import first_alarm

    live0 = 100 + VALIDATION_BARS  # warm-up for the rules' SMAs, then the validation record
    at = live0 + LIVE_BEFORE_BREAK
    frame, rule = broken_frame(name, seed, at + LIVE_AFTER_BREAK + 1, at)
    r = rule_returns(frame, rule)
    validation, live = r[100:live0], r[live0 : at + LIVE_AFTER_BREAK]
    alarm = first_alarm(validation, live)
    # The first live return that the new structure makes: the step decided on bar at - 1.
    first_broken = at - 1 - live0
    val_mdd = max_drawdown(validation)
    out: dict[str, Any] = {"market": name, "seed": seed, "validation_max_drawdown": val_mdd}
    if alarm is None:
        return out | {"detected": False, "false_demotion": False, "delay": None}
    if alarm <= first_broken:
        return out | {"detected": False, "false_demotion": True, "delay": None, "alarm": alarm}
    mdd = max_drawdown(live[:alarm])
    return out | {
        "detected": True,
        "false_demotion": False,
        "delay": alarm - first_broken,
        "live_drawdown_at_demotion": mdd,
        "within_drawdown_target": mdd <= DRAWDOWN_MULTIPLE * val_mdd,
    }


def stable_path(name: str, seed: int) -> dict[str, Any]:
    """One stable market: was the sound champion demoted, and after how many live bars?"""
    from tradeforge.paper.monitor import first_alarm

    live0 = 100 + VALIDATION_BARS
    frame = synthetic.make(name, seed, n=live0 + STABLE_LIVE + 1, **STABLE_PARAMS[name])
    r = rule_returns(frame, synthetic.MARKETS[name].rule)
    alarm = first_alarm(r[100:live0], r[live0 : live0 + STABLE_LIVE])
    return {
        "market": name,
        "seed": seed,
        "demoted": alarm is not None,
        "bars_monitored": STABLE_LIVE if alarm is None else alarm,
    }


def summarise(broken: list[dict[str, Any]], stable: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the issue's targets are stated in."""
    delays = [p["delay"] for p in broken if p["detected"]]
    demotions = sum(p["demoted"] for p in stable) + sum(p["false_demotion"] for p in broken)
    # False demotions per 252 bars of live trading on sound structure (before the breaks too).
    sound_bars = sum(p["bars_monitored"] for p in stable) + LIVE_BEFORE_BREAK * len(broken)
    rate = demotions / sound_bars * 252 if sound_bars else 0.0
    within = [p["within_drawdown_target"] for p in broken if p["detected"]]
    median = float(np.median(delays)) if delays else None
    return {
        "median_detection_delay_bars": median,
        "detection_delay_p90_bars": float(np.quantile(delays, 0.9)) if delays else None,
        "detected_share": len(delays) / len(broken) if broken else None,
        "demoted_before_2x_validation_drawdown_share": float(np.mean(within)) if within else None,
        "false_demotion_rate": rate,
        "false_demotions": demotions,
        "paths": len(broken) + len(stable),
        "broken_paths": len(broken),
        "stable_paths": len(stable),
        "per_market": {
            name: _market_line([p for p in broken + stable if p["market"] == name])
            for name in (*BROKEN, *STABLE)
        },
        "targets_met": bool(
            median is not None
            and median <= DELAY_TARGET
            and all(within)
            and len(delays) == len(broken)
            and rate <= FALSE_RATE_TARGET
        ),
    }


def _market_line(paths: list[dict[str, Any]]) -> dict[str, Any]:
    if not paths:
        return {}
    if "delay" in paths[0]:
        delays = [p["delay"] for p in paths if p["detected"]]
        return {
            "paths": len(paths),
            "detected": len(delays),
            "median_delay": float(np.median(delays)) if delays else None,
            "false_demotions": sum(p["false_demotion"] for p in paths),
        }
    return {"paths": len(paths), "demoted": sum(p["demoted"] for p in paths)}


def main(argv: list[str] | None = None) -> int:
    """Run the paths, print a table and (``--json``) the summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=25, help="Seeds per market (default 25).")
    parser.add_argument("--json", action="store_true", help="Print the summary as JSON last.")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    broken = [broken_path(name, seed) for name in BROKEN for seed in range(args.paths)]
    stable = [stable_path(name, seed) for name in STABLE for seed in range(args.paths)]
    out = summarise(broken, stable) | {"seconds": round(time.perf_counter() - began, 1)}
    print(f"{'market':<16} {'paths':>5}  result")
    for name, line in out["per_market"].items():
        print(f"{name:<16} {line.get('paths', 0):>5}  {json.dumps(line)}")
    print(
        f"median detection delay {out['median_detection_delay_bars']} bars (target <= "
        f"{DELAY_TARGET}); demoted before 2x validation drawdown "
        f"{out['demoted_before_2x_validation_drawdown_share']}; false demotions "
        f"{out['false_demotion_rate']:.3f} per 252 bars (target <= {FALSE_RATE_TARGET}); "
        f"{out['paths']} paths in {out['seconds']} s"
    )
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
