"""Names through XMP on real faces: every EXIF orientation, RAW files, and a round trip on lfw-dev.

The convention under test (MWG guidelines 2.0, section 5.9): areas and
``AppliedToDimensions`` are in the *stored* image, before EXIF orientation,
and a reader turns them with it; facefile's boxes are in the displayed frame.
ExifTool is the independent reader and writer, and Immich's import
(``tests/immich_regions.py``) the independent turner.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facefile
from facefile.types import BBox
from tests.exiftool import EXIFTOOL, area_box, needs_exiftool, read_regions, run, write_regions
from tests.immich_regions import immich_face_boxes

# how to store an upright picture so that a viewer applying EXIF orientation N shows it upright
STORE_FOR = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
SETTINGS = {"scan.workers": 2}


def _upright(astronaut: np.ndarray) -> Image.Image:
    """The astronaut on a wider grey canvas (640x512): not square, so a wrong rotation shows."""
    canvas = np.full((512, 640, 3), 128, dtype=np.uint8)
    canvas[:, :512] = astronaut
    return Image.fromarray(canvas)


def _oriented_photos(folder: Path, astronaut: np.ndarray) -> list[Path]:
    """``o1.jpg`` .. ``o8.jpg``: the same upright picture stored for each EXIF orientation."""
    folder.mkdir()
    upright = _upright(astronaut)
    paths = []
    for orientation, how in STORE_FOR.items():
        stored = upright if how is None else upright.transpose(how)
        exif = Image.Exif()
        exif[0x0112] = orientation
        paths.append(folder / f"o{orientation}.jpg")
        stored.save(paths[-1], quality=95, exif=exif)
    return paths


@pytest.fixture(scope="module")
def face_upright(astronaut: np.ndarray) -> BBox:
    """Where facefile finds the astronaut's face in the upright picture."""
    from facefile.analyze.analyzer import FaceAnalyzer

    (face,) = FaceAnalyzer().analyze(np.asarray(_upright(astronaut)))
    return face.detection.box


def stored_box(box: BBox, displayed_size: tuple[int, int], orientation: int) -> BBox:
    """Where a displayed-frame box lies in the stored image, found by storing a mask the way the photo is."""
    mask = Image.new("L", displayed_size, 0)
    mask.paste(255, tuple(round(v) for v in box.to_list()))
    how = STORE_FOR[orientation]
    left, top, right, bottom = (mask if how is None else mask.transpose(how)).getbbox()
    return BBox(float(left), float(top), float(right), float(bottom))


def stored_size(displayed_size: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = displayed_size
    return (h, w) if orientation >= 5 else (w, h)


def _region_info(sidecar: Path) -> dict:
    import json

    return json.loads(run("-j", "-struct", "-XMP:RegionInfo", sidecar))[0]["RegionInfo"]


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.suffix != ".xmp"
    }


@needs_exiftool
def test_written_regions_sit_on_the_faces_in_all_eight_orientations(
    tmp_path: Path, astronaut: np.ndarray, face_upright: BBox
) -> None:
    photos = tmp_path / "photos"
    _oriented_photos(photos, astronaut)
    before = _digests(photos)
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        lib.scan(photos)
        faces = lib.faces()
        assert sorted(Path(f.photo).name for f in faces) == sorted(f"o{n}.jpg" for n in STORE_FOR)
        target = lib.move([f.id for f in faces], "new")
        lib.name(target.id, "Eileen Collins")
        summary = lib.write_xmp()
        again = lib.write_xmp()
    assert summary.written == 8 and again.written == 0 and again.unchanged == 8
    assert _digests(photos) == before  # photos untouched, byte for byte
    for f in faces:
        orientation = int(Path(f.photo).stem[1:])
        sidecar = Path(f.photo + ".xmp")
        (region,) = read_regions(sidecar)
        assert region["Name"] == "Eileen Collins"
        # in the stored frame: where the face is in the pixels as the file holds them
        size = stored_size((640, 512), orientation)
        assert _region_info(sidecar)["AppliedToDimensions"] == {"W": size[0], "H": size[1], "Unit": "pixel"}
        box = area_box(region, size)
        expected = stored_box(f.box, (640, 512), orientation)
        assert np.allclose(box.to_list(), expected.to_list(), atol=1.5), (f.photo, box, expected)
        # and Immich, turning it with the orientation, puts it on the face as seen
        shown = immich_face_boxes(_region_info(sidecar), orientation)["Eileen Collins"]
        assert shown.iou(f.box) > 0.95, (f.photo, shown, f.box)
        assert shown.iou(face_upright) > 0.8, (f.photo, shown, face_upright)


