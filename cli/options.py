"""Options and helpers every ``tradeforge`` command shares, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeforge import DEFAULT_STORE  # noqa: F401 - re-exported for the commands

StoreOpt = Annotated[
    str, typer.Option(help="Model store: a local directory or s3://bucket/prefix.")
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        envvar="AWS_ENDPOINT_URL",
        help="S3-compatible endpoint (SeaweedFS, MinIO); credentials from the AWS chain.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object as the last stdout line.")
]
OfflineOpt = Annotated[
    bool, typer.Option(help="Serve Yahoo data from stored snapshots only (no network).")
]
StartOpt = Annotated[str | None, typer.Option(help="First bar, YYYY-MM-DD (inclusive).")]
EndOpt = Annotated[str | None, typer.Option(help="Last bar, YYYY-MM-DD (exclusive).")]


def split_list(values: list[str] | None) -> list[str]:
    """Accept repeated options and comma-separated lists alike: ``--tickers SPY,AAPL``."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def refuse_relabelling(source: str | None, tickers: list[str]) -> None:
    """Exit 2 before anything starts when one file is asked for as other tickers' bars.

    ``SPY_2010-2017_yahoo.csv`` holds SPY: ``--tickers AAPL`` on it is refused naming both;
    ``--source prices.csv=AAPL`` maps a file explicitly (issue 24).
    """
    if not source or not tickers:
        return
    from tradeforge.data import DataSourceError, check_file_ticker, is_single_file

    if not is_single_file(source):
        return
    try:
        if len(tickers) > 1:
            raise DataSourceError(
                f"source {source!r}: one file holds one ticker, not {', '.join(tickers)} "
                "(name a folder of <TICKER>.csv files)"
            )
        check_file_ticker(source, tickers[0])
    except DataSourceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def fail(exc: Exception) -> typer.Exit:
    """Print one clear error line (the traceback is in the flow run's logs); exit code 1."""
    typer.secho(f"error: {type(exc).__name__}: {exc}", fg="red", err=True)
    return typer.Exit(1)
