"""``facefile serve``: the web page on this machine (registered in ``facefile.cli``)."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated

import typer

LibraryOpt = Annotated[
    str | None,
    typer.Option(
        "--library",
        "-L",
        help="Library folder or postgresql://USER@HOST/DB (default: $FACEFILE_LIBRARY or "
        "~/.local/share/facefile).",
        show_default=False,
    ),
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    library: LibraryOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on. Anything but 127.0.0.1 needs the printed access token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Browse people and fix mistakes in a web page on this machine."""
    import uvicorn

    from facefile.api import Library
    from facefile.web.app import create_app

    with Library(library, create=False) as lib:  # refuse a missing library before listening
        location = lib.location
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    app = create_app(location, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"facefile: serving {location}")
    typer.echo(f"Open {url}")
    if token:
        typer.echo("Anyone with this address can change the library; share it only with yourself.")
    typer.echo("Press Ctrl+C to stop.")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
