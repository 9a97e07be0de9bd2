"""The database engine under a :class:`~facefile.store.db.Store`: SQLite or PostgreSQL.

The store writes one SQL text for both engines (``?`` placeholders, upserts
with ``ON CONFLICT``, ``RETURNING id``); an engine does what differs: how a
writing transaction starts, the scan lock, how vectors are stored and
indexed, how erased rows are scrubbed and how the whole library is erased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from facefile.errors import LibraryError

Connection = Any
"""``sqlite3.Connection`` or :class:`facefile.store.pg.PgConnection`: ``execute(sql, params)``
returning a cursor (``fetchone``, ``fetchall``, iteration, ``rowcount``) and ``executemany``."""

EmbeddingRow = tuple[int, str, str, NDArray[np.float32]]
"""``(face_id, model_id, view, vector)``: one descriptor to store."""


class Engine(Protocol):
    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""
    conn: Connection
    """Takes ``?`` placeholders on both engines."""
    errors: tuple[type[Exception], ...]
    """The driver's exceptions, which :meth:`translate` turns into :class:`LibraryError`."""

    def begin(self) -> None:
        """Start a writing transaction; one writer at a time holds the library."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def translate(self, exc: Exception) -> LibraryError:
        """A driver error as one line that says what to do."""
        ...

    def scan_lock(self, on_wait: Callable[[str], None] | None) -> AbstractContextManager[None]:
        """Held by a scan for its whole run."""
        ...

    def insert_embeddings(self, c: Connection, rows: Sequence[EmbeddingRow]) -> None:
        """Store descriptors inside the current transaction."""

    def nearest_faces(
        self, model_id: str, vectors: NDArray[np.float32], k: int
    ) -> list[NDArray[np.int64]] | None:
        """The ``k`` faces nearest each vector (full view) by the database's own index.

        ``None`` where the engine has no vector index (SQLite: facefile
        searches its loaded descriptors in-process instead).
        """
        ...

    def scrub(self) -> None:
        """Make erased rows unrecoverable from the database files (outside a transaction)."""

    def erase(self) -> None:
        """Erase every row facefile keeps (``forget --all``), then close."""

    def data_version(self) -> object:
        """A value that changes whenever any process commits a change."""
        ...

    def close(self) -> None: ...
