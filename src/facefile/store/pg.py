"""PostgreSQL with pgvector as a library's database (the ``postgres`` extra).

Concurrency, the part that differs most from one SQLite file:

* Every writing transaction first takes one transaction-level advisory lock
  (``pg_advisory_xact_lock``), so writers take turns exactly as SQLite's
  ``BEGIN IMMEDIATE`` makes them, across processes and machines; readers
  never wait. Each transaction is short (one photo, one edit, one grouping
  write), so the turns are short too. Everything the store proved safe for
  two SQLite processes holds here unchanged: a photo saved by two scans is
  one row (the second finds the first's row and updates it), no face is
  assigned twice (``assignments`` is keyed by face), and automatic rows
  never overwrite the user's.
* The scan lock is a session-level advisory lock held on the scan's
  connection: a second scan waits for the first and then finds its photos
  done; a scan that dies releases it with its connection.
* After each commit ``facefile_data_version`` moves, so caches (the web
  page's) know another process changed something.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

from facefile.errors import LibraryError, LibraryReadOnlyError
from facefile.store import schema
from facefile.store.engine import EmbeddingRow
from facefile.store.location import NEED_EXTRA, Location, redact
from facefile.store.schema import TABLES, apply_migrations, check_known

_KEY = int.from_bytes(b"facefile", "big") & ~0xFF
WRITE_KEY = _KEY | 1
"""Advisory lock held by every writing transaction (one writer at a time)."""
SCAN_KEY = _KEY | 2
"""Advisory lock held by a scan for its whole run."""
MIGRATE_KEY = _KEY | 3
"""Advisory lock held while the schema is checked and migrated."""
LOCK_TIMEOUT = "120s"
"""How long a write waits for its turn before giving up with a message (SQLite waits 30 s)."""
CONNECT_TIMEOUT_S = 10
WAIT_POLL_S = 0.5
SCRUBBED = ("faces", "embeddings", "assignments", "constraints", "people", "metadata_names")
"""Tables ``forget`` deletes from: vacuumed afterwards so the rows leave the table files."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LibraryError(NEED_EXTRA) from None
    return psycopg


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """facefile's ``?`` placeholders as psycopg's ``%s``; a literal ``%`` becomes ``%%``.

    A ``?`` inside a quoted literal or identifier is left alone.
    """
    out: list[str] = []
    quote = ""
    for ch in sql:
        if ch == "%":
            out.append("%%")
        elif quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        else:
            out.append("%s" if ch == "?" else ch)
    return "".join(out)


