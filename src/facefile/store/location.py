"""Where a library lives: a folder (SQLite) or a PostgreSQL URL.

A folder holds ``library.db`` and the crop cache. A PostgreSQL library keeps
its rows in the database and, on each machine that uses it, a local folder
for what belongs to that machine: the crop cache and ``facefile.toml``. That
folder is ``$XDG_CACHE_HOME/facefile/pg-<hash>`` (default ``~/.cache``),
where the hash is of the URL without its password, so every machine and user
finds its own folder for the same server and database.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from facefile.errors import LibraryError

URL_SCHEMES = ("postgresql://", "postgres://")
NEED_EXTRA = "PostgreSQL libraries need the postgres extra: pip install 'facefile[postgres]'"


@dataclass(frozen=True)
class Location:
    """A parsed library location.

    Attributes:
        target: what the store opens: the resolved folder, or the full URL
            (password included; never print it).
        display: safe to print: the folder, or the URL without its password.
        local_dir: the folder holding crops and ``facefile.toml``.
        is_postgres: whether the rows live on a PostgreSQL server.
    """

    target: str
    display: str
    local_dir: Path
    is_postgres: bool

    def __str__(self) -> str:
        return self.display


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(URL_SCHEMES)


def parse_location(
    value: str | os.PathLike[str] | Location, environ: Mapping[str, str] | None = None
) -> Location:
    """A folder path or a ``postgresql://`` URL as a :class:`Location`.

    Raises:
        LibraryError: a malformed URL, or a URL without the postgres extra.
    """
    if isinstance(value, Location):
        return value
    if is_postgres_url(value):
        return _postgres_location(str(value).strip(), os.environ if environ is None else environ)
    folder = Path(value).expanduser().resolve()
    return Location(str(folder), str(folder), folder, is_postgres=False)


def _postgres_location(url: str, environ: Mapping[str, str]) -> Location:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise LibraryError(NEED_EXTRA) from None
    try:
        parts = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError; the message may echo the URL
        raise LibraryError(_bad_url(url, redact(str(exc).strip(), url))) from None
    port = str(parts.get("port", ""))
    if port and not port.isdigit():
        raise LibraryError(_bad_url(url, f"port {port!r} is not a number"))
    if not parts.get("dbname"):
        raise LibraryError(_bad_url(url, "it names no database"))
    display = safe_url(parts)
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    digest = hashlib.sha256(display.encode()).hexdigest()[:16]
    return Location(url, display, base / "facefile" / f"pg-{digest}", is_postgres=True)


def safe_url(parts: dict[str, object]) -> str:
    """``postgresql://user@host:port/db``, never with the password."""
    user = str(parts.get("user") or "")
    host = str(parts.get("host") or "")
    port = str(parts.get("port") or "")
    is_socket = host.startswith("/")
    netloc = (f"{user}@" if user else "") + ("" if is_socket else host) + (f":{port}" if port else "")
    query = f"?host={host}" if is_socket else ""
    return f"postgresql://{netloc}/{parts.get('dbname', '')}{query}"


def _bad_url(url: str, why: str) -> str:
    return (
        f"Bad PostgreSQL library URL {redact_url(url)}: {why}. Write it as "
        "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE."
    )


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) starred out."""
    url = re.sub(r"(://[^:@/?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def redact(text: str, url: str) -> str:
    """``text`` (e.g. a driver's message) with any password from ``url`` blanked out."""
    from urllib.parse import unquote, urlsplit

    secrets = set(re.findall(r"(?i)password=([^&]*)", url))
    with suppress(ValueError):
        secrets.add(urlsplit(url).password or "")
    for s in sorted(filter(None, secrets | {unquote(s) for s in secrets}), key=len, reverse=True):
        text = text.replace(s, "***")
    return text
