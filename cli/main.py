"""The ``tradeforge`` command: train, validate, ingest, predict, models."""

from __future__ import annotations

import os

import typer

from cli import data, models, predict, train

app = typer.Typer(
    name="tradeforge",
    help=(
        "Train reinforcement-learning trading agents as an orchestrated Prefect workflow: "
        "ingest -> validate -> features -> train -> evaluate -> promote.\n\n"
        "Run `tradeforge COMMAND --help` for each command's options."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train.register(app)
data.register(app)
predict.register(app)
models.register(app)


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
