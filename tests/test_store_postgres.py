"""The PostgreSQL store: schema versions, vectors and their index, erasure, and errors that say what to do."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from facefile.api import Library
from facefile.errors import LibraryError, LibraryReadOnlyError, SchemaTooNewError
from facefile.store import schema
from facefile.store.db import Store
from facefile.store.pg import to_pyformat
from tests.fakes import FAKE_SETTINGS
from tests.helpers import make_photos, open_library


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_both_engines_know_the_same_migrations_and_columns(tmp_path: Path, pg_url: str, cache: Path) -> None:
    Store(tmp_path / "lib").close()
    lite = sqlite3.connect(tmp_path / "lib" / "library.db")
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert sorted(tables) == sorted(schema.TABLES)  # forget --all drops every one
    pg = Store(pg_url)
    try:
        for table in tables:
            theirs = {r[1] for r in lite.execute(f"PRAGMA table_info({table})")}
            ours = {
                r[0]
                for r in pg.conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,)
                )
            }
            assert ours - {"vec"} == theirs, table
        assert {r[0] for r in pg.conn.execute("SELECT name FROM migrations")} == set(
            r[0] for r in lite.execute("SELECT name FROM migrations")
        )
    finally:
        pg.close()


def test_a_newer_library_is_refused(pg_url: str, cache: Path) -> None:
    store = Store(pg_url)
    store.conn.execute("INSERT INTO migrations VALUES ('9999_future', 'x')")
    store.close()
    for read_only in (False, True):
        with pytest.raises(SchemaTooNewError, match="newer facefile"):
            Store(pg_url, read_only=read_only)


def test_vectors_are_kept_exactly_and_indexed(tmp_path: Path, pg_url: str, cache: Path) -> None:
    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0, 1]})
    with open_library(pg_url) as lib:
        lib.scan(tmp_path / "photos")
        conn = lib.store.conn
        for vec, raw, dim in conn.execute("SELECT vec::text, vector, dim FROM embeddings"):
            floats = np.frombuffer(raw, np.float32)
            assert floats.shape == (dim,)
            assert np.array_equal(np.array(vec.strip("[]").split(","), np.float32), floats)
        (indexdef,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'embeddings_hnsw_%'"
        ).fetchone()
        assert "hnsw" in indexdef and "vector_cosine_ops" in indexdef and "fake_squares_v1" in indexdef
        # the index answers a nearest-face query of the model (the follow-up uses it)
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT face_id FROM embeddings WHERE model_id = 'fake_squares_v1' AND view = 'full' "
                "ORDER BY vec::vector(128) <=> (SELECT vec FROM embeddings LIMIT 1)::vector(128) LIMIT 3"
            )
        )
        assert "embeddings_hnsw_" in plan, plan


def test_forget_deletes_the_rows_and_vacuums_them_away(tmp_path: Path, pg_url: str, cache: Path) -> None:
    """PostgreSQL never zeroes freed space (SQLite's ``secure_delete`` does): what facefile can do is
    delete the rows and vacuum them away at once, so no query, index or later ``migrate`` finds them."""
    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0], "b1.png": [1], "b2.png": [1]})
    with open_library(pg_url) as lib:
        lib.scan(tmp_path / "photos")
        target = next(f.person_id for f in lib.faces() if f.photo.endswith("a1.png"))
        conn = lib.store.conn
        faces = [f.id for f in lib.faces(target)]
        lib.forget(target)
        assert (
            conn.execute("SELECT COUNT(*) FROM embeddings WHERE face_id = ANY(?)", (faces,)).fetchone()[0]
            == 0
        )
        stats = dict(
            (r[0], r[1:])
            for r in conn.execute("SELECT relname, n_dead_tup, last_vacuum FROM pg_stat_user_tables")
        )
        for table in ("faces", "embeddings", "assignments", "people"):
            dead, vacuumed = stats[table]
            assert dead == 0 and vacuumed is not None, table


def test_read_only_and_forget_all(tmp_path: Path, pg_url: str, cache: Path) -> None:
    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0]})
    with open_library(pg_url) as lib:
        lib.scan(tmp_path / "photos")
        person = lib.people()[0]
    with Library(pg_url, settings=FAKE_SETTINGS, read_only=True) as reader:
        assert reader.people() == [person]
        with pytest.raises(LibraryReadOnlyError, match="read-only"):
            reader.name(person.id, "Ana")
    with open_library(pg_url) as lib:
        lib.forget_all()
    store_conn = __import__("psycopg").connect(pg_url)  # the database stays, facefile's tables go
    try:
        left = store_conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    finally:
        store_conn.close()
    assert left == []
    with pytest.raises(LibraryError, match=r"No library at postgresql://.*facefile scan"):
        Library(pg_url, settings=FAKE_SETTINGS, create=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://ann:s3cr3t-pw@127.0.0.1:1/photos", "Cannot reach the PostgreSQL server"),
        ("postgresql://ann:s3cr3t-pw@127.0.0.1:notaport/photos", "Bad PostgreSQL library URL"),
        ("postgresql://ann:s3cr3t-pw@127.0.0.1/photos?nonsense=1", "Bad PostgreSQL library URL"),
        ("postgresql://ann:s3cr3t-pw@127.0.0.1", "names no database"),
    ],
)
def test_connection_problems_are_one_line_without_the_password(url: str, message: str, cache: Path) -> None:
    with pytest.raises(LibraryError) as caught:
        Library(url)
    text = str(caught.value)
    assert message in text and "s3cr3t-pw" not in text and "\n" not in text


def test_a_missing_database_and_a_missing_extension(
    pg_url: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LibraryError, match=r"does not exist.*createdb"):
        Library(pg_url.replace("/t_", "/nothere_"))
    first, *rest = schema.MIGRATIONS
    broken = first.sql("postgresql").replace(
        "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION no_such_vector_ext"
    )
    monkeypatch.setattr(schema, "MIGRATIONS", [dataclasses.replace(first, postgresql=broken), *rest])
    with pytest.raises(LibraryError, match=r"no pgvector extension.*install pgvector"):
        Library(pg_url)


def test_without_the_postgres_extra_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    with pytest.raises(LibraryError, match=r"need the postgres extra: pip install 'facefile\[postgres\]'"):
        Library("postgresql://me@db.example/photos")


def test_placeholders_become_psycopg_ones() -> None:
    assert to_pyformat("SELECT ? , '?', \"a?\" WHERE x LIKE '5%' AND y = ?") == (
        "SELECT %s , '?', \"a?\" WHERE x LIKE '5%%' AND y = %s"
    )


def test_a_face_forgotten_on_another_machine_loses_its_crop_here(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facefile.errors import NotFoundError
    from facefile.web.crops import face_crop

    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0]})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "here"))
    with open_library(pg_url) as here:
        here.scan(tmp_path / "photos")
        face = here.faces()[0]
        crop = face_crop(here.store, face.id, 96)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "there"))  # another machine's crop folder
        with open_library(pg_url) as there:
            assert there.path != here.path
            there.forget(face.person_id or -1)
        assert crop.exists()  # nobody told this machine...
        with pytest.raises(NotFoundError):
            face_crop(here.store, face.id, 96)
        assert not crop.exists()  # ...until the crop was asked for
