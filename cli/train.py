"""``tradeforge train``: run the train_pipeline flow from the terminal.

Every option is generated from the configuration models (``tradeforge.config``): its name,
default, choices, bounds and help come from the field's declaration, so nothing is written
twice. Each field has a dotted spelling (``--env.commission 0.002``); the common ones also keep
a short one (``--tickers``, ``--seeds``, ``--steps``, ...). Lists are comma-separated.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import signal
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from cli.options import fail, split_list
from tradeforge.config import (
    CLI_SECTIONS,
    SECTIONS,
    PipelineConfig,
    PortfolioConfig,
    first_error,
)

#: Short spellings users know, for the most used fields: (section, field) -> option name.
SHORT: dict[tuple[str, str], str] = {
    ("data", "tickers"): "--tickers",
    ("data", "source"): "--source",
    ("data", "start"): "--start",
    ("data", "end"): "--end",
    ("data", "interval"): "--interval",
    ("data", "offline"): "--offline",
    ("data", "s3_endpoint_url"): "--s3-endpoint-url",
    ("run", "agents"): "--agents",
    ("run", "seeds"): "--seeds",
    ("run", "rewards"): "--rewards",
    ("run", "store"): "--store",
    ("dqn", "total_steps"): "--steps",
    ("dqn", "max_seconds"): "--train-timeout",
    ("split", "folds"): "--folds",
    ("env", "commission"): "--commission",
    ("portfolio", "tickers"): "--portfolio",
}
SEP = "__"


def _section_models() -> dict[str, type[BaseModel]]:
    fields = PipelineConfig.model_fields
    return {name: fields[name].annotation for name in CLI_SECTIONS}  # type: ignore[misc]


def _is_sequence(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (tuple, list)


def _choices(annotation: Any) -> list[str] | None:
    """The Literal choices of a field (or of its items, for a tuple of Literals)."""
    if _is_sequence(annotation):
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return None


def _base_type(annotation: Any) -> Any:
    """The Python type the option parses: str for lists (comma-split later), else the scalar."""
    if _is_sequence(annotation) or _choices(annotation):
        return str
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0])
    if typing.get_origin(annotation) is Annotated:
        return _base_type(typing.get_args(annotation)[0])
    return annotation if annotation in (int, float, bool, str) else str


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _parameters() -> list[inspect.Parameter]:
    """One keyword parameter per configuration field, grouped in ``--help`` by section."""
    params = []
    for section, model in _section_models().items():
        for name, info in model.model_fields.items():
            annotation = info.annotation
            base = _base_type(annotation)
            dotted = f"--{section}.{name}"
            decls = ([SHORT[(section, name)]] if (section, name) in SHORT else []) + [dotted]
            if base is bool:
                decls = [f"{d}/--no-{d.removeprefix('--')}" for d in decls]
            choices = _choices(annotation)
            help_text = info.description or ""
            if choices and _is_sequence(annotation):
                help_text += f" Comma-separated, of: {', '.join(choices)}."
            elif _is_sequence(annotation):
                help_text += " Comma-separated."
            option = typer.Option(
                *decls,
                help=help_text,
                rich_help_panel=CLI_SECTIONS[section],
                show_default=_shown(info.get_default(call_default_factory=True)),
            )
            if choices and not _is_sequence(annotation):
                base = typing.Literal[tuple(choices)]  # shown and checked as a choice
            params.append(
                inspect.Parameter(
                    f"{section}{SEP}{name}",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None,
                    annotation=Annotated[base | None, option],
                )
            )
    return params


def build_config(options: dict[str, Any]) -> PipelineConfig:
    """The validated configuration from the options given (None = not given: the default).

    Raises ``ValueError`` ``"--section.field: problem"`` for the first bad value.
    """
    nested: dict[str, dict[str, Any]] = {}
    models = _section_models()
    for key, value in options.items():
        if value is None or SEP not in key:
            continue
        section, name = key.split(SEP, 1)
        if _is_sequence(models[section].model_fields[name].annotation):
            # "none" (how --help shows an empty default, e.g. --dqn.hidden) is the empty list
            value = [] if value.strip().lower() == "none" else split_list([value])
        nested.setdefault(section, {})[name] = value
    data = nested.setdefault("data", {})
    universe = nested.get("portfolio", {}).get("tickers")
    if universe:
        _universe_as_tickers(universe, data)
    elif "tickers" not in data:
        from tradeforge.data.sources import ticker_of_source

        inferred = ticker_of_source(data.get("source"))
        if inferred:
            data["tickers"] = [inferred]
    try:
        return PipelineConfig.model_validate(nested)
    except ValidationError as exc:
        message = first_error(exc)
        field = message.split(":", 1)[0].split(".")[:2]
        shown = SHORT.get(tuple(field), f"--{'.'.join(field)}") if len(field) == 2 else ""  # type: ignore[arg-type]
        raise ValueError(f"{shown} ({message})" if shown else message) from None


def _universe_as_tickers(universe: list[str], data: dict[str, Any]) -> None:
    """A portfolio run reads its universe's tickers as the data section's (so preflight and
    ingest check each one); ``--tickers`` beside ``--portfolio`` is refused, not guessed."""
    try:
        PortfolioConfig(tickers=tuple(universe))  # its own errors first: one ticker, twice
    except ValidationError as exc:
        raise ValueError(f"--portfolio ({first_error(exc)})") from None
    if "tickers" in data:
        raise ValueError(
            "--tickers: give either --tickers (one agent per ticker) or --portfolio "
            "(one agent over the universe), not both"
        )
    data["tickers"] = list(universe)


def train(**options: Any) -> None:
    """Train agents per (ticker, agent, seed, reward) on walk-forward folds, evaluate them
    against baselines, and promote the best only if it shows a measured edge.

    Examples:

      tradeforge train                                      # the demo: GOOGL, local store

      tradeforge train --source ../shared/data/market/SPY_2010-2017_yahoo.csv

      tradeforge train --tickers SPY,AAPL --source yahoo --start 2015-01-01 --seeds 0,1

      tradeforge train --rewards simple,pbr --env.commission 0.002 --split.folds 4

      tradeforge train --portfolio AAPL,MSFT,NVDA --source ../shared/data/market
    """
    as_json = options.pop("as_json")
    dask, dask_address = options.pop("dask"), options.pop("dask_address")
    try:  # a bad option fails here, before any server or model is started
        cfg = build_config(options)
    except ValueError as exc:
        typer.secho(f"error: invalid option {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    from cli.ephemeral import ephemeral_server, launched_server

    # The temporary Prefect server boots in the background while the inputs are checked and
    # the flow is imported: each takes seconds, now side by side (issue 26).
    with launched_server() as early:
        _preflight(cfg)
        from flows.runners import with_task_runner
        from flows.train import TickersFailed, train_pipeline
        from tradeforge import interrupt

        try:
            if cfg.portfolio.enabled:  # one agent over the universe (issue 27)
                from flows.portfolio import portfolio_pipeline

                flow, sections = portfolio_pipeline, CLI_SECTIONS
            else:
                flow, sections = train_pipeline, SECTIONS
            pipeline = with_task_runner(flow, dask=dask, dask_address=dask_address)
            # A temporary Prefect server that dies with this process, even on SIGKILL.
            with _ctrl_c_stops_the_run(), ephemeral_server(server=early):
                interrupt.check("train")  # Ctrl-C while the server was starting
                summary = pipeline(**{name: getattr(cfg, name) for name in sections})
        except Exception as exc:  # one clear line, the traceback is in the flow run's logs
            _exit_2_for_bad_universe(exc)
            if isinstance(exc, TickersFailed) and not interrupt.requested():
                _print_summary(exc.summary, as_json)  # the other tickers finished: show them
            if interrupt.requested():
                typer.secho(_interrupted_line(cfg), fg="yellow", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            raise fail(exc) from exc
    _print_summary(summary, as_json)


def _exit_2_for_bad_universe(exc: Exception) -> None:
    """A universe refused before any training (a ticker failing its contract, no overlapping
    dates, a late ticker) is bad input: exit 2 naming it, as for a bad option."""
    from tradeforge.portfolio import UniverseError

    if isinstance(exc, UniverseError):
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _preflight(cfg: PipelineConfig) -> None:
    """Tickers, source, store and ``--run.resume`` checked in seconds, before any data is read;
    exit 2 naming each problem."""
    from tradeforge.preflight import PreflightError, preflight_config

    try:
        preflight_config(cfg)
    except PreflightError as exc:
        for problem in exc.problems:
            typer.secho(f"error: {problem}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    elif "portfolio" in summary:
        from tradeforge.portfolio.report import render_portfolio

        render_portfolio(summary)
    else:
        from tradeforge.report import render_summary

        render_summary(summary)


#: Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def _ctrl_c_stops_the_run() -> Iterator[None]:
    """SIGINT asks the run to stop (``tradeforge.interrupt``) instead of raising
    KeyboardInterrupt in whatever the main thread was doing, which left the trainings running
    in their worker threads and their staged files behind (issue 24). The trainings checkpoint
    and stop at their next step, the flow fails the ordinary way (its staged files removed).
    The console goes quiet meanwhile: the one line that matters is printed at the end. A second
    Ctrl-C aborts at once."""
    from tradeforge import interrupt

    interrupt.reset()

    def on_sigint(signum: int, frame: Any) -> None:
        if interrupt.requested():
            raise KeyboardInterrupt
        interrupt.request()
        _quiet_console()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _quiet_console() -> None:
    """Silence the log lines (and tracebacks) the stopping run's tasks print to the terminal;
    the Prefect API still receives them, for the run's page."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(logging.CRITICAL + 1)


