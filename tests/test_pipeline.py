"""Scanning a folder into people, with fake backends (fast, known identities), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from facefile.errors import ConstraintError
from tests.fakes import draw_photo
from tests.helpers import make_photos, open_library, partition, truth


def test_scan_groups_every_face_into_its_person(tmp_path: Path, library_location: str) -> None:
    layout = make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        summary = lib.scan(tmp_path / "photos")
        assert summary.photos_found == len(layout)
        assert summary.faces_found == sum(len(v) for v in layout.values())
        assert summary.problems == []
        assert partition(lib) == truth(layout)
        assert lib.stats()["people"] == 4


def test_two_faces_in_one_photo_are_never_one_person(tmp_path: Path, library_location: str) -> None:
    # the same identity twice in one photo (twins, a poster): must be split
    make_photos(tmp_path / "photos", {"twins.png": [0, 0], "x.png": [0], "y.png": [0]})
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        faces = [f for f in lib.faces() if f.photo.endswith("twins.png")]
        assert len(faces) == 2
        persons = [f.person_id for f in faces if f.person_id is not None]
        assert len(persons) == len(set(persons))


def test_rescan_is_idempotent_and_keeps_ids(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        before = [(f.id, f.person_id) for f in lib.faces()]
        again = lib.scan(tmp_path / "photos")
        assert again.photos_analyzed == 0
        assert again.photos_unchanged == again.photos_found
        assert [(f.id, f.person_id) for f in lib.faces()] == before


def test_person_ids_and_names_stable_when_library_grows(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        ana = next(f.person_id for f in lib.faces() if f.photo.endswith("a1.png"))
        assert ana is not None
        lib.name(ana, "Ana")
        make_photos(tmp_path / "photos" / "more", {"a9.png": [0], "e1.png": [4], "e2.png": [4]})
        lib.scan(tmp_path / "photos")
        new_a = next(f for f in lib.faces() if f.photo.endswith("a9.png"))
        assert new_a.person_id == ana
        assert lib.person(ana).name == "Ana"
        assert lib.person("Ana").n_faces == 5
        # the clusterer hears which people have names (it keeps their pairs together)
        from facefile.regroup import load_grouping_input

        _, data = load_grouping_input(lib.store, lib.settings)
        assert data.named_people == frozenset({ana})


def test_moved_photo_keeps_faces_and_people(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        face = next(f for f in lib.faces() if f.photo.endswith("d1.png"))
        assert face.person_id is not None
        lib.name(face.person_id, "Dee")
        os.makedirs(tmp_path / "photos" / "sub")
        shutil.move(tmp_path / "photos" / "d1.png", tmp_path / "photos" / "sub" / "renamed.png")
        summary = lib.scan(tmp_path / "photos")
        assert summary.photos_moved == 1
        assert summary.photos_analyzed == 0
        moved = lib.face(face.id)
        assert moved.photo.endswith("sub/renamed.png")
        assert lib.person(moved.person_id or -1).name == "Dee"


def test_deleted_photo_is_marked_missing_not_dropped(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        face = next(f for f in lib.faces() if f.photo.endswith("c1.png"))
        lib.move(face.id, "new")
        (tmp_path / "photos" / "c1.png").unlink()
        summary = lib.scan(tmp_path / "photos")
        assert summary.photos_missing == 1
        kept = lib.face(face.id)
        assert kept.source == "user"
        assert lib.stats()["missing"] == 1


def test_user_decisions_survive_regrouping(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        faces = {Path(f.photo).name + str(round(f.box.left)): f for f in lib.faces()}
        b1 = faces["b1.png20"]
        a1 = faces["a1.png20"]
        # the user says b1 is really the person of a1 (a deliberate "mistake")
        lib.move(b1.id, a1.person_id or -1)
        c1 = faces["c1.png20"]
        lib.not_person(c1.id, c1.person_id or -1)
        lib.regroup()
        assert lib.face(b1.id).person_id == a1.person_id
        assert lib.face(c1.id).person_id != c1.person_id
        lib.scan(tmp_path / "photos")
        assert lib.face(b1.id).person_id == a1.person_id
        assert lib.face(c1.id).person_id != c1.person_id


def test_merge_survives_regrouping(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos", {"c1.png": [2], "c2.png": [2], "d1.png": [3], "d2.png": [3]})
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        d = next(f for f in lib.faces() if f.photo.endswith("d1.png")).person_id
        c = next(f for f in lib.faces() if f.photo.endswith("c1.png")).person_id
        assert d is not None and c is not None and c != d
        lib.merge(d, c)
        lib.regroup()
        lib.scan(tmp_path / "photos")
        assert {f.person_id for f in lib.faces()} == {c}


def test_merge_of_people_seen_together_is_refused(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        group = [f.person_id for f in lib.faces() if f.photo.endswith("group.png")]
        with pytest.raises(ConstraintError, match="appear together"):
            lib.merge(group[0] or -1, group[1] or -1)


def test_forget_erases_and_rescan_does_not_bring_back(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        d = next(f for f in lib.faces() if f.photo.endswith("d1.png")).person_id
        n_before = len(lib.faces())
        assert lib.forget(d or -1) == 2  # d1 and the group photo
        assert len(lib.faces()) == n_before - 2
        (tmp_path / "photos" / "d1.png").touch()  # changed timestamp: photo is re-read
        lib.scan(tmp_path / "photos")
        assert len(lib.faces()) == n_before - 2


def test_excluded_face_is_not_grouped(tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        face = next(f for f in lib.faces() if f.photo.endswith("a2.png"))
        lib.exclude(face.id)
        lib.regroup()
        assert all(f.id != face.id for f in lib.faces())
        assert lib.store.face(face.id).person_id is None


def test_two_workers_give_the_same_result(tmp_path: Path, library_location: str) -> None:
    layout = make_photos(tmp_path / "photos")
    with open_library(library_location, **{"scan.workers": 2}) as lib:
        lib.scan(tmp_path / "photos")
        assert partition(lib) == truth(layout)


def test_bad_files_are_reported_and_the_scan_goes_on(tmp_path: Path, library_location: str) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, {"good.png": [0], "good2.png": [0]})
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "text.png").write_text("not an image")
    good = (photos / "good.png").read_bytes()
    (photos / "truncated.png").write_bytes(good[: len(good) // 3])
    os.symlink(photos / "nowhere.jpg", photos / "broken.jpg")
    with open_library(library_location) as lib:
        summary = lib.scan(photos)
        reasons = {Path(p).name: r for p, r in summary.problems}
        assert set(reasons) == {"empty.jpg", "text.png", "truncated.png", "broken.jpg"}
        assert "empty" in reasons["empty.jpg"]
        assert "not an image" in reasons["text.png"]
        assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
        assert "broken symbolic link" in reasons["broken.jpg"]
        assert summary.faces_found == 2


def test_changed_photo_is_analyzed_again_and_keeps_user_placement(
    tmp_path: Path, library_location: str
) -> None:
    photos = tmp_path / "photos"
    make_photos(photos)
    with open_library(library_location) as lib:
        lib.scan(photos)
        face = next(f for f in lib.faces() if f.photo.endswith("b1.png"))
        pid = lib.move(face.id, "new").id
        draw_photo(photos / "b1.png", [1], size=(700, 480))  # same place, new pixels
        summary = lib.scan(photos)
        assert summary.photos_analyzed == 1
        again = next(f for f in lib.faces() if f.photo.endswith("b1.png"))
        assert again.person_id == pid and again.source == "user"


def test_large_library_places_new_faces_incrementally(tmp_path: Path, library_location: str) -> None:
    # with the threshold at 5 faces, the second scan only places the new faces
    make_photos(tmp_path / "photos")
    with open_library(library_location, **{"group.incremental_above": 5}) as lib:
        lib.scan(tmp_path / "photos")
        before = {f.id: f.person_id for f in lib.faces()}
        ana = next(f.person_id for f in lib.faces() if f.photo.endswith("a1.png"))
        make_photos(tmp_path / "photos" / "more", {"a9.png": [0], "e1.png": [4], "e2.png": [4]})
        lib.scan(tmp_path / "photos")
        after = {f.id: f.person_id for f in lib.faces()}
        assert {k: after[k] for k in before} == before  # existing faces untouched
        new = [f for f in lib.faces() if f.id not in before]
        assert next(f.person_id for f in new if f.photo.endswith("a9.png")) == ana
        e = {f.person_id for f in new if "/e" in f.photo}
        assert len(e) == 1 and None not in e and not e & set(before.values())


def test_photos_from_an_older_analysis_are_analyzed_again(tmp_path: Path, library_location: str) -> None:
    """A library from the first release (no occlusion scores) or from another
    model is analysed again by the next scan, keeping the user's placements."""
    photos = tmp_path / "photos"
    layout = make_photos(photos)
    with open_library(library_location) as lib:
        lib.scan(photos)
        face = next(f for f in lib.faces() if f.photo.endswith("b1.png"))
        pid = lib.move(face.id, "new").id
        store = lib.store
        with store.transaction() as c:
            c.execute("UPDATE faces SET occ_lower = NULL, occ_eyes = NULL, occ_side = NULL")
        summary = lib.scan(photos)
        assert summary.photos_analyzed == len(layout)
        assert store.scalar("SELECT COUNT(*) FROM faces WHERE occ_lower IS NULL") == 0
        again = next(f for f in lib.faces() if f.photo.endswith("b1.png"))
        assert again.person_id == pid and again.source == "user"
        assert lib.scan(photos).photos_analyzed == 0
        with store.transaction() as c:
            c.execute("UPDATE photos SET model_id = 'an_older_model'")
        assert lib.scan(photos).photos_analyzed == len(layout)
