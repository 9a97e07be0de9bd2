"""``facefile migrate``: a library copied SQLite -> PostgreSQL -> SQLite comes back row for row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facefile.api import migrate
from facefile.cli import app
from facefile.errors import LibraryError
from facefile.store import edits
from facefile.store.copy import COPIED_TABLES
from facefile.store.db import Store
from facefile.web.crops import face_crop
from tests.fakes import draw_photo
from tests.helpers import local_dir, make_photos, open_library
from tests.test_cli import ENV


def build_library(src: Path, photos: Path, seed: Path) -> None:
    """A library holding one of everything a user can do, and everything a scan can find."""
    from tests.rawfiles import make_dng

    make_photos(photos)
    draw_photo(photos / "IMG_1.png", [4])
    make_dng(photos / "IMG_1.DNG", np.asarray(Image.open(photos / "IMG_1.png").convert("RGB")))
    # names in XMP sidecars (written by another library) become metadata names on the scan
    with open_library(seed) as lib:
        lib.scan(photos)
        lib.name(next(f.person_id for f in lib.faces() if f.photo.endswith("c1.png")), "Cy")
        lib.write_xmp()
    (src / "facefile.toml").parent.mkdir(parents=True)
    (src / "facefile.toml").write_text("[scan]\nmax_seconds_per_photo = 60.0\n")
    with open_library(src) as lib:
        lib.scan(photos)
        faces = {Path(f.photo).name + str(round(f.box.left)): f for f in lib.faces()}
        ana = faces["a1.png20"].person_id
        lib.name(ana, "Ana María")
        split = lib.move(faces["a2.png20"].id, "new")  # a move...
        lib.merge(split.id, ana)  # ...and a merge
        lib.move(faces["b1.png20"].id, "new")
        lib.not_person(faces["b2.png20"].id, faces["b2.png20"].person_id)
        lib.hide(faces["group.png170"].person_id or -1)
        lib.exclude(faces["a3.png170"].id)
        edits.different_people(lib.store, ana, faces["c1.png20"].person_id or -1)
        for f in list(faces.values())[:5]:
            face_crop(lib.store, f.id, 96)
        lib.forget(faces["d1.png20"].person_id or -1)  # tombstones
        assert lib.raw_twins() and lib.stats()["faces"] > 10


def rows(location: str | Path) -> dict[str, list[tuple[object, ...]]]:
    store = Store(location, read_only=True)
    try:
        out = {}
        for table, key in COPIED_TABLES:
            cols = [d[0] for d in store.conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
            cols = [c for c in cols if c != "vec"]
            names = ", ".join(f'"{c}"' for c in cols)
            order = ", ".join(f'"{k}"' for k in key)
            out[table] = [
                tuple(r) for r in store.conn.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
            ]
        return out
    finally:
        store.close()


def crops(location: str | Path) -> dict[str, bytes]:
    folder = local_dir(location) / "crops"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.jpg"))}


def test_sqlite_to_postgresql_and_back_loses_nothing(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    src, back = tmp_path / "lib", tmp_path / "back"
    build_library(src, tmp_path / "photos", tmp_path / "seed")
    before = rows(src)
    for table in ("photos", "faces", "embeddings", "people", "assignments", "constraints", "tombstones",
                  "runs", "meta", "metadata_names", "twins"):  # fmt: skip
        assert before[table], f"the test library has no {table}"
    assert {r[1] for r in before["constraints"]} == {"not_person", "cannot_link"}

    runner = CliRunner()
    out = runner.invoke(app, ["migrate", str(src), pg_url], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert f"{len(before['faces'])} faces" in out.output and "postgresql://" in out.output
    summary = migrate(pg_url, back)
    assert summary.rows == {table: len(r) for table, r in before.items()}

    assert rows(pg_url) == before  # every table, row for row, the same on PostgreSQL...
    assert rows(back) == before  # ...and back on SQLite
    assert crops(src) and crops(pg_url) == crops(src) and crops(back) == crops(src)
    assert (back / "facefile.toml").read_text() == (src / "facefile.toml").read_text()
    for args in (["people", "--json", "--all"], ["faces", "--json"]):
        on = [runner.invoke(app, [*args, "-L", str(where)]) for where in (src, pg_url, back)]
        assert on[0].exit_code == 0 and on[0].output == on[1].output == on[2].output

    store = Store(pg_url, read_only=True)
    try:  # the pgvector column holds the same numbers, and the HNSW index is there
        vec, raw = store.conn.execute("SELECT vec::text, vector FROM embeddings LIMIT 1").fetchone()
        assert np.array_equal(np.array(json.loads(vec), np.float32), np.frombuffer(raw, np.float32))
        defs = [
            r[0] for r in store.conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'embeddings'")
        ]
        assert any("hnsw" in d and "vector_cosine_ops" in d for d in defs), defs
    finally:
        store.close()
    with open_library(pg_url) as lib:  # new rows get ids past the copied ones
        new = lib.move([lib.faces()[0].id], "new")
        assert new.id > max(r[0] for r in before["people"])
        run_id = lib.store.start_run("test", "{}")
        assert run_id > max(r[0] for r in before["runs"])

    with pytest.raises(LibraryError, match="already holds a library"):
        migrate(src, back)  # never into a library
    with pytest.raises(LibraryError, match="same library"):
        migrate(src, src)
    assert sqlite3.connect(back / "library.db").execute("PRAGMA foreign_key_check").fetchall() == []
