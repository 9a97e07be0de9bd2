"""The SQLite store: migrations, atomic photo writes, refusal of newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facefile.errors import SchemaTooNewError
from facefile.store.db import Store
from facefile.store.schema import MIGRATIONS
from facefile.types import BBox, Detection, FaceQuality, FaceResult


def _face(left: float) -> FaceResult:
    return FaceResult(
        detection=Detection(BBox(left, 10, left + 50, 60), 0.9, "test"),
        landmarks=np.zeros((5, 2), np.float32),
        quality=FaceQuality(50, 100, 0.9, 0.0, 0.8),
        embeddings={"full": np.arange(128, dtype=np.float32) + left},
    )


def test_fresh_library_has_schema_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path)
    names = {r[0] for r in store.conn.execute("SELECT name FROM migrations")}
    assert names == {m.name for m in MIGRATIONS}
    assert store.scalar("PRAGMA journal_mode") == "wal"
    store.close()
    Store(tmp_path).close()  # reopening applies nothing twice


def test_newer_database_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "library.db")
    conn.execute("INSERT INTO migrations VALUES ('9999_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="newer facefile"):
        Store(tmp_path)


def test_save_photo_stores_faces_and_vectors_with_model(tmp_path: Path) -> None:
    store = Store(tmp_path)
    pid, ids = store.save_photo(
        raw=b"/p/x.jpg", size=10, mtime_ns=1, content_hash="h", width=200, height=100,
        faces=(_face(10), _face(100)), model_id="m1",
    )  # fmt: skip
    assert len(ids) == 2
    m = store.face_matrix("m1")
    assert m.embeddings.shape == (2, 128) and m.embeddings[0, 0] == 10
    assert store.face_matrix("other").embeddings.shape[0] == 0
    # analysing the photo again replaces its faces, never duplicates them
    store.save_photo(
        raw=b"/p/x.jpg", size=11, mtime_ns=2, content_hash="h2", width=200, height=100,
        faces=(_face(10),), model_id="m1",
    )  # fmt: skip
    assert [f.photo_id for f in store.faces()] == [pid]


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    bad = FaceResult(
        detection=Detection(BBox(0, 0, 10, 10), 0.9, "t"),
        landmarks=np.zeros((5, 2), np.float32),
        quality=FaceQuality(10, 1, 0.9, 0.0, 0.5),
        embeddings={"full": np.zeros(4, np.float32), "full ": None},  # type: ignore[dict-item]
    )
    with pytest.raises(Exception):  # noqa: B017 - any failure must roll back
        store.save_photo(
            raw=b"/p/y.jpg", size=1, mtime_ns=1, content_hash="h", width=10, height=10,
            faces=(bad,), model_id="m",
        )  # fmt: skip
    assert store.photo_by_path(b"/p/y.jpg") is None
    assert store.faces() == []


def test_occlusion_scores_reach_the_grouping_input(tmp_path: Path) -> None:
    from dataclasses import replace

    store = Store(tmp_path)
    masked = _face(100)
    masked = replace(masked, quality=replace(masked.quality, occlusion_lower=0.9, occlusion_eyes=0.1))
    store.save_photo(
        raw=b"/p/x.jpg", size=10, mtime_ns=1, content_hash="h", width=200, height=100,
        faces=(_face(10), masked), model_id="m1",
    )  # fmt: skip
    m = store.face_matrix("m1")
    assert m.occlusion.shape == (2, 3)
    assert np.allclose(m.occlusion, [[0, 0, 0], [0.9, 0.1, 0]])


def test_library_from_before_occlusion_scores_opens_with_zeros(tmp_path: Path) -> None:
    """A library written by the first release gains the columns; its faces read as uncovered."""
    conn = sqlite3.connect(tmp_path / "library.db")
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for stmt in MIGRATIONS[0].sql("sqlite").split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("INSERT INTO migrations VALUES (?, 'then')", (MIGRATIONS[0].name,))
    conn.execute("INSERT INTO photos (path, status) VALUES (x'2f612e6a7067', 'ok')")
    conn.execute(
        "INSERT INTO faces (photo_id, left, top, right, bottom, detector, det_score, size_px, sharpness, "
        "yaw, quality, created_at) VALUES (1, 0, 0, 10, 10, 'hog', 1, 10, 1, 0, 1, 'then')"
    )
    conn.execute("INSERT INTO embeddings VALUES (1, 'm', 'full', 2, ?)", (np.ones(2, np.float32).tobytes(),))
    conn.commit()
    conn.close()
    store = Store(tmp_path)
    assert np.array_equal(store.face_matrix("m").occlusion, np.zeros((1, 3), np.float32))
