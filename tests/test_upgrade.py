"""Upgrading from facefile 0.1.0 (dlib) keeps every face and every decision.

``tests/data/library-0.1.0`` is a library made and edited by the real 0.1.0
release (``tests/data/make_library_0_1.py`` regenerates it): its faces carry
dlib descriptors and were found by the old cascade detector. These tests
open a copy with the current facefile and check, as a user would, that the
first scan or regroup re-embeds every face with the new model and that
face ids, names, merges, moves, "not this person", hidden people and
excluded faces all survive, also when the upgrade is interrupted. Naming
did not confirm faces in 0.1.0; opening the library does (migration
``0004_named_and_hidden_faces_confirmed``), so a named person's faces stay with the
name whatever the new model makes of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import facefile
from facefile.cli import app
from facefile.scan.scanner import ScanProgress
from facefile.types import BBox
from tests.clusterers import TIGHT

FIXTURE = Path(__file__).resolve().parent / "data" / "library-0.1.0"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
OLD_MODEL = "dlib_resnet_v1"
NEW_MODEL = "mobilefacenet_192d_v1"
NEW_DIM = 192
SETTINGS = {"scan.workers": 1}  # one process: deterministic order, and fast on two cores

# what 0.1.0 left, per face id
OLD_FACES = {f["id"]: (name, f) for name, p in EXPECTED["photos"].items() for f in p["faces"]}
USER_FACES = {fid: f["person"] for fid, (_, f) in OLD_FACES.items() if f["source"] == "user"}
PEOPLE = {int(k): (v["name"], v["hidden"]) for k, v in EXPECTED["people"].items()}
# faces 0.1.0 grouped into a named (or hidden) person: the user saw them when naming it
NAMED_FACES = {
    fid: f["person"]
    for fid, (_, f) in OLD_FACES.items()
    if f["source"] == "auto" and (PEOPLE[f["person"]][0] is not None or PEOPLE[f["person"]][1])
}
CONFIRMED = USER_FACES | NAMED_FACES
"""What the user's word is after the upgrade: moves, merges and named or hidden people's faces."""
EXCLUDED = {fid for fid, (_, f) in OLD_FACES.items() if f["excluded"]}
CONSTRAINTS = {tuple(c) for c in EXPECTED["constraints"]}
N_PHOTOS = len(EXPECTED["photos"])


@pytest.fixture
def old_library(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the 0.1.0 library and of its photos (which now live elsewhere)."""
    assert not Path(EXPECTED["photo_dir"]).exists(), "the photos must look moved"
    lib = tmp_path / "library"
    lib.mkdir()
    shutil.copyfile(FIXTURE / "library" / "library.db", lib / "library.db")
    photos = tmp_path / "photos"
    shutil.copytree(FIXTURE / "photos", photos)
    return lib, photos


