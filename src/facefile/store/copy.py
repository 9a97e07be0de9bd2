"""Copying a library to another location, SQLite or PostgreSQL (``facefile migrate``).

Rows are read from one snapshot of the source (a read transaction; on
PostgreSQL ``REPEATABLE READ``) in primary-key order, a batch at a time,
and written in the same order with the same ids, so face-123 stays
face-123 and every decision keeps pointing where it did. Columns are taken
from the source table itself, so a column added by a later migration is
copied without changes here. The crop cache and ``facefile.toml`` follow.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facefile.errors import LibraryError, LibraryReadOnlyError
from facefile.store.db import Store
from facefile.store.location import Location

BATCH_ROWS = 2000

COPIED_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meta", ("key",)),
    ("photos", ("id",)),
    ("people", ("id",)),
    ("faces", ("id",)),
    ("embeddings", ("face_id", "model_id", "view")),
    ("assignments", ("face_id",)),
    ("constraints", ("id",)),
    ("tombstones", ("key",)),
    ("runs", ("id",)),
    ("metadata_names", ("face_id", "name")),
    ("twins", ("path",)),
)
"""Every table a library keeps (``migrations`` excepted), parents first, with its primary key."""

IDENTITY_TABLES = ("photos", "faces", "constraints", "runs")
"""Tables whose ids PostgreSQL hands out: its counters move past the copied ids."""

PG_ONLY_COLUMNS = {"embeddings": ("vec",)}
"""Columns that exist only on PostgreSQL, derived from others (filled when writing there)."""

_SNAPSHOT = {"sqlite": "BEGIN", "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"}


@dataclass
class CopySummary:
    rows: dict[str, int] = field(default_factory=dict)
    """Rows copied per table."""
    crops: int = 0
    """Crop files copied."""
    is_settings_copied: bool = False
    """Whether ``facefile.toml`` was copied."""


ProgressFn = Callable[[str, int, int], None]


def copy_library(
    src: Location,
    dst: Location,
    *,
    settings_file: str | None = None,
    on_progress: ProgressFn | None = None,
) -> CopySummary:
    """Copy every row, the crops and the settings file of ``src`` into an empty ``dst``.

    ``settings_file`` (``facefile.toml``) is copied from the source's local
    folder unless the destination has one.

    Raises:
        LibraryError: no library at ``src``, ``dst`` holds rows or crops,
            both are one place, or a database cannot be used.
    """
    if src.target == dst.target:
        raise LibraryError(f"Source and destination are the same library ({src}); name two places.")
    source = _open_source(src)
    try:
        target = Store(dst, create=True)
        try:
            _refuse_non_empty(target)
            _check_same_schema(source, target)
            summary = CopySummary()
            source.conn.execute(_SNAPSHOT[source.dialect])
            try:
                for table, key in COPIED_TABLES:
                    summary.rows[table] = _copy_table(source, target, table, key, on_progress)
            finally:
                source.conn.execute("COMMIT")
            _finish(target)
            summary.crops = _copy_crops(source.library_dir / "crops", target.library_dir / "crops")
            if settings_file:
                summary.is_settings_copied = _copy_file(source.library_dir, target.library_dir, settings_file)
            return summary
        finally:
            target.close()
    finally:
        source.close()


def _open_source(src: Location) -> Store:
    """The source, opened for writing where possible so an older schema is brought up to date."""
    try:
        return Store(src, create=False)
    except LibraryReadOnlyError:
        return Store(src, read_only=True)


def _refuse_non_empty(target: Store) -> None:
    for table, _ in COPIED_TABLES:
        if target.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            raise LibraryError(
                f"The destination {target.location} already holds a library ({table} has rows); "
                "migrate copies only into an empty place. Choose another, or erase it first "
                "(facefile forget --all -L DESTINATION)."
            )
    crops = target.library_dir / "crops"
    if crops.is_dir() and any(crops.rglob("*.jpg")):
        raise LibraryError(
            f"The destination's crop folder {crops} is not empty; remove it, or choose another destination."
        )


def _check_same_schema(source: Store, target: Store) -> None:
    def names(store: Store) -> set[str]:
        return {str(r[0]) for r in store.conn.execute("SELECT name FROM migrations")}

    missing = sorted(names(target) - names(source))
    if missing:
        raise LibraryError(
            f"The source {source.location} is of an older facefile (lacks migrations {', '.join(missing)}) "
            "and is read-only here; open it once with write access (e.g. facefile regroup -L SOURCE), "
            "then migrate."
        )


def _columns(store: Store, table: str) -> list[str]:
    cur = store.conn.execute(f"SELECT * FROM {table} LIMIT 0")
    cur.fetchall()
    return [d[0] for d in cur.description if d[0] not in PG_ONLY_COLUMNS.get(table, ())]


def _copy_table(
    source: Store, target: Store, table: str, key: tuple[str, ...], on_progress: ProgressFn | None
) -> int:
    columns = _columns(source, table)
    total = int(source.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    extra_names, extra_marks = "", ""
    add_vec = target.dialect == "postgresql" and table == "embeddings"
    if add_vec:
        extra_names, extra_marks = ', "vec"', ", CAST(? AS vector)"
    insert = f"INSERT INTO {table} ({names}{extra_names}) VALUES ({marks}{extra_marks})"
    vector_at = columns.index("vector") if add_vec else -1
    done = 0
    if on_progress:
        on_progress(table, 0, total)
    for rows in _batches(source, table, columns, key):
        if add_vec:
            from facefile.store.pg import vector_text

            rows = [(*r, vector_text(np.frombuffer(r[vector_at], dtype=np.float32))) for r in rows]
        with target.transaction() as c:
            c.executemany(insert, rows)
        done += len(rows)
        if on_progress:
            on_progress(table, done, total)
    return done


def _batches(source: Store, table: str, columns: list[str], key: tuple[str, ...]) -> Iterator[list[tuple]]:
    """The table's rows in key order, ``BATCH_ROWS`` at a time (keyset paging: no big result held)."""
    names = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(f'"{k}"' for k in key)
    at = [columns.index(k) for k in key]
    after = f"({order}) > ({', '.join('?' * len(key))})" if len(key) > 1 else f"{order} > ?"
    last: tuple | None = None
    while True:
        where = f"WHERE {after} " if last is not None else ""
        rows = [
            tuple(r)
            for r in source.conn.execute(
                f"SELECT {names} FROM {table} {where}ORDER BY {order} LIMIT ?",
                (*(last or ()), BATCH_ROWS),
            )
        ]
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][i] for i in at)


def _finish(target: Store) -> None:
    """PostgreSQL: identity counters past the copied ids; the vector indexes, built once after the rows."""
    if target.dialect != "postgresql":
        return
    for table in IDENTITY_TABLES:
        target.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), "
            f"MAX(id) IS NOT NULL) FROM {table}"
        )
    target.engine.index_all_vectors()  # type: ignore[attr-defined]


def _copy_crops(src: Path, dst: Path) -> int:
    if not src.is_dir():
        return 0
    n = 0
    for path in sorted(src.rglob("*")):
        if path.is_file() and not path.name.startswith(".tmp-"):
            out = dst / path.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
            n += 1
    return n


def _copy_file(src_dir: Path, dst_dir: Path, name: str) -> bool:
    src, dst = src_dir / name, dst_dir / name
    if not src.is_file() or dst.exists():
        return False
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return True
