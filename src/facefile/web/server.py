"""Starting the web page on this machine; ``facefile serve`` (in :mod:`facefile.cli`) parses its options."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from facefile.store.location import Location


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Server:
    """A web app ready to listen.

    Attributes:
        app: the ASGI app; location: the library it serves.
        host, port: where it listens; url: the address to open (with the
            access token when ``host`` is not a loopback address).
        token: that token, or ``None`` on loopback.
    """

    app: Any
    location: Location
    host: str
    port: int
    url: str
    token: str | None


def prepare_server(library: str | None, host: str, port: int) -> Server:
    """The app for ``library`` at ``host:port``; a missing library is refused before anything listens.

    Raises:
        LibraryError: no library at ``library``.
    """
    from facefile.api import Library
    from facefile.web.app import create_app

    with Library(library, create=False) as lib:
        location = lib.location
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    return Server(create_app(location, token=token), location, host, port, url, token)


def run_server(server: Server) -> None:
    """Listen until interrupted (Ctrl+C)."""
    import uvicorn

    uvicorn.run(server.app, host=server.host, port=server.port, log_level="warning", server_header=False)
