"""Schema migrations of the library database.

A migration is applied in one transaction together with its record in
``migrations``. Applied migrations are never edited: change the schema by
appending a new one. A database that has migrations this code does not know
was written by a newer facefile and is refused.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from facefile.errors import SchemaTooNewError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
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
    ),
    (
        "0002_face_occlusion",
        """
        -- How likely the lower face, the eyes and one side are covered, 0-1
        -- (facefile.analyze.quality.occlusion); NULL for faces analysed before this
        -- migration, whose photos the next scan analyses again.
        ALTER TABLE faces ADD COLUMN occ_lower REAL;
        ALTER TABLE faces ADD COLUMN occ_eyes REAL;
        ALTER TABLE faces ADD COLUMN occ_side REAL;
        """,
    ),
    (
        "0003_metadata_names",
        """
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
    ),
    (
        "0004_video_faces",
        """
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
    ),
]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied; return the names applied.

    Raises:
        SchemaTooNewError: the database has migrations unknown to this code.
    """
    return apply_migrations(conn, MIGRATIONS, "BEGIN IMMEDIATE")


def apply_migrations(conn: Any, migrations: list[tuple[str, str]], begin: str) -> list[str]:
    """Apply ``migrations`` not yet recorded in ``migrations``, each in one transaction.

    ``conn`` is a sqlite3 connection or :class:`facefile.store.pg.PgConnection`
    in autocommit mode; ``begin`` starts a transaction on it.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = check_known(conn, migrations)
    done: list[str] = []
    for name, sql in migrations:
        if name in applied:
            continue
        conn.execute(begin)
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(name)
    return done


def check_known(conn: Any, migrations: list[tuple[str, str]]) -> set[str]:
    """The applied migrations' names.

    Raises:
        SchemaTooNewError: one of them is unknown to this code.
    """
    applied = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    unknown = sorted(applied - {name for name, _ in migrations})
    if unknown:
        raise SchemaTooNewError(
            f"This library was written by a newer facefile (migrations {', '.join(unknown)}); "
            "upgrade facefile (pip install -U facefile) to open it."
        )
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
