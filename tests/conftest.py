"""Shared fixtures: real faces from scikit-image and ../shared/data; SQLite and PostgreSQL libraries."""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LFW_DIR = SHARED_DATA / "lfw-dev"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The labelled LFW half; tests that need it skip where it is absent."""
    if not LFW_DIR.is_dir():
        pytest.skip(f"real-face data not found at {LFW_DIR} (see shared/data/README.md)")
    return LFW_DIR


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo: one frontal face, RGB uint8 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


# -- library backends ------------------------------------------------------------
# Tests that take ``library_location`` run twice: on a SQLite folder and on a
# fresh database of one PostgreSQL server (with pgvector) started for the session
# by pgserver. Where pgserver is not installed they skip, except in CI (``$CI``
# set, or ``FACEFILE_TEST_POSTGRES=required`` as .ci/run sets it), where a
# missing server fails the run.

BACKENDS = ("sqlite", "postgresql")
_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    try:
        import pgserver
        import psycopg
    except ImportError:
        if os.environ.get("CI") or os.environ.get("FACEFILE_TEST_POSTGRES") == "required":
            raise
        pytest.skip("PostgreSQL tests need pgserver and psycopg (pip install '.[test]'); CI always runs them")
    # not under pytest's tmp folder: run as root, pgserver starts postgres as another
    # user, who must be able to reach the data folder (pytest's is private to root)
    server = pgserver.get_server(tempfile.mkdtemp(prefix="facefile-pg-"), cleanup_mode="delete")
    # every test database is copied from template1, so each starts with pgvector
    with psycopg.connect(_with_dbname(server.get_uri(), "template1"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        # a throwaway server need not survive a power cut: commits and the final checkpoint skip fsync
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    yield server
    # an immediate shutdown: the data is thrown away, so the checkpoint a clean stop
    # writes after many CREATE DATABASEs (10-30 s here) buys nothing
    import psutil  # pgserver's own dependency

    postmaster = psutil.Process(int((Path(server.pgdata) / "postmaster.pid").read_text().split()[0]))
    with suppress(psutil.NoSuchProcess):
        postmaster.send_signal(signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while postmaster.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
    server.cleanup()  # deletes the folder


def _with_dbname(url: str, dbname: str) -> str:
    """``url`` naming another database (pgserver's URLs look like postgresql://postgres:@/postgres?host=/tmp/x)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@pytest.fixture()
def pg_url(pg_server: object) -> str:
    """A new, empty database on the session's server."""
    import psycopg

    name = f"t_{os.getpid()}_{next(_databases)}"
    admin = pg_server.get_uri()  # type: ignore[attr-defined]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return _with_dbname(admin, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def library_location(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Where the test's library goes: a folder, or a ``postgresql://`` URL.

    A PostgreSQL library's local folder (crops, settings) lands under ``tmp_path/cache``.
    """
    if backend == "sqlite":
        return str(tmp_path / "lib")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return str(request.getfixturevalue("pg_url"))
