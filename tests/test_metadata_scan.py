"""A scan reads named face regions (XMP, embedded and in sidecars) and names faces by them.

Fake backends (tests.fakes) make the faces; exiftool writes the regions, as
digiKam, Lightroom or Windows Photo Gallery would have.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from facefile.types import BBox
from tests.exiftool import needs_exiftool, write_regions
from tests.fakes import draw_photo
from tests.helpers import open_library

SIZE = (640, 480)


def _names(lib) -> dict[tuple[str, int], str | None]:
    """(photo name, face left edge) -> the name of the face's person."""
    people = {p.id: p.name for p in lib.people(include_hidden=True)}
    return {(Path(f.photo).name, round(f.box.left)): people.get(f.person_id) for f in lib.faces()}


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.suffix.lower() != ".xmp"
    }


@needs_exiftool
def test_sidecar_and_embedded_regions_name_faces_one_person_per_name(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a1 = draw_photo(photos / "a1.png", [0])
    a2 = draw_photo(photos / "a2.png", [0, 1])
    b1 = draw_photo(photos / "b1.png", [1])
    write_regions(photos / "a1.png", [("Ana", a1[0])], SIZE)  # embedded, MWG
    write_regions(photos / "a2.png.xmp", [("Ana", a2[0]), ("Bo", a2[1])], SIZE)  # digiKam sidecar
    write_regions(photos / "b1.xmp", [("Bo", b1[0])], SIZE, form="mp")  # Lightroom name, MP form
    before = _digest(photos)

    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
        names = _names(lib)
        people = {p.name: p for p in lib.people()}

    assert names == {
        ("a1.png", 20): "Ana",
        ("a2.png", 20): "Ana",
        ("a2.png", 170): "Bo",
        ("b1.png", 20): "Bo",
    }
    assert people["Ana"].n_faces == 2 and people["Bo"].n_faces == 2
    assert (s.regions_read, s.regions_matched, s.regions_added, s.names_applied) == (4, 4, 0, 4)
    assert s.metadata_conflicts == [] and s.metadata_problems == []
    assert _digest(photos) == before  # photos byte-identical


@needs_exiftool
def test_a_named_region_without_a_detected_face_becomes_a_face(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    draw_photo(photos / "a1.png", [0])
    hidden = BBox(400, 100, 520, 220)  # background: the detector finds nothing there
    write_regions(photos / "a1.png.xmp", [("Cy", hidden)], SIZE)
    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
        cy = lib.person("Cy")
        (face,) = lib.faces(cy.id)
    assert (s.regions_added, s.names_applied) == (1, 1)
    assert all(abs(a - b) < 0.5 for a, b in zip(face.box.to_list(), hidden.to_list(), strict=True))
    assert face.source == "user"


@needs_exiftool
def test_conflicts_are_reported_and_not_guessed(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a2 = draw_photo(photos / "a2.png", [0, 1])
    c2 = draw_photo(photos / "c2.png", [2, 3])
    # two names on one face: the sidecar says Ana, the photo's own XMP says Dee
    write_regions(photos / "a2.png.xmp", [("Ana", a2[0])], SIZE)
    write_regions(photos / "a2.png", [("Dee", a2[0]), ("Bo", a2[1])], SIZE, form="mp")
    # one name on two faces of one photo
    write_regions(photos / "c2.png.xmp", [("Eve", c2[0]), ("Eve", c2[1])], SIZE)
    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
        names = _names(lib)
    assert names[("a2.png", 170)] == "Bo"
    assert names[("a2.png", 20)] not in ("Ana", "Dee")
    assert names[("c2.png", 20)] != "Eve" and names[("c2.png", 170)] != "Eve"
    assert len(s.metadata_conflicts) == 2
    assert any("two names" in c and "'Ana'" in c and "'Dee'" in c for c in s.metadata_conflicts)
    assert any("'Eve' is on 2 faces" in c for c in s.metadata_conflicts)


@needs_exiftool
def test_reading_again_changes_nothing_and_a_later_decision_in_facefile_wins(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a1 = draw_photo(photos / "a1.png", [0])
    draw_photo(photos / "a2.png", [0])
    sidecar = photos / "a1.png.xmp"
    write_regions(sidecar, [("Ana", a1[0])], SIZE)
    with open_library(tmp_path / "lib") as lib:
        lib.scan(photos)
        (face,) = [f for f in lib.faces() if Path(f.photo).name == "a1.png"]
        lib.move([face.id], "new")  # the user says: not Ana after all
        again = lib.scan(photos)
        assert again.names_applied == 0 and again.photos_analyzed == 0
        # the sidecar changes (another program saved it): read again, the decision stands
        os.utime(sidecar, ns=(1, 1))
        third = lib.scan(photos)
        after = lib.face(face.id)
        assert third.photos_analyzed == 1 and third.names_applied == 0
        assert after.person_id != lib.person("Ana").id


@needs_exiftool
def test_a_sidecar_added_later_is_read_and_faces_keep_their_ids(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a1 = draw_photo(photos / "a1.png", [0])
    with open_library(tmp_path / "lib") as lib:
        lib.scan(photos)
        (before,) = lib.faces()
        write_regions(photos / "a1.png.xmp", [("Ana", a1[0])], SIZE)
        s = lib.scan(photos)
        (after,) = lib.faces()
        assert s.names_applied == 1
        assert after.id == before.id and lib.person(after.person_id).name == "Ana"


@needs_exiftool
def test_no_metadata_reads_nothing(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a1 = draw_photo(photos / "a1.png", [0])
    write_regions(photos / "a1.png.xmp", [("Ana", a1[0])], SIZE)
    with open_library(tmp_path / "lib", **{"scan.read_metadata": False}) as lib:
        s = lib.scan(photos)
        assert s.regions_read == 0 and all(p.name is None for p in lib.people())


def test_bad_sidecars_get_one_line_each_and_the_scan_goes_on(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    draw_photo(photos / "a1.png", [0])
    draw_photo(photos / "a2.png", [0])
    draw_photo(photos / "a3.png", [0])
    (photos / "a1.png.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>")
    (photos / "a2.png.xmp").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>&e;</x:xmpmeta>"
    )
    with open(photos / "a3.png.xmp", "wb") as f:
        f.write(b"<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>")
        f.truncate(50 * 2**20)
    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
        assert s.photos_analyzed == 3 and len(lib.faces()) == 3
    bad = sorted(Path(p).name for p, _ in s.metadata_problems)
    assert bad == ["a1.png.xmp", "a2.png.xmp", "a3.png.xmp"]
    assert s.problems == []


def test_unsupported_formats_are_counted_with_their_reason(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    draw_photo(photos / "a1.png", [0])
    for name in ("clip.mp4", "clip2.MOV", "pic.jxl", "notes.txt", "a1.png.xmp"):
        (photos / name).write_bytes(b"not really")
    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
    assert s.photos_found == 3  # the photo and two "videos"
    assert sum(s.unsupported.values()) == 1
    assert sum(n for reason, n in s.unsupported.items() if "JPEG XL" in reason) == 1
    # the videos are read as videos: these are not, one line each
    assert sorted((Path(p).name, r.split(" (")[0]) for p, r in s.problems) == [
        ("clip.mp4", "not a video, or a damaged one"),
        ("clip2.MOV", "not a video, or a damaged one"),
    ]


def test_a_raw_beside_its_jpeg_is_one_photo(tmp_path: Path) -> None:
    from tests.rawfiles import make_dng

    photos = tmp_path / "photos"
    draw_photo(photos / "IMG_1.png", [0])
    draw_photo(photos / "IMG_2.png", [0])
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(photos / "IMG_1.png").convert("RGB"))
    make_dng(photos / "IMG_1.DNG", rgb)
    with open_library(tmp_path / "lib") as lib:
        s = lib.scan(photos)
        faces = lib.faces()
        twins = lib.raw_twins()
        export = lib.export(tmp_path / "people", mode="symlink")
    assert s.photos_found == 2 and s.raw_twins == 1 and len(faces) == 2
    (photo_id,) = [f.photo_id for f in faces if Path(f.photo).name == "IMG_1.png"]
    assert [Path(p).name for p in twins[photo_id]] == ["IMG_1.DNG"]
    exported = sorted(p.name for p in (tmp_path / "people").rglob("IMG_1*"))
    assert exported == ["IMG_1.DNG", "IMG_1.png"] and export.files == 3
    shutil.rmtree(tmp_path / "people")


def test_region_rule_overlap_or_mutual_centres() -> None:
    from facefile.types import region_fit

    face = BBox(100, 100, 200, 200)
    assert region_fit(BBox(110, 105, 210, 205), face) > 0.5  # overlap
    assert region_fit(BBox(130, 130, 170, 170), face) > 0  # a tight region inside: centres inside each other
    assert region_fit(BBox(60, 60, 260, 260), face) > 0  # a loose region around it
    assert region_fit(BBox(190, 100, 290, 200), face) == 0  # beside it
    assert region_fit(BBox(150, 150, 400, 400), face) == 0  # corner overlap, centre outside


@pytest.fixture(autouse=True)
def _fake_backends() -> None:
    import tests.fakes  # noqa: F401  (registers fake_squares)


def test_xmp_write_command_dry_run_merge_and_a_sidecar_that_cannot_be_written(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from facefile.cli import app

    photos = tmp_path / "photos"
    for name in ("a1.png", "a2.png", "a3.png"):
        draw_photo(photos / name, [0])
    lib_dir = tmp_path / "lib"
    with open_library(lib_dir) as lib:
        lib.scan(photos)
        faces = lib.faces()
        lib.name(lib.move([f.id for f in faces], "new").id, "Ana")
    (photos / "a3.png.xmp").mkdir()  # a sidecar that cannot be written: a folder is in the way
    before = _digest(photos)
    env = {"FACEFILE_PLUGINS": "tests.fakes"}
    runner = CliRunner()
    dry = runner.invoke(app, ["xmp", "write", "--dry-run", "-L", str(lib_dir)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would write" in dry.output and "+Ana" in dry.output
    assert not (photos / "a1.png.xmp").exists()

    done = runner.invoke(app, ["xmp", "write", "Ana", "-L", str(lib_dir)], env=env)
    assert done.exit_code == 0, done.output
    assert "not written" in done.output and "a3.png.xmp" in done.output
    assert (photos / "a1.png.xmp").is_file() and (photos / "a2.png.xmp").is_file()
    again = runner.invoke(app, ["xmp", "write", "-L", str(lib_dir)], env=env)
    assert "wrote 0 sidecars, 2 already up to date" in again.output
    assert _digest(photos) == before

    lightroom = runner.invoke(
        app, ["xmp", "write", "--sidecar-name", "photo.xmp", "-L", str(lib_dir)], env=env
    )
    assert lightroom.exit_code == 0 and (photos / "a1.xmp").is_file()
    rows = json.loads(runner.invoke(app, ["faces", "--json", "-L", str(lib_dir)], env=env).output)
    assert {r["twins"] == [] for r in rows} == {True}


def test_include_unnamed_writes_the_person_id_and_forget_takes_the_name_back(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    draw_photo(photos / "a1.png", [0, 1])
    draw_photo(photos / "a2.png", [0])
    with open_library(tmp_path / "lib") as lib:
        lib.scan(photos)
        ana = lib.move([f.id for f in lib.faces() if round(f.box.left) == 20], "new")
        lib.name(ana.id, "Ana")
        other = lib.move([f.id for f in lib.faces() if round(f.box.left) == 170], "new")
        assert lib.write_xmp().written == 2
        assert other.key not in (photos / "a1.png.xmp").read_text()  # unnamed: skipped by default
        assert lib.write_xmp(include_unnamed=True).written == 1
        assert other.key in (photos / "a1.png.xmp").read_text()
        lib.name(other.id, "Bo")
        lib.write_xmp()
        lib.forget(ana.id)
        a1, a2 = (photos / "a1.png.xmp").read_text(), (photos / "a2.png.xmp").read_text()
    assert "Ana" not in a1 and "Ana" not in a2  # the forgotten name is gone from facefile's sidecars
    assert "Bo" in a1  # the other person's region stays
