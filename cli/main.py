"""The ``tradeforge`` command: train, validate, ingest, predict, paper, ledger, serve, models.

Each command's module is imported only when that command runs (``LazyGroup``): ``tradeforge
--help`` lists the commands from the short descriptions below without importing pandas,
TensorFlow, Prefect or great-expectations, and ``tradeforge models list`` never pays for them.
"""

from __future__ import annotations

import importlib
import os
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: command -> (module whose ``register(app)`` adds it, one-line help shown by ``--help``).
#: A test checks each line against the command's own docstring.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("cli.train", "Run the whole pipeline (the train_pipeline Prefect flow)."),
    "validate": ("cli.data", "Ingest and validate only: print each rule's outcome."),
    "ingest": ("cli.data", "Fetch bars from Yahoo and keep each raw response as a snapshot."),
    "predict": ("cli.predict", "The champion's action for the latest bar (about a second)."),
    "paper": (
        "cli.paper",
        "Record the champions' decisions on every bar since each ledger's last record.",
    ),
    "ledger": (
        "cli.ledger",
        "Show recent paper decisions, live versus expected return, drawdown and alarms.",
    ),
    "serve": ("cli.serve", "Serve the champions over HTTP: /health, /models, /predict."),
    "models": ("cli.models", "Inspect the model registry: versions, champions, history."),
}


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands are imported on first use, not at start-up."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*LAZY_COMMANDS, *(n for n in self.commands if n not in LAZY_COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in LAZY_COMMANDS:
            # For the group's help listing: a stand-in carrying the short help only.
            return TyperCommand(cmd_name, help=LAZY_COMMANDS[cmd_name][1])
        return None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in LAZY_COMMANDS:
            self.load(args[0])
        elif args and not args[0].startswith("-") and args[0] not in self.commands:
            matches = get_close_matches(args[0], self.list_commands(ctx))
            hint = f" Did you mean {', '.join(map(repr, matches))}?" if matches else ""
            ctx.fail(f"No such command {args[0]!r}.{hint}")
        return super().resolve_command(ctx, args)

    def load(self, cmd_name: str) -> Any:
        """Import the command's module and add its real click command to the group."""
        if cmd_name not in self.commands:
            module = importlib.import_module(LAZY_COMMANDS[cmd_name][0])
            sub = typer.Typer()
            sub.callback()(_noop)  # a callback keeps a one-command Typer a group
            module.register(sub)
            group: Any = typer.main.get_command(sub)
            for name, command in group.commands.items():
                self.commands.setdefault(name, command)
        return self.commands[cmd_name]


def _noop() -> None:
    """Placeholder callback of the per-module Typer apps."""


app = typer.Typer(
    name="tradeforge",
    cls=LazyGroup,
    help=(
        "Train reinforcement-learning trading agents as an orchestrated Prefect workflow: "
        "ingest -> validate -> features -> train -> evaluate -> promote; act on the latest "
        "bar with `predict` or `serve`.\n\n"
        "Run `tradeforge COMMAND --help` for each command's options."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """tradeforge: RL trading agents as a scheduled, orchestrated workflow."""


def main() -> None:
    """Console-script entry point."""
    # TensorFlow's C++ start-up chatter hides the output that matters.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Without a Prefect server, Prefect starts a temporary one; on a busy 2-core machine its
    # default 20 s start-up budget is too tight.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    app()


if __name__ == "__main__":
    main()
