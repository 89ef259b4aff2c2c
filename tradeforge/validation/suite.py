"""The data contract as a great-expectations suite, and ``validate()`` that runs it.

One suite per asset class and interval (``ohlcv.stock.1d`` ...). Error rules stop a run:
nulls, OHLC consistency, positive prices, non-negative volume, unique and increasing
timestamps, minimum rows. Warning rules flag bars and say what was done with them:
pre-listing placeholders and stale-feed runs are dropped; calendar gaps and outsized moves
are kept and reported. Each rule is one or more expectations tagged with ``meta.rule``.

GX is imported inside the functions (it costs seconds to import) and its ephemeral context
lives only inside one call: nothing GX-specific is shared or passed on except the plain
validation result kept on the report for Data Docs.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.data.canonical import COLUMNS, NUMERIC_COLUMNS, PRICE_COLUMNS
from tradeforge.validation.derived import (
    ASSET_CLASSES,
    MOVE_THRESHOLDS,
    STALE_RUN,
    add_derived,
    asset_class_of,
    split_hint,
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
    "ohlc_consistency": (ERROR, ""),
    "positive_prices": (ERROR, ""),
    "non_negative_volume": (ERROR, ""),
    "unique_timestamps": (ERROR, ""),
    "increasing_timestamps": (ERROR, ""),
    "min_rows": (ERROR, ""),
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
) -> ValidationReport:
    """Run the contract on a canonical frame; never raises for bad data (see ``raise_for_errors``).

    ``asset_class`` (``stock`` | ``crypto``) defaults to what the ticker looks like;
    ``max_move`` overrides the |log return| threshold of the ``large_moves`` warning.
    """
    started = time.perf_counter()
    ticker = _ticker_of(frame)
    asset_class = asset_class or asset_class_of(ticker)
    if asset_class not in ASSET_CLASSES:
        raise ValueError(f"asset_class: {asset_class!r} is not one of {ASSET_CLASSES}")
    threshold = max_move if max_move is not None else MOVE_THRESHOLDS[(asset_class, interval)]
    name = suite_name(asset_class, interval)

    schema = _schema_problem(frame)
    if schema is not None:
        result = RuleResult("schema", f"rule schema failed: {schema}", severity=ERROR)
        return ValidationReport(ticker, interval, asset_class, name, len(frame), [result], frame)

    data = add_derived(frame.reset_index(drop=True), asset_class, interval)
    data.attrs["daily"] = interval == "1d"
    gx_result = _run_gx(data, name, min_rows=min_rows, max_move=threshold)
    results = _rule_results(gx_result, data, min_rows=min_rows, max_move=threshold)
    kept = _handle_warnings(frame.reset_index(drop=True), results)
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
    )


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


def build_expectations(*, min_rows: int, max_move: float) -> list[Any]:
    """The suite's expectations, each tagged with its rule and severity in ``meta``.

    The description (shown in Data Docs) says the rule in words, since several rules check
    derived columns (``min_price``, ``stale_run``, ...) computed for the suite.
    """
    import_gx()
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    def tag(rule: str, text: str) -> dict[str, Any]:
        severity = RULES[rule][0]
        return {
            "severity": FailureSeverity.CRITICAL if severity == ERROR else FailureSeverity.WARNING,
            "meta": {"rule": rule, "severity": severity},
            "description": f"{rule} ({severity}): {text}",
        }

    # ticker is written by the reader, never null; the other columns come from vendor cells.
    exps: list[Any] = [
        gxe.ExpectColumnValuesToNotBeNull(column=c, **tag("no_nulls", f"{c} is never null"))
        for c in COLUMNS[1:]
    ]
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
            ("high", "max_open_close", "high >= open and high >= close (so high >= low)"),
            ("min_open_close", "low", "low <= open and low <= close"),
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
        gxe.ExpectTableRowCountToBeBetween(
            min_value=min_rows, **tag("min_rows", f"at least {min_rows} bars")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="pre_listing",
            max_value=0,
            **tag(
                "pre_listing_placeholder", "no zero-volume bars before the first trade (dropped)"
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="stale_run",
            max_value=STALE_RUN - 1,
            **tag(
                "stale_feed",
                f"no runs of {STALE_RUN}+ identical zero-volume bars (stale feed; dropped)",
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


def _run_gx(data: pd.DataFrame, name: str, *, min_rows: int, max_move: float) -> Any:
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
    expectations = build_expectations(min_rows=min_rows, max_move=max_move)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    return definition.run(
        batch_parameters={"dataframe": data}, result_format={"result_format": "COMPLETE"}
    )


# -- from GX results to rules -------------------------------------------------------------------


def _rule_results(
    gx_result: Any, data: pd.DataFrame, *, min_rows: int, max_move: float
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
    for rule, (severity, handling) in RULES.items():
        if rule == "schema":
            continue
        if rule not in failed:
            out.append(RuleResult(rule, f"rule {rule} passed", severity=severity, success=True))
            continue
        rows = sorted(failed_rows[rule])
        out.append(_failed_rule(rule, severity, handling, rows, data, min_rows, max_move))
    return out


def _failed_rule(
    rule: str,
    severity: str,
    handling: str,
    rows: list[int],
    data: pd.DataFrame,
    min_rows: int,
    max_move: float,
) -> RuleResult:
    total = len(data)
    if rule == "min_rows":
        message = f"rule min_rows failed: {total} rows < {min_rows} required"
        return RuleResult(rule, message, [], severity, False, total)
    examples = [_example(rule, data, i, max_move) for i in rows[:MAX_EXAMPLES]]
    shown = "; ".join(e["problem"] for e in examples)
    more = f" (and {len(rows) - MAX_EXAMPLES} more)" if len(rows) > MAX_EXAMPLES else ""
    verb = "failed" if severity == ERROR else "flagged"
    message = f"rule {rule} {verb} on {len(rows)} of {total} rows: {shown}{more}"
    if rule in DROPPED_BY:
        handling = f"dropped {len(rows)} bar{'s' if len(rows) != 1 else ''}"
    return RuleResult(rule, message, examples, severity, False, len(rows), handling, tuple(rows))


def _stamp(value: Any, daily: bool = True) -> str:
    if value is None or pd.isna(value):
        return "NaT"
    ts = pd.Timestamp(value)
    return f"{ts:%Y-%m-%d}" if daily and ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def _num(value: Any) -> str:
    return "null" if pd.isna(value) else f"{float(value):.10g}"


def _example(rule: str, data: pd.DataFrame, i: int, max_move: float) -> dict[str, Any]:
    row = data.iloc[i]
    when = _stamp(row["timestamp"], data.attrs.get("daily", True))
    if when == "NaT":
        when = f"row {i}"  # no time to show: the position in the frame is all there is
    example: dict[str, Any] = {"row": i, "timestamp": when}
    example.update({c: (None if pd.isna(row[c]) else float(row[c])) for c in NUMERIC_COLUMNS})
    example["problem"] = f"{when} {_problem(rule, data, i, max_move)}"
    return example


def _problem(rule: str, data: pd.DataFrame, i: int, max_move: float) -> str:
    row = data.iloc[i]
    if rule == "no_nulls":
        nulls = [c for c in COLUMNS if pd.isna(row[c])]
        return " ".join(f"{c}=null" for c in nulls)
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
        return f"comes after {_stamp(prev, data.attrs.get('daily', True))}"
    if rule == "pre_listing_placeholder":
        return f"zero-volume bar before the first trade (close={_num(row['close'])})"
    if rule == "stale_feed":
        return f"one of {int(row['stale_run'])} identical zero-volume bars (close={_num(row['close'])})"
    if rule == "calendar_gaps":
        prev = _stamp(data["timestamp"].iloc[i - 1], data.attrs.get("daily", True)) if i else "?"
        missing = int(row["missing_before"])
        return f"{missing} expected bar{'s' if missing != 1 else ''} missing since {prev}"
    if rule == "large_moves":
        prev_close = data["close"].iloc[i - 1]
        ratio = row["close"] / prev_close
        return (
            f"close {_num(prev_close)} -> {_num(row['close'])} "
            f"(|log return| {row['abs_log_return']:.2f} > {max_move:g}{split_hint(ratio)})"
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
