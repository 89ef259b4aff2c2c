"""``tradeforge serve``: the champions' actions over HTTP (``tradeforge.serving``, uvicorn)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.options import DEFAULT_STORE, EndpointOpt, StoreOpt, fail, split_list


def serve(
    store: StoreOpt = DEFAULT_STORE,
    tickers: Annotated[
        list[str] | None,
        typer.Option(
            help="Tickers whose champions to serve (repeated or comma-separated). Naming "
            "tickers or --portfolio serves only what is named; naming neither serves every "
            "champion in the store, new ones as they are promoted.",
        ),
    ] = None,
    portfolio: Annotated[
        list[str] | None,
        typer.Option(
            "--portfolio",
            help="Universe names whose portfolio champions to serve, e.g. mega7 (repeated or "
            "comma-separated). --tickers SPY alone serves no portfolio; --portfolio mega7 "
            "alone serves no ticker.",
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
    discover_interval: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds between listings of the store for tickers with a new first champion "
            "(when --tickers is not given); a listing walks every object under models/.",
        ),
    ] = 30.0,  # tradeforge.serving.DISCOVER_EVERY_S, not imported: `--help` stays light
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
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the bearer token every path but /health requires "
            "(else $TRADEFORGE_SERVE_TOKEN); needed beyond 127.0.0.1.",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve beyond 127.0.0.1 without a token: anyone reaching the port gets the signals.",
        ),
    ] = False,
    rate_limit: Annotated[
        float,
        typer.Option(min=0.0, help="Requests per second each client address may sustain; 0 = off."),
    ] = 20.0,
    rate_burst: Annotated[
        int, typer.Option(min=1, help="Requests a client may send at once before the rate applies.")
    ] = 40,
    max_body_bytes: Annotated[
        int,
        typer.Option(min=1024, help="Largest request body accepted; larger ones get 413."),
    ] = 1 << 20,
) -> None:
    """Serve the champions over HTTP: GET /health, GET /models, POST /predict.

    A new champion is picked up without a restart; a corrupt or tampered one is refused and the
    previous one keeps serving. Example:

      curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"ticker": "GOOGL"}'

    Only some champions (without either option: every ticker and every portfolio):

      tradeforge serve --tickers SPY,GOOGL --portfolio mega7

    Beyond 127.0.0.1 a bearer token is required (TLS belongs to a reverse proxy):

      tradeforge serve --host 0.0.0.0 --token-file ~/.tradeforge-token

      curl -s host:8000/predict -H "Authorization: Bearer $(cat ~/.tradeforge-token)" ...
    """
    from cli.paper_portfolio import check_names
    from tradeforge.serving_security import GuardError, describe, make_guard, token_file_warning

    names = tuple(t.upper() for t in split_list(tickers))
    universes = tuple(split_list(portfolio))
    check_names(list(universes))  # exit 2 naming --portfolio, before a port is bound
    # Naming either kind serves only what is named; naming neither serves everything.
    chosen = (names, universes) if names or universes else (None, None)
    try:  # refused before the store is opened or a port bound
        guard = make_guard(
            host, token_file, insecure_no_auth=insecure_no_auth, rate=rate_limit, burst=rate_burst
        )
    except GuardError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if warning := token_file_warning(token_file):
        typer.secho(warning, fg="yellow", err=True)

    import uvicorn

    from tradeforge.serving import create_app, open_book

    # Bound before anything is printed: a port in use is said once, not after the address.
    listening = _listen(host, port)
    try:
        book = open_book(
            store,
            chosen[0],
            portfolios=chosen[1],
            endpoint_url=s3_endpoint_url,
            data_ttl_s=data_ttl,
            discover_s=discover_interval,
        )
    except Exception as exc:  # the store could not be opened or listed
        raise fail(exc) from exc
    others = book.portfolios.describe() if book.portfolios is not None else []
    for kind, row in [*(("", r) for r in book.describe()), *(("portfolio ", r) for r in others)]:
        state = row.get("version_id") if row["serving"] else "not serving"
        error = f"  ({row['error']})" if row["error"] else ""
        typer.echo(f"  {kind}{row['ticker']}: {state}{error}")
    if not book.slots and not others:
        typer.echo(f"  no champion in {book.registry.store.uri} yet: polling for one")
    typer.echo(f"tradeforge serve: http://{host}:{port} (store {book.registry.store.uri})")
    typer.echo(describe(guard, host))
    app = create_app(book, poll_s=poll_interval, guard=guard, max_body_bytes=max_body_bytes)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; exit 2 naming the address when it cannot bind.

    Bound, not yet listening: until uvicorn listens on it (once the champions are loaded), a
    client is refused at once instead of waiting in the backlog."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        typer.secho(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(another server there? pick --port)",
            fg="red",
            err=True,
        )
        raise typer.Exit(2) from None
    return sock


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""
    app.command("serve")(serve)