def _as_older_facefile_wrote_it(sidecar: Path, box: BBox, shown: tuple[int, int]) -> None:
    """Rewrite a sidecar as facefile wrote it before: displayed-frame area and size, no version."""
    import re

    text = re.sub(r"\s*<facefile:Version>2</facefile:Version>", "", sidecar.read_text())
    text = re.sub(r"<stArea:(x|y|w|h)>[^<]*</stArea:\1>", "", text)
    (cx, cy), (w, h) = box.center, shown
    values = (cx / w, cy / h, box.width / w, box.height / h)
    area = "".join(f"<stArea:{k}>{v:.7f}</stArea:{k}>" for k, v in zip("xywh", values, strict=True))
    text = text.replace("<stArea:unit>", area + "<stArea:unit>")
    text = re.sub(r"<stDim:w>\d+</stDim:w>", f"<stDim:w>{w}</stDim:w>", text)
    text = re.sub(r"<stDim:h>\d+</stDim:h>", f"<stDim:h>{h}</stDim:h>", text)
    sidecar.write_text(text)


@needs_exiftool
def test_sidecars_of_older_facefile_are_migrated_to_the_stored_frame(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Older facefile wrote the displayed frame and no version: read right, rewritten by the next write."""
    photos = tmp_path / "photos"
    _oriented_photos(photos, astronaut)
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        lib.scan(photos)
        faces = lib.faces()
        lib.name(lib.move([f.id for f in faces], "new").id, "Eileen Collins")
        lib.write_xmp()
        lib.forget_all()
    for f in faces:
        _as_older_facefile_wrote_it(Path(f.photo + ".xmp"), f.box, (640, 512))
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        s = lib.scan(photos)  # the older sidecars are read onto the faces, not turned
        assert (s.regions_matched, s.regions_added, s.names_applied) == (8, 0, 8)
        migrated = lib.write_xmp()
        again = lib.write_xmp()
    assert migrated.written == 8 and again.written == 0
    assert all(c.is_migrated and c.added == c.removed == () for c in migrated.changes)
    for f in faces:
        orientation = int(Path(f.photo).stem[1:])
        shown = immich_face_boxes(_region_info(Path(f.photo + ".xmp")), orientation)["Eileen Collins"]
        assert shown.iou(f.box) > 0.95, (f.photo, shown, f.box)


@needs_exiftool
@pytest.mark.parametrize(
    ("where", "form"),
    [("photo", "mwg"), ("photo.xmp", "mwg"), ("photo", "mp")],
    ids=["embedded", "lightroom", "mp"],
)
def test_regions_written_by_exiftool_land_on_the_faces_in_all_eight_orientations(
    tmp_path: Path, astronaut: np.ndarray, face_upright: BBox, where: str, form: str
) -> None:
    """Embedded MWG regions, a Lightroom-style ``IMG.xmp`` sidecar, and Microsoft's regions."""
    photos = tmp_path / "photos"
    for orientation, path in enumerate(_oriented_photos(photos, astronaut), 1):
        # as MWG says and digiKam, Lightroom and exiftool's MWG tags do: the stored frame
        size = stored_size((640, 512), orientation)
        target = path if where == "photo" else path.with_suffix(".xmp")
        regions = [("Eileen Collins", stored_box(face_upright, (640, 512), orientation))]
        write_regions(target, regions, size, form=form)
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        s = lib.scan(photos)
        people = lib.people()
    # every region matched the detected face: none had to be added as a face of its own
    assert (s.regions_read, s.regions_matched, s.regions_added, s.names_applied) == (8, 8, 0, 8)
    assert [(p.name, p.n_faces) for p in people] == [("Eileen Collins", 8)]


@needs_exiftool
def test_a_raw_file_is_scanned_and_its_sidecar_written_and_read(
    tmp_path: Path, astronaut: np.ndarray, face_upright: BBox
) -> None:
    from tests.rawfiles import make_dng

    photos = tmp_path / "photos"
    photos.mkdir()
    # stored turned, shown upright: orientation 6 (the camera held on its side)
    stored = np.asarray(_upright(astronaut).transpose(Image.Transpose.ROTATE_90))
    make_dng(photos / "IMG_0001.dng", stored, orientation=6)
    before = _digests(photos)
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        lib.scan(photos)
        (face,) = lib.faces()
        lib.name(lib.move([face.id], "new").id, "Eileen Collins")
        lib.write_xmp()
        lib.forget_all()
    (region,) = read_regions(photos / "IMG_0001.dng.xmp")
    box = area_box(region, (512, 640))  # the stored (sensor) frame
    assert np.allclose(box.to_list(), stored_box(face.box, (640, 512), 6).to_list(), atol=1.5)
    shown = immich_face_boxes(_region_info(photos / "IMG_0001.dng.xmp"), 6)["Eileen Collins"]
    assert shown.iou(face.box) > 0.95
    assert face.box.iou(face_upright) > 0.7
    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        s = lib.scan(photos)
        assert s.names_applied == 1 and [p.name for p in lib.people()] == ["Eileen Collins"]
    assert _digests(photos) == before


@pytest.mark.slow
@pytest.mark.long
@needs_exiftool
def test_round_trip_on_200_lfw_photos(tmp_path: Path, lfw_dir: Path) -> None:
    """Scan, name, write, forget everything, scan again: every named face comes back named."""
    photos = tmp_path / "photos"
    photos.mkdir()
    files = sorted(lfw_dir.rglob("*.jpg"))[:200]
    assert len(files) == 200
    for src in files:
        shutil.copyfile(src, photos / src.name)
    before = _digests(photos)

    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        lib.scan(photos)
        for face in lib.faces(unassigned=True):  # people seen once get a name too
            lib.move([face.id], "new")
        for i, person in enumerate(lib.people()):
            lib.name(person.id, f"Person {i:03d}")
        names = {p.id: p.name for p in lib.people()}
        named = {(Path(f.photo).name, f.box): names[f.person_id] for f in lib.faces() if f.person_id}
        summary = lib.write_xmp()
        lib.forget_all()
    assert len(named) >= 200 and summary.written == len({p for p, _ in named})

    # exiftool reads back every region, on its face within 1 px
    read: dict[tuple[str, str], list[BBox]] = {}
    for sidecar in sorted(photos.glob("*.xmp")):
        with Image.open(photos / sidecar.stem) as im:
            size = im.size
        for r in read_regions(sidecar):
            read.setdefault((sidecar.stem, r["Name"]), []).append(area_box(r, size))
    for (photo, box), name in named.items():
        assert any(np.allclose(b.to_list(), box.to_list(), atol=1.0) for b in read[(photo, name)])

    with facefile.Library(tmp_path / "lib", settings=SETTINGS) as lib:
        lib.scan(photos)
        names = {p.id: p.name for p in lib.people()}
        back = {(Path(f.photo).name, f.box): names.get(f.person_id) for f in lib.faces()}
    lost = [
        (photo, name)
        for (photo, box), name in named.items()
        if not any(p == photo and b.iou(box) > 0.9 and n == name for (p, b), n in back.items())
    ]
    assert lost == []
    assert _digests(photos) == before
    assert EXIFTOOL is not None and run("-ver").strip()
