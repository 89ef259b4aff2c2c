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

Seeds: the report runs seeds ``--seed-offset`` .. ``+ --paths - 1`` (default 0..99: 100 per
market, 500 paths), the benchmark's own. The monitor's thresholds were chosen with ``--tune`` on
a separate range (``--seed-offset 1000 --paths 80``), which refuses to run on the report seeds:
the reported figures were never tuned on. Round 4's rule, fixed before its grid ran: among the
``TUNE_GRID`` settings with a tuning false-demotion rate <= ``TUNE_FALSE_RATE`` (0.042) and a
median delay <= ``TUNE_DELAY`` (55 bars), margins below the targets, the most broken paths
demoted before twice the validation drawdown (``best``); the report seeds 0..99 were fixed
before the chosen defaults' first report run, which is reported as it came. Uncertainty:
Clopper-Pearson 95% intervals for shares, Garwood (exact Poisson) 95% intervals for the
false-demotion rate. ``late_demotions`` says how each champion demoted past twice its
validation drawdown got there (the bar that crossed, the drawdown before it, that bar's loss).

Usage::

    nice -n 10 .venv/bin/python benchmarks/paper_monitor.py --json  # the report: 100 per market
    .venv/bin/python benchmarks/paper_monitor.py --paths 5
    .venv/bin/python benchmarks/paper_monitor.py --tune --seed-offset 1000 --paths 80
    .venv/bin/python benchmarks/paper_monitor.py --monitor '{"bar_headroom": 0}'

The last stdout line (``--json``) is one JSON object with ``median_detection_delay_bars``,
``false_demotion_rate`` and ``paths``.
"""

from __future__ import annotations

import argparse
import itertools
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


def market_paths(seeds: range) -> list[dict[str, Any]]:
    """Each market's validation and live returns for ``seeds``: broken markets, then stable."""
    live0 = 100 + VALIDATION_BARS  # warm-up for the rules' SMAs, then the validation record
    out = []
    for name in BROKEN:
        for seed in seeds:
            at = live0 + LIVE_BEFORE_BREAK
            frame, rule = broken_frame(name, seed, at + LIVE_AFTER_BREAK + 1, at)
            r = rule_returns(frame, rule)
            # The first live return that the new structure makes: the step decided on bar at-1.
            out.append(
                {
                    "market": name,
                    "seed": seed,
                    "validation": r[100:live0],
                    "live": r[live0 : at + LIVE_AFTER_BREAK],
                    "first_broken": at - 1 - live0,
                }
            )
    for name in STABLE:
        for seed in seeds:
            frame = synthetic.make(name, seed, n=live0 + STABLE_LIVE + 1, **STABLE_PARAMS[name])
            r = rule_returns(frame, synthetic.MARKETS[name].rule)
            out.append(
                {
                    "market": name,
                    "seed": seed,
                    "validation": r[100:live0],
                    "live": r[live0 : live0 + STABLE_LIVE],
                }
            )
    return out


def monitorable(paths: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The paths the monitor can judge, and the names of those it cannot: a rule that never
    traded in its validation record has returns that do not vary (``reference`` refuses it,
    as ``monitor_champion`` would)."""
    keep = [p for p in paths if np.std(p["validation"]) > 1e-12]
    return keep, [f"{p['market']}:{p['seed']}" for p in paths if np.std(p["validation"]) <= 1e-12]


def judged(path: dict[str, Any], alarm: int | None) -> dict[str, Any]:
    """A path's outcome given the live bar (1-based) the monitor demoted on, or None."""
    name, seed, live = path["market"], path["seed"], path["live"]
    if "first_broken" not in path:
        return {
            "market": name,
            "seed": seed,
            "demoted": alarm is not None,
            "bars_monitored": len(live) if alarm is None else alarm,
        }
    first_broken = path["first_broken"]
    val_mdd = max_drawdown(path["validation"])
    out: dict[str, Any] = {"market": name, "seed": seed, "validation_max_drawdown": val_mdd}
    if alarm is None:
        return out | {"detected": False, "false_demotion": False, "delay": None}
    if alarm <= first_broken:
        return out | {"detected": False, "false_demotion": True, "delay": None, "alarm": alarm}
    mdd = max_drawdown(path["live"][:alarm])
    within = mdd <= DRAWDOWN_MULTIPLE * val_mdd
    return out | {
        "detected": True,
        "false_demotion": False,
        "delay": alarm - first_broken,
        "live_drawdown_at_demotion": mdd,
        "within_drawdown_target": within,
        **({} if within else {"crossing": crossing(path, val_mdd, alarm)}),
    }


def crossing(path: dict[str, Any], val_mdd: float, alarm: int) -> dict[str, Any]:
    """How a champion demoted late passed twice its validation drawdown: the live bar (1-based)
    that crossed, the drawdown before it and at the demotion (multiples of the validation
    maximum), and that bar's loss as a multiple of the validation's worst bar."""
    from tradeforge.paper.monitor import drawdown_paths

    live = np.asarray(path["live"][:alarm])
    dd = drawdown_paths(live[None, :])[0] / val_mdd
    bar = int(np.flatnonzero(dd > DRAWDOWN_MULTIPLE)[0])
    worst = -float(np.min(path["validation"]))
    return {
        "seed": path["seed"],
        "alarm": alarm,
        "crossed_on": bar + 1,
        "drawdown_before": round(float(dd[bar - 1]) if bar else 0.0, 3),
        "drawdown_at_demotion": round(float(dd[-1]), 3),
        "bar_loss_vs_worst_validation_bar": round(-float(live[bar]) / worst, 3),
    }


def share_interval(hits: int, n: int) -> list[float] | None:
    """Clopper-Pearson 95% interval of a share ``hits / n``."""
    from scipy.stats import beta

    if n == 0:
        return None
    lo = float(beta.ppf(0.025, hits, n - hits + 1)) if hits else 0.0
    hi = float(beta.ppf(0.975, hits + 1, n - hits)) if hits < n else 1.0
    return [round(lo, 4), round(hi, 4)]


def rate_interval(events: int, exposure: float) -> list[float]:
    """Garwood (exact Poisson) 95% interval of ``events`` per ``exposure`` units."""
    from scipy.stats import chi2

    lo = float(chi2.ppf(0.025, 2 * events)) / 2 if events else 0.0
    hi = float(chi2.ppf(0.975, 2 * events + 2)) / 2
    return [round(lo / exposure, 4), round(hi / exposure, 4)]


def summarise(broken: list[dict[str, Any]], stable: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the issue's targets are stated in, with their 95% intervals."""
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
        "detected_share_ci95": share_interval(len(delays), len(broken)),
        "demoted_before_2x_validation_drawdown_share": float(np.mean(within)) if within else None,
        "demoted_before_2x_ci95": share_interval(int(sum(within)), len(within)),
        "demoted_before_2x": f"{int(sum(within))}/{len(within)}",
        "false_demotion_rate": rate,
        "false_demotion_rate_ci95": rate_interval(demotions, sound_bars / 252)
        if sound_bars
        else None,
        "false_demotions": demotions,
        "late_demotions": [
            p["crossing"] | {"market": p["market"]} for p in broken if "crossing" in p
        ],
        "sound_bars": sound_bars,
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


#: The report's seeds (the default run: 100 per market, 500 paths); ``--tune`` refuses any of
#: them. Round 3 reported seeds 0-24; round 4 (the grid below) pre-registered 0-99 before its
#: first report run.
REPORT_SEEDS = range(0, 100)
#: The grid ``--tune`` searches (round 4, fixed before it ran): CUSUM false-alarm share x
#: drawdown floor x hard stop x bar headroom, 180 settings.
TUNE_GRID = {
    "cusum_false_alarm": (0.001, 0.002, 0.005),
    "drawdown_floor": (1.0, 1.25, 1.5),
    "drawdown_cap": (1.6, 1.7, 1.8, None),
    "bar_headroom": (0.0, 0.4, 0.5, 0.6, 0.75),
}
#: The selection rule's margins below the targets (so noise on the report's fresh seeds does
#: not push it over): tuning false-demotion rate and median delay at most these.
TUNE_FALSE_RATE = 0.042
TUNE_DELAY = 55


def run(paths: list[dict[str, Any]], config: Any) -> dict[str, Any]:
    """The monitor (``config``) on every path, summarised."""
    from tradeforge.paper.monitor import first_alarm

    done = [judged(p, first_alarm(p["validation"], p["live"], config)) for p in paths]
    broken = [p for p in done if "detected" in p]
    return summarise(broken, [p for p in done if "demoted" in p])


def tune(paths: list[dict[str, Any]], base: Any) -> list[dict[str, Any]]:
    """Every ``TUNE_GRID`` setting on ``paths``: one bootstrap reference per path and CUSUM
    setting (the band alone), then each stop through the monitor's own ``demote_bound`` and
    ``first_crossing``, so the grid costs little more than one run per CUSUM setting."""
    from tradeforge.paper.monitor import (
        cusum,
        demote_bound,
        drawdown_paths,
        first_crossing,
        reference,
    )

    rows = []
    for alarm_share in TUNE_GRID["cusum_false_alarm"]:
        raw = base.replace(cusum_false_alarm=alarm_share, drawdown_cap=None, bar_headroom=0.0)
        raw = raw.replace(drawdown_floor=0.0)
        refs = []
        for p in paths:
            x = p["live"]
            ref = reference(p["validation"], len(x), raw)
            s = cusum((x - ref.mean) / ref.std, ref.k) > ref.cusum_threshold
            refs.append((ref, s, drawdown_paths(x[None, :])[0]))
        for floor, cap, headroom in itertools.product(
            TUNE_GRID["drawdown_floor"], TUNE_GRID["drawdown_cap"], TUNE_GRID["bar_headroom"]
        ):
            setting = {
                "cusum_false_alarm": alarm_share,
                "drawdown_floor": floor,
                "drawdown_cap": cap,
                "bar_headroom": headroom,
            }
            cfg = base.replace(**setting)
            done = []
            for p, (ref, s, mdd) in zip(paths, refs, strict=True):
                band = ref.drawdown_quantiles[: len(mdd), 1]
                bound = demote_bound(band, ref.validation_max_drawdown, ref.worst_bar, cfg)
                done.append(judged(p, first_crossing(s, mdd > bound, cfg)))
            got = summarise(
                [p for p in done if "detected" in p], [p for p in done if "demoted" in p]
            )
            got.pop("per_market")
            got.pop("late_demotions")
            rows.append(setting | got)
    return rows


def before_2x(row: dict[str, Any]) -> int:
    """Broken paths demoted after their break and before twice the validation drawdown."""
    return int(row["demoted_before_2x"].split("/")[0])


def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule the defaults were chosen by (fixed before the grid ran): among settings with a
    false-demotion rate at most ``TUNE_FALSE_RATE`` and a median delay at most ``TUNE_DELAY``,
    the most broken paths demoted before twice the validation drawdown, then the lowest false
    rate, then the shortest median delay."""
    ok = [
        r
        for r in rows
        if r["false_demotion_rate"] <= TUNE_FALSE_RATE
        and r["median_detection_delay_bars"] is not None
        and r["median_detection_delay_bars"] <= TUNE_DELAY
    ]
    if not ok:
        raise ValueError(
            f"no setting meets false rate <= {TUNE_FALSE_RATE} and median delay <= {TUNE_DELAY}"
        )
    return max(
        ok,
        key=lambda r: (
            before_2x(r),
            -r["false_demotion_rate"],
            -(r["median_detection_delay_bars"] or 1e9),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the paths, print a table and (``--json``) the summary as the last line."""
    from tradeforge.paper.monitor import MonitorConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--paths", type=int, default=100, help="Seeds per market (default 100: the report's)."
    )
    parser.add_argument(
        "--seed-offset", type=int, default=0, help="First seed (default 0: the report's)."
    )
    parser.add_argument(
        "--monitor", default="{}", help="MonitorConfig fields as JSON (default: the defaults)."
    )
    parser.add_argument(
        "--tune", action="store_true", help="Search TUNE_GRID (refuses the report's seeds)."
    )
    parser.add_argument("--json", action="store_true", help="Print the summary as JSON last.")
    args = parser.parse_args(argv)
    seeds = range(args.seed_offset, args.seed_offset + args.paths)
    if args.paths < 1:
        parser.error(f"--paths {args.paths}: at least 1 path per market")
    if args.tune and set(seeds) & set(REPORT_SEEDS):
        parser.error(
            f"--tune on seeds {seeds.start}..{seeds.stop - 1} overlaps the report's seeds "
            f"{REPORT_SEEDS.start}..{REPORT_SEEDS.stop - 1}: tune on a separate range "
            "(e.g. --seed-offset 1000)"
        )
    try:
        config = MonitorConfig(**json.loads(args.monitor))
    except (ValueError, TypeError) as exc:
        parser.error(f"--monitor {args.monitor!r}: {exc}")
    began = time.perf_counter()
    paths, unmonitored = monitorable(market_paths(seeds))
    if unmonitored:
        print(f"not monitorable (validation returns do not vary): {', '.join(unmonitored)}")
    if args.tune:
        rows = tune(paths, config)
        for row in rows:
            print(json.dumps(row))
        chosen = best(rows)
        print(
            f"chosen (most before 2x at false <= {TUNE_FALSE_RATE}, delay <= {TUNE_DELAY}): "
            f"{json.dumps(chosen)}"
        )
        if args.json:
            print(json.dumps({"seeds": [seeds.start, seeds.stop - 1], "best": chosen}))
        return 0
    out = run(paths, config) | {
        "seconds": round(time.perf_counter() - began, 1),
        "seeds": [seeds.start, seeds.stop - 1],
        "unmonitored_paths": unmonitored,
        "monitor": config.model_dump(),
    }
    print(f"{'market':<16} {'paths':>5}  result")
    for name, line in out["per_market"].items():
        print(f"{name:<16} {line.get('paths', 0):>5}  {json.dumps(line)}")
    print(
        f"median detection delay {out['median_detection_delay_bars']} bars (target <= "
        f"{DELAY_TARGET}); demoted before 2x validation drawdown "
        f"{out['demoted_before_2x']} (95% CI {out['demoted_before_2x_ci95']}); false "
        f"demotions {out['false_demotion_rate']:.3f} per 252 bars (95% CI "
        f"{out['false_demotion_rate_ci95']}, target <= {FALSE_RATE_TARGET}); "
        f"{out['paths']} paths in {out['seconds']} s"
    )
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