class PgConnection:
    """The part of ``sqlite3.Connection`` the store uses, over a psycopg connection in autocommit mode."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[object] = ()) -> Any:
        return self.raw.execute(to_pyformat(sql), params)

    def executemany(self, sql: str, seq_of_params: Any) -> Any:
        cur = self.raw.cursor()
        cur.executemany(to_pyformat(sql), seq_of_params)
        return cur

    def close(self) -> None:
        self.raw.close()


class PgEngine:
    """A library in a PostgreSQL database (see the module docstring for the locking)."""

    dialect = "postgresql"

    def __init__(self, location: Location, *, read_only: bool = False, create: bool = True) -> None:
        psycopg = _psycopg()
        self.location = location
        self.read_only = read_only
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        self._indexed: set[str] = set()
        raw = self._connect(psycopg)
        self.conn = PgConnection(raw)
        try:
            self.conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            if read_only:
                self.conn.execute("SET default_transaction_read_only = on")
            self._open_schema(psycopg, create=create and not read_only)
        except psycopg.Error as exc:
            raw.close()
            raise self.translate(exc) from None
        except BaseException:
            raw.close()
            raise

    def _connect(self, psycopg: Any) -> Any:
        where = self.location.display
        name = f"facefile {socket.gethostname()} pid {os.getpid()}"[:63]
        try:
            return psycopg.connect(
                self.location.target,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=name,
            )
        except psycopg.Error as exc:
            text = self._why(exc)
            if "does not exist" in text and "database" in text:
                raise LibraryError(
                    f"The database of {where} does not exist ({text}); create it "
                    "(createdb, or CREATE DATABASE) or fix the URL in --library / FACEFILE_LIBRARY."
                ) from None
            if "authentication" in text or "password" in text:
                raise LibraryError(
                    f"The PostgreSQL server refused the login for {where} ({text}); "
                    "check the user and password in the URL (or ~/.pgpass)."
                ) from None
            raise LibraryError(
                f"Cannot reach the PostgreSQL server of {where} ({text}); check that it runs "
                "and that the URL's host and port are right."
            ) from None

    def _open_schema(self, psycopg: Any, *, create: bool) -> None:
        if self.conn.execute("SELECT to_regclass('migrations') IS NOT NULL").fetchone()[0]:
            applied = check_known(self.conn)
            if not create or len(applied) == len(schema.MIGRATIONS):
                return
        elif not create:
            raise LibraryError(
                f"No library at {self.location.display}: run 'facefile scan PHOTOS' with this "
                "--library first (the database has no facefile tables)."
            )
        # two processes opening a new library at once: one migrates, the other waits and finds it done
        self.conn.execute("SELECT pg_advisory_lock(?)", (MIGRATE_KEY,))
        try:
            apply_migrations(self.conn, "postgresql", "BEGIN")
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
            raise LibraryError(
                f"The PostgreSQL server of {self.location.display} has no pgvector extension "
                f"({self._why(exc)}); install pgvector on the server "
                "(https://github.com/pgvector/pgvector), then run the command again."
            ) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise LibraryError(
                f"The user of {self.location.display} may not create facefile's tables or the "
                f"pgvector extension ({self._why(exc)}); ask the database owner to run "
                "CREATE EXTENSION vector and grant CREATE on the database, or use another user."
            ) from None
        finally:
            with suppress(psycopg.Error):
                self.conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATE_KEY,))

    # -- transactions ---------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_KEY,))

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        if not self.read_only:
            self.conn.execute("SELECT nextval('facefile_data_version')")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def translate(self, exc: Exception) -> LibraryError:
        errors = _psycopg().errors
        where = self.location.display
        text = self._why(exc)
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return LibraryReadOnlyError(
                f"The library at {where} was opened read-only or the server refuses writes ({text}); "
                "nothing was changed. Use a user and server that may write."
            )
        if isinstance(exc, errors.DiskFull):
            return LibraryError(
                f"The PostgreSQL server of {where} is out of disk space ({text}); the last unfinished "
                "step was rolled back and the library is as before. Free some space and run it again."
            )
        if isinstance(exc, (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected)):
            return LibraryError(
                f"The library at {where} stayed busy ({text}); another facefile command is writing. "
                "Try again when it finishes."
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return LibraryError(
                f"The user of {where} lacks a right facefile needs ({text}); ask the database owner "
                "to grant it, or use the user that created the library."
            )
        if isinstance(exc, _psycopg().OperationalError):
            return LibraryError(
                f"Lost the connection to the PostgreSQL server of {where} ({text}); the last "
                "unfinished step was rolled back. Check the server, then run the command again."
            )
        return LibraryError(f"Library database error in {where}: {text}")

    def _why(self, exc: Exception) -> str:
        """The driver's message for one line: its first line (details and hints follow), no password."""
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return redact(lines[0].strip(), self.location.target)

    # -- the scan lock ----------------------------------------------------------
    @contextmanager
    def scan_lock(self, on_wait: Callable[[str], None] | None) -> Iterator[None]:
        """Wait for (then hold) the library's scan lock.

        A second scan waits rather than fails: two scans started together
        both finish, the second finding the first's photos done.
        """
        if not self._try_lock(SCAN_KEY):
            if on_wait is not None:
                on_wait(
                    f"Another scan of {self.location.display} is running ({self._holder(SCAN_KEY)}); "
                    "waiting for it to finish (Ctrl+C stops this one)."
                )
            while not self._try_lock(SCAN_KEY):
                time.sleep(WAIT_POLL_S)
        try:
            yield
        finally:
            with suppress(*self.errors):
                self.conn.execute("SELECT pg_advisory_unlock(?)", (SCAN_KEY,))

    def _try_lock(self, key: int) -> bool:
        try:
            return bool(self.conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0])
        except self.errors as exc:
            raise self.translate(exc) from None

    def _holder(self, key: int) -> str:
        row = self.conn.execute(
            "SELECT a.application_name, a.client_addr FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = ? AND l.objid::bigint = ? LIMIT 1",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
        if row is None:
            return "holder unknown"
        name, addr = row
        return f"{name or 'a client'}" + (f" from {addr}" if addr else "")

    # -- vectors ------------------------------------------------------------------
    def insert_embeddings(self, c: PgConnection, rows: Sequence[EmbeddingRow]) -> None:
        c.executemany(
            "INSERT INTO embeddings (face_id, model_id, view, dim, vector, vec) "
            "VALUES (?, ?, ?, ?, ?, CAST(? AS vector))",
            [
                (fid, model, view, int(vec.shape[0]), vec.tobytes(), vector_text(vec))
                for fid, model, view, vec in rows
            ],
        )
        for model, dim in {(m, int(v.shape[0])) for _, m, view, v in rows if view == "full"}:
            self.ensure_vector_index(model, dim)

    def ensure_vector_index(self, model_id: str, dim: int) -> None:
        """The HNSW index of one model's full-face vectors, made when its first vectors arrive.

        pgvector indexes only columns of a fixed dimension, so each model gets
        a partial index on ``vec::vector(dim)``.
        """
        name, sql = vector_index_sql(model_id, dim)
        if name in self._indexed:
            return
        exists = self.conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]
        if not exists:
            self.conn.execute(sql)
        self._indexed.add(name)

    def index_all_vectors(self) -> None:
        """An HNSW index for every model stored (after a bulk copy)."""
        rows = self.conn.execute(
            "SELECT DISTINCT model_id, dim FROM embeddings WHERE view = 'full' ORDER BY model_id"
        ).fetchall()
        for model_id, dim in rows:
            self.ensure_vector_index(str(model_id), int(dim))

    def nearest_faces(self, model_id: str, vectors: Any, k: int) -> list[Any]:
        """Nearest faces by the model's HNSW index (cosine distance, full view), one query per vector.

        facefile's vectors of one model share a length, so the cosine order is
        the Euclidean one the grouping uses. ``hnsw.ef_search`` is raised to
        ``2 k`` (at least pgvector's 40) so a query can return ``k`` rows.
        """
        import numpy as np

        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] == 0:
            return []
        dim = int(arr.shape[1])
        self.ensure_vector_index(model_id, dim)
        self.conn.execute(f"SET hnsw.ef_search = {max(40, 2 * int(k))}")
        sql = (
            f"SELECT face_id FROM embeddings WHERE model_id = ? AND view = 'full' "
            f"ORDER BY vec::vector({dim}) <=> CAST(? AS vector({dim})) LIMIT ?"
        )
        return [
            np.array([r[0] for r in self.conn.execute(sql, (model_id, vector_text(v), int(k)))], np.int64)
            for v in arr
        ]

    # -- erasing ----------------------------------------------------------------
    def scrub(self) -> None:
        """Vacuum the tables ``forget`` deletes from, so the erased rows leave the table files."""
        for table in SCRUBBED:
            self.conn.execute(f"VACUUM {table}")

    def erase(self) -> None:
        """Drop facefile's tables (the database and the pgvector extension stay), then close."""
        self.begin()
        try:
            self.conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
            self.conn.execute("DROP SEQUENCE IF EXISTS facefile_data_version")
            self.conn.execute("COMMIT")
        except BaseException:
            with suppress(*self.errors):
                self.rollback()
            raise
        finally:
            self.close()

    def data_version(self) -> object:
        return tuple(self.conn.execute("SELECT last_value, is_called FROM facefile_data_version").fetchone())

    def close(self) -> None:
        self.conn.close()


def vector_text(vec: Any) -> str:
    """pgvector's text form of a float32 vector; each number exact (shortest float32 digits)."""
    import numpy as np

    return "[" + ",".join(map(str, np.asarray(vec, dtype=np.float32).tolist())) + "]"


def vector_index_sql(model_id: str, dim: int) -> tuple[str, str]:
    """The name and ``CREATE INDEX`` of one model's HNSW index (cosine distance, full-face view)."""
    name = "embeddings_hnsw_" + hashlib.sha1(model_id.encode()).hexdigest()[:12]
    literal = "'" + model_id.replace("'", "''") + "'"
    sql = (
        f"CREATE INDEX IF NOT EXISTS {name} ON embeddings USING hnsw "
        f"((vec::vector({int(dim)})) vector_cosine_ops) WHERE model_id = {literal} AND view = 'full'"
    )
    return name, sql
