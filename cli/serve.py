"""``tradeforge serve`` (placeholder)."""

import typer


def serve() -> None:
    """Serve."""


def register(app: typer.Typer) -> None:
    """Add ``serve``."""
    app.command("serve")(serve)
