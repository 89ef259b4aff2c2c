"""The data contract as a great-expectations suite, and ``validate()`` that runs it.

One suite per asset class and interval (``ohlcv.stock.1d`` ...). Error rules stop a run:
nulls, OHLC consistency, positive prices, non-negative volume, unique and increasing
timestamps, repeated bars, minimum rows, stale runs longer than ``max_stale_bars`` and
single-bar moves of the whole bar by a split ratio (an unadjusted split). Warning rules flag
bars and say what was done with them: pre-listing placeholders and short stale-feed runs are
dropped; calendar gaps and outsized moves are kept and reported. Each rule is one or more
expectations tagged with ``meta.rule``. Declared splits are adjusted before the suite runs.

GX is imported inside the functions (it costs seconds to import) and its ephemeral context
lives only inside one call: nothing GX-specific is shared or passed on except the plain
validation result kept on the report for Data Docs.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradeforge.data.canonical import COLUMNS, NUMERIC_COLUMNS, PRICE_COLUMNS
from tradeforge.validation.derived import (
    ASSET_CLASSES,
    MAX_STALE_BARS,
    MOVE_THRESHOLDS,
    STALE_RUN,
    STOCK_CALENDAR,
    add_derived,
    asset_class_of,
    split_flag,
    split_hint,
    split_label,
    value_problem,
)
from tradeforge.validation.gx_import import import_gx
from tradeforge.validation.report import (
    ERROR,
    MAX_EXAMPLES,
    WARNING,
    RuleResult,
    ValidationReport,
)

# GX phones home with usage statistics unless told not to; the machines running this may have
# no internet, and a data check must never wait on the network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: Pairs (a, b) with a >= b required on every bar.
OHLC_PAIRS = (
    ("high", "open"),
    ("high", "close"),
    ("high", "low"),
    ("open", "low"),
    ("close", "low"),
)
#: Rules in report order, with severity and what happens to the flagged bars.
RULES: dict[str, tuple[str, str]] = {
    "schema": (ERROR, ""),
    "no_nulls": (ERROR, ""),
    "plausible_values": (ERROR, ""),
    "ohlc_consistency": (ERROR, ""),
    "positive_prices": (ERROR, ""),
    "non_negative_volume": (ERROR, ""),
    "unique_timestamps": (ERROR, ""),
    "increasing_timestamps": (ERROR, ""),
    "off_calendar": (ERROR, ""),
    "repeated_bars": (ERROR, ""),
    "min_rows": (ERROR, ""),
    "long_stale_feed": (ERROR, ""),
    "unadjusted_split": (
        ERROR,
        "kept; declare the split (--validation.splits / --split) to adjust the bars before it",
    ),
    "pre_listing_placeholder": (WARNING, "dropped"),
    "stale_feed": (WARNING, "dropped"),
    "calendar_gaps": (WARNING, "kept; the next bar carries the whole move"),
    "large_moves": (WARNING, "kept; check for an unadjusted split or a bad print"),
}
DROPPED_BY = ("pre_listing_placeholder", "stale_feed")


def suite_name(asset_class: str, interval: str) -> str:
    """Name of the suite for an asset class and interval, e.g. ``ohlcv.stock.1d``."""
    return f"ohlcv.{asset_class}.{interval}"


def validate(
    frame: pd.DataFrame,
    *,
    interval: str = "1d",
    asset_class: str | None = None,
    min_rows: int = 100,
    max_move: float | None = None,
    max_stale_bars: int | None = None,
    splits: Mapping[str, float] | None = None,
    suspected_splits: Literal["error", "warning"] = ERROR,
    notes: tuple[str, ...] | list[str] = (),
) -> ValidationReport:
    """Run the contract on a canonical frame; never raises for bad data (see ``raise_for_errors``).

    ``asset_class`` (``stock`` | ``crypto``) defaults to what the ticker looks like;
    ``max_move`` overrides the |log return| threshold of the ``large_moves`` warning;
    ``max_stale_bars`` is the longest run of identical zero-volume bars dropped with a warning
    (longer runs are errors; default per asset class and interval, ``MAX_STALE_BARS``);
    ``splits`` declares splits of unadjusted data, ``{"2021-07-20": 4}`` for a 4:1 split
    effective that day: bars before it are adjusted (prices / 4, volume x 4) before the checks;
    ``suspected_splits="warning"`` lets a bar that moved like an undeclared split through with
    a warning; ``notes`` (e.g. the reader's) are kept on the report.
    """
    started = time.perf_counter()
    ticker = _ticker_of(frame)
    asset_class = asset_class or asset_class_of(ticker)
    if asset_class not in ASSET_CLASSES:
        raise ValueError(f"asset_class: {asset_class!r} is not one of {ASSET_CLASSES}")
    if suspected_splits not in (ERROR, WARNING):
        raise ValueError(f"suspected_splits: {suspected_splits!r} is not 'error' or 'warning'")
    threshold = max_move if max_move is not None else MOVE_THRESHOLDS[(asset_class, interval)]
    stale = (
        max_stale_bars if max_stale_bars is not None else MAX_STALE_BARS[(asset_class, interval)]
    )
    if stale < 0:
        raise ValueError(f"max_stale_bars: {stale} must be >= 0")
    name = suite_name(asset_class, interval)
    severity = {rule: sev for rule, (sev, _) in RULES.items()}
    severity["unadjusted_split"] = suspected_splits
    notes = tuple(notes)

    schema = _schema_problem(frame)
    if schema is not None:
        result = RuleResult("schema", f"rule schema failed: {schema}", severity=ERROR)
        return ValidationReport(
            ticker, interval, asset_class, name, len(frame), [result], frame, notes=notes
        )

    frame = frame.reset_index(drop=True)
    if splits:
        frame, split_notes = apply_splits(frame, splits)
        notes += split_notes
    limits = Limits(min_rows=min_rows, max_move=threshold, max_stale_bars=stale)
    data = add_derived(frame, asset_class, interval, max_stale_bars=stale)
    data.attrs["daily"] = interval == "1d"
    gx_result = _run_gx(data, name, limits, severity)
    results = _rule_results(gx_result, data, limits, severity)
    kept = _handle_warnings(frame, results)
    results = _recheck_rows(results, len(kept), min_rows)
    return ValidationReport(
        ticker=ticker,
        interval=interval,
        asset_class=asset_class,
        suite=name,
        rows_checked=len(frame),
        results=results,
        frame=kept,
        seconds=time.perf_counter() - started,
        gx_result=gx_result,
        notes=notes,
    )


@dataclass(frozen=True)
class Limits:
    """The thresholds one suite run checks against."""

    min_rows: int
    max_move: float
    max_stale_bars: int


def apply_splits(
    frame: pd.DataFrame, splits: Mapping[str, float]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Adjust unadjusted bars for declared splits: before a ``n``:1 split on ``date``, prices
    are divided by ``n`` and volumes multiplied by ``n`` (0.5 declares a 1:2 reverse split).

    A date outside the bars or a ratio that is not a positive number is a ``ValueError``
    naming it.
    """
    out = frame.copy()
    notes = []
    stamps = out["timestamp"]
    for date, ratio in sorted(splits.items()):
        try:
            when = pd.Timestamp(pd.to_datetime(str(date), format="%Y-%m-%d"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"splits: {date!r} is not a date (use YYYY-MM-DD)") from exc
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        if not isinstance(ratio, int | float) or not np.isfinite(ratio) or ratio <= 0:
            raise ValueError(f"splits: ratio {ratio!r} of {date} must be a positive number")
        before = stamps < when
        if not before.any() or before.all():
            raise ValueError(
                f"splits: {date} is not inside the bars ({stamps.min():%Y-%m-%d} .. "
                f"{stamps.max():%Y-%m-%d}): no bars before and after it to adjust"
            )
        for col in PRICE_COLUMNS:
            out.loc[before, col] = out.loc[before, col] / ratio
        out.loc[before, "volume"] = out.loc[before, "volume"] * ratio
        notes.append(
            f"declared {split_label(float(ratio))} on {when:%Y-%m-%d}: prices of the "
            f"{int(before.sum())} earlier bars divided by {ratio:g}, volumes multiplied by {ratio:g}"
        )
    return out, tuple(notes)


def _ticker_of(frame: pd.DataFrame) -> str:
    if "ticker" in frame and len(frame):
        tickers = frame["ticker"].dropna().unique()
        if len(tickers) == 1:
            return str(tickers[0])
        if len(tickers) > 1:
            raise ValueError(f"frame holds several tickers {list(tickers)[:5]}: validate each")
    return "?"


def _schema_problem(frame: pd.DataFrame) -> str | None:
    if list(frame.columns) != list(COLUMNS):
        return f"columns are {list(frame.columns)}, expected {list(COLUMNS)}"
    if str(frame["timestamp"].dtype) != "datetime64[ns, UTC]":
        return f"timestamp is {frame['timestamp'].dtype}, expected datetime64[ns, UTC]"
    wrong = [c for c in NUMERIC_COLUMNS if frame[c].dtype != np.float64]
    if wrong:
        return f"columns {wrong} are not float64"
    return None


# -- the suite ----------------------------------------------------------------------------------


def build_expectations(
    limits: Limits | None = None, severity: Mapping[str, str] | None = None
) -> list[Any]:
    """The suite's expectations, each tagged with its rule and severity in ``meta``.

    The description (shown in Data Docs) says the rule in words, since several rules check
    derived columns (``min_price``, ``stale_run``, ...) computed for the suite.
    """
    import_gx()
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    limits = limits or Limits(min_rows=100, max_move=0.35, max_stale_bars=5)
    severity = severity or {rule: sev for rule, (sev, _) in RULES.items()}
    min_rows, max_move, max_stale = limits.min_rows, limits.max_move, limits.max_stale_bars

    def tag(rule: str, text: str) -> dict[str, Any]:
        level = severity[rule]
        return {
            "severity": FailureSeverity.CRITICAL if level == ERROR else FailureSeverity.WARNING,
            "meta": {"rule": rule, "severity": level},
            "description": f"{rule} ({level}): {text}",
        }

    # ticker is written by the reader, never null; the other columns come from vendor cells.
    exps: list[Any] = [
        gxe.ExpectColumnValuesToNotBeNull(column=c, **tag("no_nulls", f"{c} is never null"))
        for c in COLUMNS[1:]
    ]
    exps.append(
        gxe.ExpectColumnValuesToBeBetween(
            column="implausible",
            max_value=0,
            **tag(
                "plausible_values",
                "every value finite, prices and volume within what a market trades",
            ),
        )
    )
    # high >= max(open, close) and low <= min(open, close) imply high >= low: two checks
    # cover all five OHLC pairs (fewer expectations = a faster suite: GX's cost is per check).
    exps += [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=a,
            column_B=b,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            **tag("ohlc_consistency", text),
        )
        for a, b, text in (
            ("ohlc_high", "max_open_close", "high >= open and high >= close (so high >= low)"),
            ("min_open_close", "ohlc_low", "low <= open and low <= close"),
        )
    ]
    exps += [
        gxe.ExpectColumnValuesToBeBetween(
            column="min_price",
            min_value=0,
            strict_min=True,
            **tag("positive_prices", "open, high, low and close are all > 0"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="volume", min_value=0, **tag("non_negative_volume", "volume >= 0")
        ),
        gxe.ExpectColumnValuesToBeUnique(
            column="timestamp", **tag("unique_timestamps", "no two bars share a timestamp")
        ),
        # Non-strict: a repeated timestamp is unique_timestamps' finding, not this rule's.
        gxe.ExpectColumnValuesToBeIncreasing(
            column="timestamp",
            strictly=False,
            **tag("increasing_timestamps", "bars are in time order"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="off_calendar",
            max_value=0,
            **tag("off_calendar", "no stock bar on a day the exchange was closed"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="repeat_of",
            max_value=-1,
            **tag(
                "repeated_bars",
                "no traded bar repeats an earlier bar's open, high, low, close and volume "
                "(a bar copied under another time)",
            ),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=min_rows, **tag("min_rows", f"at least {min_rows} bars")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="stale_run",
            max_value=max_stale,
            **tag(
                "long_stale_feed",
                f"no run of more than {max_stale} identical zero-volume bars (a hole in the "
                "data, not a quiet market)",
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="split_ratio",
            max_value=0,
            **tag(
                "unadjusted_split",
                "no bar whose open, high, low and close all moved by a split ratio (declare "
                "splits to adjust the bars before them)",
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="pre_listing",
            max_value=0,
            **tag(
                "pre_listing_placeholder", "no zero-volume bars before the first trade (dropped)"
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="short_stale_run",
            max_value=STALE_RUN - 1,
            **tag(
                "stale_feed",
                f"no runs of {STALE_RUN}-{max_stale} identical zero-volume bars (stale feed; "
                "dropped)",
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="missing_before",
            max_value=0,
            **tag("calendar_gaps", "no expected bars missing (exchange calendar or 24/7)"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="abs_log_return",
            max_value=max_move,
            **tag("large_moves", f"|log return| of one bar <= {max_move:g} (unadjusted split?)"),
        ),
    ]
    return exps


def _run_gx(data: pd.DataFrame, name: str, limits: Limits, severity: Mapping[str, str]) -> Any:
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("bars")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    # Expectations passed at construction are stored once; add_expectation() would
    # re-serialise the whole suite per expectation (0.3 s for this suite).
    expectations = build_expectations(limits, severity)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    # BASIC (each expectation's success and counts) costs ~40% of COMPLETE (every unexpected
    # row's index) for the same verdicts. The rows are only needed for the rules that failed
    # (examples, bars dropped, Data Docs), and GX's cost is per expectation: those alone run
    # again with COMPLETE and their results replace the BASIC ones.
    result = definition.run(
        batch_parameters={"dataframe": data}, result_format={"result_format": "BASIC"}
    )
    failed = [
        i
        for i, r in enumerate(result.results)
        if not r.success or (r.exception_info or {}).get("raised_exception")
    ]
    if not failed:
        return result
    again = gx.ExpectationSuite(
        name=f"{name}.failed",
        expectations=[_fresh(result.results[i].expectation_config) for i in failed],
    )
    detailed = batch.get_batch(batch_parameters={"dataframe": data}).validate(
        again, result_format={"result_format": "COMPLETE"}
    )
    by_config = {_config_key(r.expectation_config): r for r in detailed.results}
    for i in failed:
        result.results[i] = by_config[_config_key(result.results[i].expectation_config)]
    return result


def _fresh(config: Any) -> Any:
    """The expectation of ``config``, detached from its suite (GX refuses one with an id)."""
    expectation = config.to_domain_obj()
    expectation.id = None
    return expectation


def _config_key(config: Any) -> str:
    """An expectation's type and arguments: unique within the suite."""
    return f"{config.type}:{sorted(config.kwargs.items())!r}"


# -- from GX results to rules -------------------------------------------------------------------


def _rule_results(
    gx_result: Any, data: pd.DataFrame, limits: Limits, severity: Mapping[str, str]
) -> list[RuleResult]:
    failed_rows: dict[str, set[int]] = defaultdict(set)
    failed: set[str] = set()
    for res in gx_result.results:
        rule = res.expectation_config.meta["rule"]
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"great-expectations could not evaluate rule {rule}: "
                f"{res.exception_info.get('exception_message')}"
            )
        if not res.success:
            failed.add(rule)
            failed_rows[rule].update(int(i) for i in res.result.get("unexpected_index_list") or [])
    out = []
    for rule, (_, handling) in RULES.items():
        if rule == "schema":
            continue
        level = severity[rule]
        if rule not in failed:
            out.append(RuleResult(rule, f"rule {rule} passed", severity=level, success=True))
            continue
        rows = sorted(failed_rows[rule])
        out.append(_failed_rule(rule, level, handling, rows, data, limits))
    return out


def _failed_rule(
    rule: str,
    severity: str,
    handling: str,
    rows: list[int],
    data: pd.DataFrame,
    limits: Limits,
) -> RuleResult:
    total = len(data)
    if rule == "min_rows":
        message = f"rule min_rows failed: {total} rows < {limits.min_rows} required"
        return RuleResult(rule, message, [], severity, False, total)
    shown_rows = _run_starts(data, rows) if rule in RUN_RULES else rows
    examples = [_example(rule, data, i, limits) for i in shown_rows[:MAX_EXAMPLES]]
    shown = "; ".join(e["problem"] for e in examples)
    more = f" (and {len(shown_rows) - MAX_EXAMPLES} more)" if len(shown_rows) > MAX_EXAMPLES else ""
    verb = "failed" if severity == ERROR else "flagged"
    message = f"rule {rule} {verb} on {len(rows)} of {total} rows: {shown}{more}"
    if rule in DROPPED_BY:
        handling = f"dropped {len(rows)} bar{'s' if len(rows) != 1 else ''}"
    if severity == ERROR:
        handling = ""
    return RuleResult(rule, message, examples, severity, False, len(rows), handling, tuple(rows))


#: Rules whose rows come in runs: one example per run, not per row.
RUN_RULES = ("stale_feed", "long_stale_feed")


def _run_starts(data: pd.DataFrame, rows: list[int]) -> list[int]:
    """The first row of each run of consecutive flagged rows."""
    return [i for k, i in enumerate(rows) if k == 0 or rows[k - 1] != i - 1]


def _stamp(value: Any, daily: bool = True) -> str:
    if value is None or pd.isna(value):
        return "NaT"
    ts = pd.Timestamp(value)
    return f"{ts:%Y-%m-%d}" if daily and ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def _num(value: Any) -> str:
    return "null" if pd.isna(value) else f"{float(value):.10g}"


def _example(rule: str, data: pd.DataFrame, i: int, limits: Limits) -> dict[str, Any]:
    row = data.iloc[i]
    when = _stamp(row["timestamp"], data.attrs.get("daily", True))
    if when == "NaT":
        when = f"row {i}"  # no time to show: the position in the frame is all there is
    example: dict[str, Any] = {"row": i, "timestamp": when}
    example.update({c: (None if pd.isna(row[c]) else float(row[c])) for c in NUMERIC_COLUMNS})
    example["problem"] = f"{when} {_problem(rule, data, i, limits)}"
    return example


def _problem(rule: str, data: pd.DataFrame, i: int, limits: Limits) -> str:
    row = data.iloc[i]
    daily = data.attrs.get("daily", True)
    if rule == "no_nulls":
        nulls = [c for c in COLUMNS if pd.isna(row[c])]
        return " ".join(f"{c}=null" for c in nulls)
    if rule == "plausible_values":
        return value_problem(row)
    if rule == "off_calendar":
        day = f"{pd.Timestamp(row['timestamp']):%A}"
        return f"(a {day}): the exchange ({STOCK_CALENDAR}) held no session that day"
    if rule == "ohlc_consistency":
        bad = [f"{a}={_num(row[a])} < {b}={_num(row[b])}" for a, b in OHLC_PAIRS if row[a] < row[b]]
        return ", ".join(bad)
    if rule == "positive_prices":
        return ", ".join(f"{c}={_num(row[c])} <= 0" for c in PRICE_COLUMNS if row[c] <= 0)
    if rule == "non_negative_volume":
        return f"volume={_num(row['volume'])} < 0"
    if rule == "unique_timestamps":
        count = int((data["timestamp"] == row["timestamp"]).sum())
        return f"appears {count} times"
    if rule == "increasing_timestamps":
        prev = data["timestamp"].iloc[i - 1] if i > 0 else None
        return f"comes after {_stamp(prev, daily)}"
    if rule == "repeated_bars":
        origin = int(row["repeat_of"])
        return (
            f"repeats the bar of {_stamp(data['timestamp'].iloc[origin], daily)} "
            f"(open={_num(row['open'])} close={_num(row['close'])} volume={_num(row['volume'])})"
        )
    if rule in RUN_RULES:
        length = int(row["stale_run"])
        last = _stamp(data["timestamp"].iloc[min(i + length - 1, len(data) - 1)], daily)
        return f"to {last}: {length} identical zero-volume bars (close={_num(row['close'])})"
    if rule == "unadjusted_split":
        n = float(row["split_ratio"])
        prev = data.iloc[i - 1]
        return (
            f"open, high, low and close all moved x{1 / n:.2f} (close {_num(prev['close'])} -> "
            f"{_num(row['close'])}): looks like an unadjusted {split_label(n)}; adjust the bars "
            f"before it or declare it ({split_flag(str(row['ticker']), _stamp(row['timestamp']), n)})"
        )
    if rule == "pre_listing_placeholder":
        return f"zero-volume bar before the first trade (close={_num(row['close'])})"
    if rule == "calendar_gaps":
        prev = _stamp(data["timestamp"].iloc[i - 1], daily) if i else "?"
        missing = int(row["missing_before"])
        return f"{missing} expected bar{'s' if missing != 1 else ''} missing since {prev}"
    if rule == "large_moves":
        prev_close = data["close"].iloc[i - 1]
        ratio = row["close"] / prev_close
        return (
            f"close {_num(prev_close)} -> {_num(row['close'])} "
            f"(|log return| {row['abs_log_return']:.2f} > {limits.max_move:g}{split_hint(ratio)})"
        )
    return "unexpected"


# -- handling warnings --------------------------------------------------------------------------


def _handle_warnings(frame: pd.DataFrame, results: list[RuleResult]) -> pd.DataFrame:
    """Drop the bars of warnings whose handling is "dropped", unless an error stops the run."""
    if any(r.severity == ERROR and not r.success for r in results):
        return frame
    drop: set[int] = set()
    for r in results:
        if r.rule in DROPPED_BY and not r.success:
            drop.update(r.row_indices)
    if not drop:
        return frame
    return frame.drop(index=sorted(drop)).reset_index(drop=True)


def _recheck_rows(results: list[RuleResult], kept: int, min_rows: int) -> list[RuleResult]:
    """After dropping warning bars the frame must still hold ``min_rows`` bars."""
    out = []
    for r in results:
        if r.rule == "min_rows" and r.success and kept < min_rows:
            r = RuleResult(
                "min_rows",
                f"rule min_rows failed: {kept} rows left after dropping flagged bars "
                f"< {min_rows} required",
                severity=ERROR,
                unexpected=kept,
            )
        out.append(r)
    return out