def _rows(lib: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{lib / 'library.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _point_at(lib: Path, photos: Path) -> None:
    """Make the library's photo paths those of the copies: photos that never moved."""
    conn = sqlite3.connect(lib / "library.db")
    try:
        with conn:
            for name, p in EXPECTED["photos"].items():
                cur = conn.execute(
                    "UPDATE photos SET path = ? WHERE path = ?",
                    (os.fsencode(photos / name), p["path"].encode()),
                )
                assert cur.rowcount == 1
    finally:
        conn.close()


def _photo_models(lib: Path) -> dict[str, str]:
    return {
        Path(os.fsdecode(bytes(p))).name: str(m) for p, m in _rows(lib, "SELECT path, model_id FROM photos")
    }


def _embedding_models(lib: Path) -> dict[int, set[str]]:
    """Face id -> the models of its stored vectors."""
    out: dict[int, set[str]] = {}
    for fid, model in _rows(lib, "SELECT face_id, model_id FROM embeddings"):
        out.setdefault(int(fid), set()).add(str(model))  # type: ignore[arg-type]
    return out


def _assert_decisions_kept(lib: Path, confirmed: dict[int, int] = CONFIRMED) -> None:
    """Every face and every decision of the 0.1.0 library, whatever the models.

    ``confirmed``: face -> person of every user assignment (``USER_FACES``
    before this facefile opened the library, ``CONFIRMED`` after).
    """
    faces = {
        int(r[0]): r[1:]  # type: ignore[arg-type]
        for r in _rows(
            lib,
            "SELECT f.id, p.path, f.left, f.top, f.right, f.bottom, f.is_excluded "
            "FROM faces f JOIN photos p ON p.id = f.photo_id",
        )
    }
    assert set(faces) == set(OLD_FACES), "faces were lost or duplicated"
    for fid, (name, old) in OLD_FACES.items():
        path, left, top, right, bottom, excluded = faces[fid]
        assert Path(os.fsdecode(bytes(path))).name == name  # type: ignore[arg-type]
        box = BBox(left, top, right, bottom)  # type: ignore[arg-type]
        assert box.iou(BBox(*old["box"])) >= 0.3, (fid, box, old["box"])
        assert bool(excluded) == old["excluded"], fid
    assigned = dict(_rows(lib, "SELECT face_id, person_id FROM assignments WHERE source = 'user'"))
    assert assigned == confirmed  # moves, merges and named people's faces
    people = {int(i): (n, bool(h)) for i, n, h in _rows(lib, "SELECT id, name, is_hidden FROM people")}  # type: ignore[arg-type]
    for pid, kept in PEOPLE.items():
        assert people.get(pid) == kept  # names and hidden
    assert set(_rows(lib, "SELECT kind, face_id, person_id, other_face_id FROM constraints")) == CONSTRAINTS


def _assert_upgraded(lib: Path) -> None:
    """All decisions kept, every face on the new model only, grouping that honours them."""
    _assert_decisions_kept(lib)
    assert set(_photo_models(lib).values()) == {NEW_MODEL}
    vectors = _embedding_models(lib)
    assert set(vectors) == set(OLD_FACES)  # excluded faces are re-embedded too
    assert all(models == {NEW_MODEL} for models in vectors.values()), vectors
    assert {d for (d,) in _rows(lib, "SELECT DISTINCT dim FROM embeddings")} == {NEW_DIM}
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        by_name = {p.name: p for p in library.people()}
        assert "Eileen Collins" in by_name and "Look-alike" in by_name
        hidden = [p for p in library.people(include_hidden=True) if p.is_hidden]
        assert [p.id for p in hidden] == [pid for pid, (_, h) in PEOPLE.items() if h]
        assert hidden[0].id not in {p.id for p in library.people()}
        listed = {f.id: f for f in library.faces()}
        assert set(listed) == set(OLD_FACES) - EXCLUDED
        for fid, pid in CONFIRMED.items():
            assert listed[fid].person_id == pid and listed[fid].source == "user"
        # "not this person" is honoured by the new grouping
        for kind, fid, pid, _ in CONSTRAINTS:
            if kind == "not_person":
                assert listed[fid].person_id != pid, (fid, pid)
        pair = [listed[f["id"]].person_id for f in EXPECTED["photos"]["pair.jpg"]["faces"]]
        assert None in pair or pair[0] != pair[1]  # two faces in one photo are two people
        assert library.face(next(iter(EXCLUDED))).person_id is None


def test_fixture_is_what_0_1_0_left(old_library: tuple[Path, Path]) -> None:
    # the fixture must hold every kind of decision the upgrade has to keep
    assert EXPECTED["embedding_models"] == [OLD_MODEL]
    assert {p["model_id"] for p in EXPECTED["photos"].values()} == {OLD_MODEL}
    assert len(OLD_FACES) == EXPECTED["n_faces"] == 10
    assert {c[0] for c in CONSTRAINTS} == {"not_person", "cannot_link"}
    assert any(name for name, _ in PEOPLE.values()) and any(h for _, h in PEOPLE.values())
    assert EXCLUDED and USER_FACES
    assert len(set(USER_FACES.values())) >= 3  # named, merged and hidden people
    lib, _ = old_library
    assert _rows(lib, "SELECT DISTINCT model_id FROM embeddings") == [(OLD_MODEL,)]
    _assert_decisions_kept(lib, USER_FACES)  # expected.json describes library.db
    assert NAMED_FACES  # named people with faces 0.1.0 grouped there (the upgrade confirms them)


def test_scan_after_upgrade_reembeds_moved_photos_and_keeps_every_decision(
    old_library: tuple[Path, Path],
) -> None:
    lib, photos = old_library
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        summary = library.scan(photos)
        assert summary.problems == []
        assert summary.photos_moved == N_PHOTOS  # found again by content
        assert summary.photos_analyzed == N_PHOTOS  # and analysed by the new model
        assert summary.faces_found == len(OLD_FACES)
    _assert_upgraded(lib)
    assert _rows(lib, "SELECT COUNT(*) FROM photos") == [(N_PHOTOS,)]
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        before = [(f.id, f.person_id, f.box) for f in library.faces()]
        again = library.scan(photos)
        assert again.photos_analyzed == 0
        assert again.photos_unchanged == N_PHOTOS
        assert [(f.id, f.person_id, f.box) for f in library.faces()] == before


def test_regroup_after_upgrade_reembeds_in_place_and_keeps_every_decision(
    old_library: tuple[Path, Path],
) -> None:
    lib, photos = old_library
    _point_at(lib, photos)
    seen: list[ScanProgress] = []
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        result = library.regroup(on_progress=seen.append)
    assert result.faces == len(OLD_FACES) - len(EXCLUDED)
    analyzed = [p for p in seen if p.phase == "analyze"]
    assert analyzed[0].done == 0 and analyzed[0].total == N_PHOTOS
    assert analyzed[-1].done == analyzed[-1].total == N_PHOTOS
    _assert_upgraded(lib)
    # the blurred photo's three overlapping old faces (two of them 0.1's false
    # faces, one excluded) are all still there, whichever the new detector finds
    blurred = {f["id"] for f in EXPECTED["photos"]["blurred.jpg"]["faces"]}
    assert blurred <= set(dict(_rows(lib, "SELECT id, detector FROM faces")))


def test_interrupted_upgrade_resumes_without_losing_or_duplicating(old_library: tuple[Path, Path]) -> None:
    lib, photos = old_library
    _point_at(lib, photos)
    assignments = sorted(
        (fid, pid, "user" if fid in NAMED_FACES else source)  # opening confirms named people's faces
        for fid, pid, source in _rows(lib, "SELECT face_id, person_id, source FROM assignments")
    )

    def stop_after_first(p: ScanProgress) -> None:
        if p.phase == "analyze" and p.done >= 1:
            raise KeyboardInterrupt

    with facefile.Library(lib, create=False, settings=SETTINGS) as library, pytest.raises(KeyboardInterrupt):
        library.regroup(on_progress=stop_after_first)
    # one photo on the new model, the rest untouched, nothing lost
    models = _photo_models(lib)
    done = [name for name, m in models.items() if m == NEW_MODEL]
    assert len(done) == 1 and sorted(set(models.values())) == sorted({NEW_MODEL, OLD_MODEL})
    _assert_decisions_kept(lib)
    assert _rows(lib, "SELECT face_id, person_id, source FROM assignments ORDER BY face_id") == assignments
    vectors = _embedding_models(lib)
    for fid, (name, _) in OLD_FACES.items():
        assert vectors[fid] == {NEW_MODEL if name in done else OLD_MODEL}, (fid, name)
    # grouping now would compare only the new model's vectors: never two models at once
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        matrix = library.store.face_matrix(NEW_MODEL)
        first = {f["id"] for f in EXPECTED["photos"][done[0]]["faces"]} - EXCLUDED
        assert set(matrix.face_ids.tolist()) == first and matrix.embeddings.shape[1] == NEW_DIM
    seen: list[ScanProgress] = []
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        library.regroup(on_progress=seen.append)
    assert max(p.total for p in seen if p.phase == "analyze") == N_PHOTOS - 1  # only the rest
    _assert_upgraded(lib)


def test_cli_regroup_upgrades_the_library(old_library: tuple[Path, Path]) -> None:
    lib, photos = old_library
    _point_at(lib, photos)
    result = CliRunner().invoke(app, ["regroup", "--library", str(lib)])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^{len(OLD_FACES) - len(EXCLUDED)} faces: \d+ in \d+ people", result.output, re.M)
    _assert_upgraded(lib)


def test_photo_resaved_since_0_1_0_is_still_known_after_a_move(old_library: tuple[Path, Path]) -> None:
    lib, photos = old_library
    _point_at(lib, photos)
    small = photos / "small.jpg"
    with Image.open(small) as im:
        resaved = im.copy()
    resaved.save(small, quality=95)  # new bytes (an editor saved it again), the face where it was
    (fid,) = (f["id"] for f in EXPECTED["photos"]["small.jpg"]["faces"])
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        library.regroup()
    (photos / "album").mkdir()
    small.rename(photos / "album" / "small.jpg")
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        summary = library.scan(photos)
        assert summary.photos_moved == 1 and summary.photos_analyzed == 0
        face = library.face(fid)
        assert face.photo == str(photos / "album" / "small.jpg")
        assert (face.person_id, face.source) == (USER_FACES[fid], "user")
    _assert_upgraded(lib)


def test_named_people_keep_their_faces_under_any_grouping_after_upgrade(
    old_library: tuple[Path, Path],
) -> None:
    # 0.1.0 grouped faces 6, 7 and 8 into the named people without the user
    # moving them; the user named those people while looking at them
    lib, photos = old_library
    _point_at(lib, photos)
    with facefile.Library(lib, create=False, settings=SETTINGS) as library:
        library.regroup()
    # a grouping that links no two of these faces (as a new model or setting may)
    with facefile.Library(lib, create=False, settings={**SETTINGS, "group.clusterer": TIGHT}) as library:
        library.regroup()
        for fid, pid in CONFIRMED.items():
            face = library.face(fid)
            assert (face.person_id, face.source) == (pid, "user"), fid
        names = {pid: library.person(pid).name for pid in set(NAMED_FACES.values())}
        assert names == {pid: PEOPLE[pid][0] for pid in names}
        assert "your word" in library.why(next(iter(NAMED_FACES))).text
    _assert_decisions_kept(lib)