def _interrupted_line(cfg: PipelineConfig) -> str:
    """One line: what stopped where, that staged files are gone, and how to resume."""
    from tradeforge import interrupt

    stopped = interrupt.stopped()
    if not stopped:
        return "interrupted (Ctrl-C): stopped before any training; staged files removed"
    where = ", ".join(f"{s.what} at step {s.env_steps} of {s.total_steps}" for s in stopped)
    kept = [Path(s.checkpoint) for s in stopped if s.checkpoint]
    work = Path(cfg.run.work_dir).expanduser().resolve()
    runs = {
        p.resolve().relative_to(work).parts[0] for p in kept if p.resolve().is_relative_to(work)
    }
    resume = (
        f"checkpoints kept in {work}/{next(iter(runs))}: resume with the same command "
        f"and --run.resume {next(iter(runs))}"
        if len(runs) == 1
        else "no checkpoint kept"
    )
    return f"interrupted (Ctrl-C): {where}; staged files removed; {resume}"


_EXTRA = [
    inspect.Parameter(
        "dask",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--dask",
                help="Fan the trainings out on a temporary Dask LocalCluster (TRADEFORGE_DASK_WORKERS workers, default 2).",
            ),
        ],
    ),
    inspect.Parameter(
        "dask_address",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--dask-address",
                envvar="TRADEFORGE_DASK_ADDRESS",
                help="Fan out on an existing Dask cluster, e.g. tcp://scheduler:8786 (implies --dask).",
            ),
        ],
    ),
    inspect.Parameter(
        "as_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--json", help="Print the run summary as one JSON object on the last stdout line."
            ),
        ],
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``train`` command, its options generated from the configuration models."""
    train.__signature__ = inspect.Signature(_parameters() + _EXTRA)  # type: ignore[attr-defined]
    app.command("train")(train)
