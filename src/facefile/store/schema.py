"""Schema migrations of the library database, one list for both engines.

A migration has a name and its SQL for each engine (SQLite, PostgreSQL);
the names are the same on both, so a library's version reads the same
wherever it lives. A migration is applied in one transaction together with
its record in ``migrations``. Applied migrations are never edited: change
the schema by appending a new one, with the SQL of both engines. A database
that has migrations this code does not know was written by a newer facefile
and is refused.

PostgreSQL differs from SQLite, each for a reason:

* ``DOUBLE PRECISION`` where SQLite says ``REAL`` (8 bytes in SQLite; ``REAL``
  would be 4 in PostgreSQL and lose digits on the way through ``migrate``).
* ``BIGINT`` ids and sizes (SQLite integers are 64-bit); photo, face,
  constraint and run ids are identity columns, people ids are chosen by
  facefile.
* ``BYTEA`` for file-system paths and float32 blobs.
* ``embeddings.vec`` (pgvector) beside ``embeddings.vector``: the exact
  float32 bytes stay the copy every reader uses (one code path for both
  engines, and ``migrate`` copies them bit for bit); ``vec`` holds the same
  numbers for the HNSW index (:func:`facefile.store.pg.vector_index_sql`).
* ``"left"`` and ``"right"`` are reserved words in PostgreSQL; the store's
  SQL quotes them on both engines.
* ``facefile_data_version`` is bumped after every commit, so the web page
  knows when another process changed the library.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from facefile.errors import SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    """One named schema step.

    Attributes:
        name: recorded in ``migrations`` once applied; never reused.
        sqlite, postgresql: the statements for each engine, ``;``-separated
            (``--`` comments are dropped); ``postgresql`` ``None`` runs the
            SQLite text there too.
    """

    name: str
    sqlite: str
    postgresql: str | None = None

    def sql(self, dialect: str) -> str:
        """The statements for ``dialect`` (``"sqlite"`` or ``"postgresql"``)."""
        if dialect == "sqlite":
            return self.sqlite
        if dialect == "postgresql":
            return self.sqlite if self.postgresql is None else self.postgresql
        raise ValueError(f"unknown SQL dialect {dialect!r}")


MIGRATIONS: list[Migration] = [
    Migration(
        "0001_initial",
        sqlite="""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            path BLOB NOT NULL UNIQUE,          -- file-system bytes, exact
            size INTEGER,
            mtime_ns INTEGER,
            content_hash TEXT,
            width INTEGER,
            height INTEGER,
            status TEXT NOT NULL CHECK (status IN ('ok', 'missing', 'error')),
            error TEXT,
            model_id TEXT,
            scanned_at TEXT
        );
        CREATE INDEX photos_status ON photos(status);
        CREATE INDEX photos_content_hash ON photos(content_hash);
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT,
            is_hidden INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            left REAL NOT NULL, top REAL NOT NULL, right REAL NOT NULL, bottom REAL NOT NULL,
            landmarks BLOB,                     -- float32 (n, 2), image pixels
            detector TEXT NOT NULL,
            det_score REAL NOT NULL,
            size_px REAL NOT NULL,
            sharpness REAL NOT NULL,
            yaw REAL NOT NULL,
            quality REAL NOT NULL,
            is_excluded INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX faces_photo ON faces(photo_id);
        CREATE TABLE embeddings (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            view TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,               -- float32 (dim,)
            PRIMARY KEY (face_id, model_id, view)
        );
        CREATE TABLE assignments (
            face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ('auto', 'user')),
            confidence REAL NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX assignments_person ON assignments(person_id);
        CREATE TABLE constraints (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('not_person', 'cannot_link')),
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
            other_face_id INTEGER REFERENCES faces(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            UNIQUE (kind, face_id, person_id, other_face_id)
        );
        CREATE INDEX constraints_face ON constraints(face_id);
        -- One-way keys of forgotten faces, so a re-scan does not bring them back.
        CREATE TABLE tombstones (key TEXT PRIMARY KEY);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT NOT NULL,               -- JSON
            summary TEXT                        -- JSON
        );
        """,
        postgresql="""
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE photos (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            path BYTEA NOT NULL UNIQUE,
            size BIGINT,
            mtime_ns BIGINT,
            content_hash TEXT,
            width INTEGER,
            height INTEGER,
            status TEXT NOT NULL CHECK (status IN ('ok', 'missing', 'error')),
            error TEXT,
            model_id TEXT,
            scanned_at TEXT
        );
        CREATE INDEX photos_status ON photos(status);
        CREATE INDEX photos_content_hash ON photos(content_hash);
        CREATE TABLE people (
            id BIGINT PRIMARY KEY,
            name TEXT,
            is_hidden INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE faces (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            photo_id BIGINT NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            "left" DOUBLE PRECISION NOT NULL,
            top DOUBLE PRECISION NOT NULL,
            "right" DOUBLE PRECISION NOT NULL,
            bottom DOUBLE PRECISION NOT NULL,
            landmarks BYTEA,
            detector TEXT NOT NULL,
            det_score DOUBLE PRECISION NOT NULL,
            size_px DOUBLE PRECISION NOT NULL,
            sharpness DOUBLE PRECISION NOT NULL,
            yaw DOUBLE PRECISION NOT NULL,
            quality DOUBLE PRECISION NOT NULL,
            is_excluded INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX faces_photo ON faces(photo_id);
        CREATE TABLE embeddings (
            face_id BIGINT NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            view TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BYTEA NOT NULL,
            vec vector NOT NULL,
            PRIMARY KEY (face_id, model_id, view)
        );
        CREATE TABLE assignments (
            face_id BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ('auto', 'user')),
            confidence DOUBLE PRECISION NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX assignments_person ON assignments(person_id);
        CREATE TABLE constraints (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('not_person', 'cannot_link')),
            face_id BIGINT NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id BIGINT REFERENCES people(id) ON DELETE CASCADE,
            other_face_id BIGINT REFERENCES faces(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            UNIQUE (kind, face_id, person_id, other_face_id)
        );
        CREATE INDEX constraints_face ON constraints(face_id);
        -- PostgreSQL checks each cascaded delete through these: without them,
        -- forgetting a person scans the whole table once per face.
        CREATE INDEX constraints_person ON constraints(person_id);
        CREATE INDEX constraints_other_face ON constraints(other_face_id);
        CREATE TABLE tombstones (key TEXT PRIMARY KEY);
        CREATE TABLE runs (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT NOT NULL,
            summary TEXT
        );
        CREATE SEQUENCE facefile_data_version;
        """,
    ),
    Migration(
        "0002_face_occlusion",
        sqlite="""
        -- How likely the lower face, the eyes and one side are covered, 0-1
        -- (facefile.analyze.quality.occlusion); NULL for faces analysed before this
        -- migration, whose photos the next scan analyses again.
        ALTER TABLE faces ADD COLUMN occ_lower REAL;
        ALTER TABLE faces ADD COLUMN occ_eyes REAL;
        ALTER TABLE faces ADD COLUMN occ_side REAL;
        """,
        postgresql="""
        ALTER TABLE faces ADD COLUMN occ_lower DOUBLE PRECISION;
        ALTER TABLE faces ADD COLUMN occ_eyes DOUBLE PRECISION;
        ALTER TABLE faces ADD COLUMN occ_side DOUBLE PRECISION;
        """,
    ),
    Migration(
        "0003_metadata_names",
        sqlite="""
        -- The photo's sidecars when its face regions were last read
        -- (facefile.metadata.sidecar_signature; '' for none); NULL: never read.
        ALTER TABLE photos ADD COLUMN meta_sig TEXT;
        -- Names that metadata gave a face and facefile applied, so reading the
        -- same metadata again changes nothing and a later edit in facefile wins.
        CREATE TABLE metadata_names (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            source BLOB NOT NULL,               -- the file it was read from
            applied_at TEXT NOT NULL,
            PRIMARY KEY (face_id, name)
        );
        -- RAW files shot together with a JPEG (or HEIC, TIFF) of the same name:
        -- one photo, analysed from that file; the RAW is listed with it.
        CREATE TABLE twins (
            path BLOB PRIMARY KEY,              -- the RAW file's file-system bytes
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE
        );
        CREATE INDEX twins_photo ON twins(photo_id);
        """,
        postgresql="""
        ALTER TABLE photos ADD COLUMN meta_sig TEXT;
        CREATE TABLE metadata_names (
            face_id BIGINT NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            source BYTEA NOT NULL,
            applied_at TEXT NOT NULL,
            PRIMARY KEY (face_id, name)
        );
        CREATE TABLE twins (
            path BYTEA PRIMARY KEY,
            photo_id BIGINT NOT NULL REFERENCES photos(id) ON DELETE CASCADE
        );
        CREATE INDEX twins_photo ON twins(photo_id);
        """,
    ),
    Migration(
        "0004_named_and_hidden_faces_confirmed",
        sqlite="""
        -- Naming or hiding a person confirms the faces it holds
        -- (facefile.store.edits.rename, set_hidden); before, only moves and
        -- merges did, and a regroup could take a named person's faces from
        -- the name. The faces a named or hidden person holds when the library
        -- is upgraded are what its user saw: they become the user's.
        UPDATE assignments SET source = 'user', confidence = 1.0
        WHERE source = 'auto'
        AND person_id IN (SELECT id FROM people WHERE name IS NOT NULL OR is_hidden = 1);
        """,
    ),
    Migration(
        "0005_video_faces",
        sqlite="""
        -- 'video' for a video file (facefile.media.video): its faces are tracks,
        -- one per appearance; width and height are the displayed frame's.
        ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo'
            CHECK (kind IN ('photo', 'video'));
        ALTER TABLE photos ADD COLUMN duration_s REAL;
        -- A video face's time span and the frame of its box and crop, seconds
        -- from the first frame; NULL for faces of photos.
        ALTER TABLE faces ADD COLUMN t_start REAL;
        ALTER TABLE faces ADD COLUMN t_end REAL;
        ALTER TABLE faces ADD COLUMN t_frame REAL;
        """,
        postgresql="""
        ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo'
            CHECK (kind IN ('photo', 'video'));
        ALTER TABLE photos ADD COLUMN duration_s DOUBLE PRECISION;
        ALTER TABLE faces ADD COLUMN t_start DOUBLE PRECISION;
        ALTER TABLE faces ADD COLUMN t_end DOUBLE PRECISION;
        ALTER TABLE faces ADD COLUMN t_frame DOUBLE PRECISION;
        """,
    ),
]

TABLES = (
    "twins",
    "metadata_names",
    "runs",
    "tombstones",
    "constraints",
    "assignments",
    "embeddings",
    "faces",
    "people",
    "photos",
    "meta",
    "migrations",
)
"""Every table facefile creates, children first (``forget --all`` drops them)."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied to a SQLite library; return the names applied.

    Raises:
        SchemaTooNewError: the database has migrations unknown to this code.
    """
    return apply_migrations(conn, "sqlite", "BEGIN IMMEDIATE")


def apply_migrations(
    conn: Any, dialect: str, begin: str, migrations: Sequence[Migration] | None = None
) -> list[str]:
    """Apply the migrations not yet recorded in ``migrations``, each in one transaction.

    Args:
        conn: a sqlite3 connection or :class:`facefile.store.pg.PgConnection`
            in autocommit mode.
        dialect: ``"sqlite"`` or ``"postgresql"``, the SQL to run.
        begin: the statement that starts a transaction on ``conn``.
        migrations: default :data:`MIGRATIONS`.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = check_known(conn, migrations)
    done: list[str] = []
    for m in migrations:
        if m.name in applied:
            continue
        conn.execute(begin)
        try:
            for statement in _statements(m.sql(dialect)):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (m.name, now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(m.name)
    return done


def check_known(conn: Any, migrations: Sequence[Migration] | None = None) -> set[str]:
    """The applied migrations' names.

    Raises:
        SchemaTooNewError: one of them is unknown to this code.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    applied = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    unknown = sorted(applied - {m.name for m in migrations})
    if unknown:
        raise SchemaTooNewError(
            f"This library was written by a newer facefile (migrations {', '.join(unknown)}); "
            "upgrade facefile (pip install -U facefile) to open it."
        )
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
