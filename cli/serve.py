"""``tradeforge serve``: the champions' actions over HTTP (``tradeforge.serving``, uvicorn)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, StoreOpt, fail, split_list


def serve(
    store: StoreOpt = DEFAULT_STORE,
    tickers: Annotated[
        list[str] | None,
        typer.Option(
            help="Tickers to serve (repeated or comma-separated); default: every champion."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    poll_interval: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds between checks of the champion pointers' ETags."),
    ] = 2.0,
    data_ttl: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds the latest bars of a non-file source (yahoo, s3) are reused; "
            "a local file is re-read when it changes.",
        ),
    ] = 60.0,
    s3_endpoint_url: EndpointOpt = None,
    log_level: Annotated[
        Literal["critical", "error", "warning", "info", "debug"],
        typer.Option(help="uvicorn log level."),
    ] = "warning",
) -> None:
    """Serve the champions over HTTP: GET /health, GET /models, POST /predict.

    A new champion is picked up without a restart; a corrupt or tampered one is refused and the
    previous one keeps serving. Example:

      curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"ticker": "GOOGL"}'
    """
    import uvicorn

    from tradeforge.serving import create_app, open_book

    try:
        book = open_book(
            store,
            tuple(split_list(tickers)),
            endpoint_url=s3_endpoint_url,
            data_ttl_s=data_ttl,
        )
    except Exception as exc:  # the store could not be opened or listed
        raise fail(exc) from exc
    for row in book.describe():
        state = row.get("version_id") if row["serving"] else "not serving"
        typer.echo(f"  {row['ticker']}: {state}" + (f"  ({row['error']})" if row["error"] else ""))
    if not book.slots:
        typer.echo(f"  no champion in {book.registry.store.uri} yet: polling for one")
    typer.echo(f"tradeforge serve: http://{host}:{port} (store {book.registry.store.uri})")
    uvicorn.run(
        create_app(book, poll_s=poll_interval),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""
    app.command("serve")(serve)
