"""Real erasure: after ``facefile forget``, the bytes are gone, not just the rows.

The forgotten person's faces sit at positions no other face has, so their
boxes are distinctive 8-byte doubles; the test collects every byte pattern
the person left (name, embeddings, landmarks, boxes, crop files) before the
command and searches every file of the library folder for them afterwards.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import draw_photo
from tests.hostile import BOX_FRACTION, cli_env, make_collection, run_cli, snapshot_files

NAME = "Zelda Quintessa Forgettable"
TARGET = 7  # an identity drawn only in the target's own photos
TARGET_SIZE, TARGET_FACE_PX = (433, 251), 71  # a face height no other photo has


@dataclass(frozen=True)
class Traces:
    """Everything of the target person, as it is stored."""

    person: int
    face_ids: list[int]
    patterns: dict[str, bytes]  # what -> bytes that must not remain


def library_bytes(library: Path) -> dict[str, bytes]:
    """Every file in the library folder (the database, its WAL and SHM, crops, ...)."""
    out = {}
    for path in library.rglob("*"):
        if path.is_file():
            out[str(path.relative_to(library))] = path.read_bytes()
    return out


def find(patterns: dict[str, bytes], files: dict[str, bytes]) -> list[str]:
    return [
        f"{what} in {name}" for what, pat in patterns.items() for name, data in files.items() if pat in data
    ]


def collect_traces(library: Path) -> Traces:
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        person = conn.execute("SELECT id FROM people WHERE name = ?", (NAME,)).fetchone()[0]
        rows = conn.execute(
            "SELECT f.id, f.left, f.top, f.right, f.bottom, f.landmarks FROM faces f "
            "JOIN assignments a ON a.face_id = f.id WHERE a.person_id = ?",
            (person,),
        ).fetchall()
        patterns: dict[str, bytes] = {"name": NAME.encode("utf-8")}
        for fid, left, top, right, bottom, landmarks in rows:
            # a REAL with a fraction is stored as an 8-byte big-endian double
            patterns[f"face-{fid} box"] = struct.pack(">dddd", left, top, right, bottom)
            patterns[f"face-{fid} landmarks"] = bytes(landmarks)
            for view, vector in conn.execute("SELECT view, vector FROM embeddings WHERE face_id = ?", (fid,)):
                patterns[f"face-{fid} {view} embedding"] = bytes(vector)
                patterns[f"face-{fid} {view} embedding (a slice)"] = bytes(vector)[200:232]
        # the target's own face height appears in no other face
        patterns["box top"] = struct.pack(">d", rows[0][2])
        patterns["box bottom"] = struct.pack(">d", rows[0][4])
        return Traces(person, [int(r[0]) for r in rows], patterns)
    finally:
        conn.close()


@pytest.fixture()
def library(tmp_path: Path) -> tuple[Path, Path]:
    photos, library = tmp_path / "photos", tmp_path / "library"
    make_collection(photos / "others", 16, seed=5, n_identities=4)
    for i in range(4):
        draw_photo(
            photos / "target" / f"t{i}.png", [TARGET], size=(TARGET_SIZE[0] + i, TARGET_SIZE[1]),
            face_px=TARGET_FACE_PX,
        )  # fmt: skip
    env = cli_env("fake_hostile")
    assert run_cli("scan", photos, "-L", library, "-q", env=env).returncode == 0
    conn = sqlite3.connect(library / "library.db")
    person = conn.execute(
        "SELECT DISTINCT a.person_id FROM assignments a JOIN faces f ON f.id = a.face_id WHERE f.top = ?",
        ((TARGET_SIZE[1] - TARGET_FACE_PX) // 2 + BOX_FRACTION,),
    ).fetchall()
    conn.close()
    assert len(person) == 1
    named = run_cli("name", str(person[0][0]), NAME, "-L", library, env=env)
    assert named.returncode == 0, named.stderr
    return photos, library


def make_crops(library: Path) -> dict[int, Path]:
    """Fill the crop cache (``crops/<size>/<face id>.jpg``) for every face, as the web page does."""
    from facefile.store.db import Store
    from facefile.web.crops import face_crop

    store = Store(library, read_only=True)
    try:
        ids = [int(r[0]) for r in store.conn.execute("SELECT id FROM faces")]
        out = {fid: face_crop(store, fid, 160) for fid in ids}
        for fid in ids:
            face_crop(store, fid, 96)
    finally:
        store.close()
    assert all(p.is_file() and p.is_relative_to(library / "crops") for p in out.values())
    return out


def test_forget_leaves_no_byte_of_the_person(library: tuple[Path, Path]) -> None:
    _photos, lib = library
    env = cli_env("fake_hostile")
    crops = make_crops(lib)
    traces = collect_traces(lib)
    assert len(traces.face_ids) == 4
    assert find(traces.patterns, library_bytes(lib)), "the search finds the person before forget"
    n_faces_before = len(run_cli("faces", "--json", "-L", lib, env=env).stdout.split('"face"'))

    out = run_cli("forget", f"person-{traces.person:04d}", "--yes", "-L", lib, env=env)
    assert out.returncode == 0, out.stderr
    assert "4 faces" in out.stdout

    files = library_bytes(lib)
    assert "library.db" in files
    assert find(traces.patterns, files) == []
    for fid, path in crops.items():
        assert path.exists() == (fid not in traces.face_ids)
    # everyone else is still there
    faces_after = run_cli("faces", "--json", "-L", lib, env=env).stdout
    assert len(faces_after.split('"face"')) == n_faces_before - 4
    people = run_cli("people", "--json", "-L", lib, env=env)
    assert NAME not in people.stdout and people.stdout.count('"person"') == 4


def test_forgotten_faces_do_not_come_back_on_rescan(library: tuple[Path, Path], tmp_path: Path) -> None:
    photos, lib = library
    env = cli_env("fake_hostile")
    traces = collect_traces(lib)
    assert run_cli("forget", NAME, "--yes", "-L", lib, env=env).returncode == 0
    again = run_cli("scan", photos, "-L", lib, "-q", env=env)
    assert again.returncode == 0, again.stderr
    # the same photos under new names are analysed afresh: still nothing of the person
    copies = tmp_path / "copies"
    shutil.copytree(photos / "target", copies)
    fresh = run_cli("scan", copies, "-L", lib, "-q", env=env)
    assert fresh.returncode == 0, fresh.stderr
    conn = sqlite3.connect(f"file:{lib / 'library.db'}?mode=ro", uri=True)
    top = (TARGET_SIZE[1] - TARGET_FACE_PX) // 2 + BOX_FRACTION
    n_target_faces = conn.execute("SELECT COUNT(*) FROM faces WHERE top = ?", (top,)).fetchone()[0]
    prefix = os.fsencode(copies) + b"/"
    n_copies = conn.execute(
        "SELECT COUNT(*) FROM photos WHERE status = 'ok' AND substr(path, 1, ?) = ?", (len(prefix), prefix)
    ).fetchone()[0]
    conn.close()
    assert n_copies == 4
    assert n_target_faces == 0  # ...and none of the person's faces came back
    assert find({k: v for k, v in traces.patterns.items() if "embedding" in k}, library_bytes(lib)) == []


def test_forget_all_erases_the_whole_library(library: tuple[Path, Path]) -> None:
    photos, lib = library
    env = cli_env("fake_hostile")
    make_crops(lib)
    traces = collect_traces(lib)
    originals = snapshot_files(photos)
    out = run_cli("forget", "--all", "--yes", "-L", lib, env=env)
    assert out.returncode == 0, out.stderr
    left = library_bytes(lib)
    assert not [n for n in left if n.startswith(("library.db", "crops"))], sorted(left)
    assert find(traces.patterns, left) == []
    assert snapshot_files(photos) == originals
    people = run_cli("people", "-L", lib, env=env)
    assert people.returncode == 1 and "No library" in people.stderr
