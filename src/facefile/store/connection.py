"""SQLite: opening a folder's ``library.db`` with the settings facefile relies on."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from facefile.errors import LibraryError, LibraryReadOnlyError
from facefile.store.engine import EmbeddingRow
from facefile.store.locks import folder_lock
from facefile.store.schema import migrate

DB_NAME = "library.db"
NO_LIBRARY = (
    "No library at {where}: run 'facefile scan PHOTOS' first "
    "(or point --library / FACEFILE_LIBRARY at an existing one)."
)


class SqliteEngine:
    """A library folder's ``library.db``: WAL, one writer at a time (``BEGIN IMMEDIATE``)."""

    dialect = "sqlite"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, library_dir: Path, *, read_only: bool = False, create: bool = True) -> None:
        if not create and not read_only and not (library_dir / DB_NAME).exists():
            raise LibraryError(NO_LIBRARY.format(where=library_dir))
        self.library_dir = library_dir
        self.conn = open_connection(library_dir, read_only=read_only)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def translate(self, exc: Exception) -> LibraryError:
        return translate_error(exc, self.library_dir)  # type: ignore[arg-type]

    def scan_lock(self, on_wait: Callable[[str], None] | None) -> AbstractContextManager[None]:
        return folder_lock(self.library_dir)

    def insert_embeddings(self, c: sqlite3.Connection, rows: Sequence[EmbeddingRow]) -> None:
        c.executemany(
            "INSERT INTO embeddings (face_id, model_id, view, dim, vector) VALUES (?, ?, ?, ?, ?)",
            [(fid, model, view, int(vec.shape[0]), vec.tobytes()) for fid, model, view, vec in rows],
        )

    def nearest_faces(self, model_id: str, vectors: Any, k: int) -> None:
        return None  # no vector index: searched in-process (facefile.cluster.knn)

    def scrub(self) -> None:
        """Fold the WAL in, truncate it, vacuum (``secure_delete`` zeroed the rows already)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.execute("VACUUM")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def erase(self) -> None:
        self.conn.close()
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            (self.library_dir / name).unlink(missing_ok=True)

    def data_version(self) -> object:
        """The database and WAL files' times and sizes: any commit by any process moves them."""
        stamps: list[object] = []
        for name in (DB_NAME, f"{DB_NAME}-wal"):
            try:
                st = (self.library_dir / name).stat()
                stamps += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def close(self) -> None:
        self.conn.close()


def open_connection(library_dir: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database of a library.

    Writers get WAL, foreign keys, ``secure_delete`` (erased rows are zeroed
    on disk, so ``forget`` leaves nothing behind) and a long busy timeout so
    two commands queue instead of failing. Readers open with ``mode=ro``.

    Raises:
        LibraryReadOnlyError: the folder or disk refuses writes.
        LibraryError: the database cannot be opened for another reason.
        SchemaTooNewError: a newer facefile wrote this library.
    """
    path = library_dir / DB_NAME
    try:
        if read_only:
            if not path.exists():
                raise LibraryError(NO_LIBRARY.format(where=library_dir))
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        library_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(library_dir, os.W_OK):
            raise LibraryReadOnlyError(
                f"The library folder {library_dir} is read-only: choose a writable folder "
                "with --library or fix its permissions."
            )
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        migrate(conn)
        return conn
    except sqlite3.OperationalError as exc:
        raise translate_error(exc, library_dir) from exc


def translate_error(exc: sqlite3.Error, library_dir: Path) -> LibraryError:
    """Turn SQLite's disk-level failures into messages that say what to do."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or "attempt to write" in text:
        return LibraryReadOnlyError(
            f"The library at {library_dir} is on a read-only disk or folder ({exc}); "
            "nothing was changed. Choose a writable --library."
        )
    if "disk is full" in text or "database or disk is full" in text:
        return LibraryError(
            f"The disk holding {library_dir} is full ({exc}); the last unfinished step was "
            "rolled back and the library is as before. Free some space and run the command again."
        )
    if "unable to open" in text:
        return LibraryError(
            f"Cannot open the library database in {library_dir} ({exc}); check that the folder "
            "exists and is readable."
        )
    if "locked" in text or "busy" in text:
        return LibraryError(
            f"The library at {library_dir} stayed busy ({exc}); another facefile command is "
            "writing. Try again when it finishes."
        )
    return LibraryError(f"Library database error in {library_dir}: {exc}")
