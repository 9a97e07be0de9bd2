"""Region frames and packet encodings: MWG 2.0 section 5.9, facefile's older sidecars, UTF-16, Extended XMP.

MWG puts region areas and ``AppliedToDimensions`` in the *stored* image
(before EXIF orientation); Immich's import (``tests/immich_regions.py``) is
the independent reference for how a reader turns them, exiftool the
independent reader and writer of the files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facefile.metadata import (
    NamedFace,
    embedded_xmp_packets,
    parse_xmp,
    plan_sidecar,
    read_photo_regions,
    write_sidecar,
)
from facefile.types import BBox
from tests.immich_regions import immich_area, immich_face_boxes
from tests.metadata_samples import (
    DIGIKAM_SIDECAR,
    area_item,
    dims_element,
    exif_json,
    exiftool,
    make_photo,
    mwg_packet,
)
from tests.test_metadata_xmp import needs_exiftool

STORED = (400, 300)  # the sensor's image; shown 300x400 for orientations 5-8
ANA_STORED = (0.25, 0.2, 0.1, 0.2)  # centre x, y, width, height in the stored image


def _shown(orientation: int) -> tuple[int, int]:
    return (STORED[1], STORED[0]) if orientation >= 5 else STORED


def _close(area, expected: tuple[float, float, float, float], tol: float = 1e-6) -> bool:
    return all(abs(u - v) <= tol for u, v in zip((area.x, area.y, area.w, area.h), expected, strict=True))


def _mp_packet(name: str, rect: tuple[float, float, float, float]) -> bytes:
    text = ", ".join(str(v) for v in rect)
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:MP="http://ns.microsoft.com/photo/1.2/"
   xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
   xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
  <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
   <rdf:li rdf:parseType="Resource"><MPReg:Rectangle>{text}</MPReg:Rectangle>
    <MPReg:PersonDisplayName>{name}</MPReg:PersonDisplayName></rdf:li>
  </rdf:Bag></MPRI:Regions></MP:RegionInfo>
 </rdf:Description></rdf:RDF></x:xmpmeta>""".encode()


# --- reading: every orientation is the stored frame ------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_mwg_regions_are_read_in_the_stored_frame(orientation: int) -> None:
    packet = mwg_packet(area_item("Ana", *map(str, ANA_STORED)), dims_element(*STORED))
    (ana,) = parse_xmp(packet, "s.xmp", orientation=orientation, displayed_size=_shown(orientation)).regions
    assert _close(ana.area, immich_area(ANA_STORED, orientation)), (orientation, ana.area)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_mwg_regions_without_dimensions_are_read_in_the_stored_frame(orientation: int) -> None:
    packet = mwg_packet(area_item("Ana", *map(str, ANA_STORED)))
    (ana,) = parse_xmp(packet, "s.xmp", orientation=orientation, displayed_size=_shown(orientation)).regions
    assert _close(ana.area, immich_area(ANA_STORED, orientation)), (orientation, ana.area)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_microsoft_regions_are_read_in_the_stored_frame(orientation: int) -> None:
    x, y, w, h = ANA_STORED
    packet = _mp_packet("Ana", (x - w / 2, y - h / 2, w, h))  # top-left based
    (ana,) = parse_xmp(packet, "m.xmp", orientation=orientation, displayed_size=_shown(orientation)).regions
    assert _close(ana.area, immich_area(ANA_STORED, orientation)), (orientation, ana.area)


def test_a_list_with_the_displayed_aspect_is_read_as_displayed() -> None:
    """The one case a displayed-frame writer can be told apart: a turned photo, dimensions as shown."""
    packet = mwg_packet(area_item("Ana", *map(str, ANA_STORED)), dims_element(300, 400))
    (ana,) = parse_xmp(packet, "d.xmp", orientation=6, displayed_size=(300, 400)).regions
    assert _close(ana.area, ANA_STORED)


# --- writing: the stored frame, a version marker, and migration ------------------------


def _legacy_sidecar(photo: Path, faces: list[NamedFace], shown: tuple[int, int]) -> bytes:
    """What facefile wrote before this change: displayed frame and size, no version marker."""
    new = plan_sidecar(photo, faces, shown).new  # orientation 1: the displayed frame as it is
    legacy = re.sub(rb"\s*<facefile:Version>2</facefile:Version>", b"", new)
    assert legacy != new
    return legacy


@needs_exiftool
@pytest.mark.parametrize("orientation", range(1, 9))
def test_written_regions_are_in_the_stored_frame(tmp_path: Path, orientation: int) -> None:
    shown = _shown(orientation)
    photo = make_photo(tmp_path / "IMG.jpg", STORED, orientation=orientation)
    box = BBox(40.0, 60.0, 200.0, 260.0)  # displayed pixels
    write_sidecar(plan_sidecar(photo, [NamedFace("Ana", box, "face-1")], shown, orientation=orientation))
    info = exif_json(tmp_path / "IMG.jpg.xmp")["RegionInfo"]
    assert info["AppliedToDimensions"] == {"W": STORED[0], "H": STORED[1], "Unit": "pixel"}
    assert immich_face_boxes(info, orientation)["Ana"].iou(box) > 0.95  # Immich floors to whole pixels
    assert b"<facefile:Version>2</facefile:Version>" in (tmp_path / "IMG.jpg.xmp").read_bytes()
    (back,) = read_photo_regions(photo, orientation=orientation, displayed_size=shown).regions
    assert back.area.to_box(*shown).iou(box) > 0.999


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_older_facefile_sidecar_is_read_right_and_migrated(tmp_path: Path, orientation: int) -> None:
    shown = _shown(orientation)
    photo = make_photo(tmp_path / "IMG.jpg", STORED, orientation=orientation)
    ana = NamedFace("Ana", BBox(40.0, 60.0, 100.0, 150.0), "face-1")
    (tmp_path / "IMG.jpg.xmp").write_bytes(_legacy_sidecar(photo, [ana], shown))
    (old,) = read_photo_regions(photo, orientation=orientation, displayed_size=shown).regions
    assert old.is_facefile and old.area.to_box(*shown).iou(ana.box) > 0.999  # not turned a second time

    plan = plan_sidecar(photo, [ana], shown, orientation=orientation)
    assert plan.changed and plan.is_migrated and plan.added == plan.removed == ()  # same names, rewritten
    write_sidecar(plan)
    (new,) = read_photo_regions(photo, orientation=orientation, displayed_size=shown).regions
    assert new.area.to_box(*shown).iou(ana.box) > 0.999
    again = plan_sidecar(photo, [ana], shown, orientation=orientation)
    assert not again.changed and not again.is_migrated


@needs_exiftool
def test_merging_into_digikams_sidecar_keeps_every_region_coherent(tmp_path: Path) -> None:
    """digiKam's sidecar of a turned photo (stored 800x600, shown 600x800): Eve is digiKam's."""
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600), orientation=6)
    (tmp_path / "IMG.jpg.xmp").write_bytes(DIGIKAM_SIDECAR)
    ana = NamedFace("Ana", BBox(100.0, 500.0, 220.0, 650.0), "face-1")
    write_sidecar(plan_sidecar(photo, [ana], (600, 800), orientation=6))
    info = exif_json(tmp_path / "IMG.jpg.xmp")["RegionInfo"]
    assert info["AppliedToDimensions"]["W"] == 800 and info["AppliedToDimensions"]["H"] == 600
    shown_by_immich = immich_face_boxes(info, 6)
    assert shown_by_immich["Ana"].iou(ana.box) > 0.95
    eve = immich_area((0.3, 0.4, 0.1, 0.15), 6)  # digiKam's region, untouched
    read = {r.name: r for r in read_photo_regions(photo, orientation=6, displayed_size=(600, 800)).regions}
    assert _close(read["Eve"].area, eve) and read["Ana"].area.to_box(600, 800).iou(ana.box) > 0.999


def test_merging_into_a_displayed_frame_list_writes_that_frame(tmp_path: Path) -> None:
    """Another tool's list in the displayed frame (its dimensions as shown): facefile's regions join it so."""
    photo = make_photo(tmp_path / "IMG.jpg", STORED, orientation=6)
    (tmp_path / "IMG.jpg.xmp").write_bytes(
        mwg_packet(area_item("Eve", "0.5", "0.5", "0.2", "0.1"), dims_element(300, 400))
    )
    ana = NamedFace("Ana", BBox(40.0, 60.0, 100.0, 150.0), "face-1")
    write_sidecar(plan_sidecar(photo, [ana], (300, 400), orientation=6))
    text = (tmp_path / "IMG.jpg.xmp").read_text()
    assert 'stDim:w="300"' in text and 'stDim:h="400"' in text  # their dimensions kept
    read = {r.name: r for r in read_photo_regions(photo, orientation=6, displayed_size=(300, 400)).regions}
    assert _close(read["Eve"].area, (0.5, 0.5, 0.2, 0.1))
    assert read["Ana"].area.to_box(300, 400).iou(ana.box) > 0.999
    # the same frame as Eve's: Ana's area is her displayed box, normalised
    assert _close(read["Ana"].area, (70 / 300, 105 / 400, 60 / 300, 90 / 400))


# --- UTF-16 and UTF-32 packets ------------------------------------------------------------


def _in(encoding: str) -> bytes:
    text = DIGIKAM_SIDECAR.decode().replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
def test_a_utf16_or_utf32_sidecar_is_read(tmp_path: Path, encoding: str) -> None:
    """``utf-16`` and ``utf-32`` start with a byte-order mark; the others do not."""
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600))
    (tmp_path / "IMG.jpg.xmp").write_bytes(_in(encoding) + "\x00\x00".encode(encoding))  # NUL padding
    found = read_photo_regions(photo, orientation=1, displayed_size=(800, 600))
    assert found.problems == []
    assert [(r.name, r.area.x, r.area.y) for r in found.regions] == [("Eve", 0.3, 0.4)]


@needs_exiftool
def test_exiftool_reads_the_utf16_sidecar_facefile_reads_and_merges(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600))
    sidecar = tmp_path / "IMG.jpg.xmp"
    sidecar.write_bytes(_in("utf-16"))
    assert exif_json(sidecar)["RegionInfo"]["RegionList"][0]["Name"] == "Eve"  # a valid packet
    write_sidecar(plan_sidecar(photo, [NamedFace("Ana", BBox(10, 10, 50, 60), "face-1")], (800, 600)))
    names = [r["Name"] for r in exif_json(sidecar)["RegionInfo"]["RegionList"]]
    assert names == ["Eve", "Ana"]
    assert exif_json(sidecar)["Rating"] == 3  # digiKam's other metadata kept


def test_a_latin1_packet_that_says_so_is_read(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600))
    text = DIGIKAM_SIDECAR.decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Eve", "Zoë")
    (tmp_path / "IMG.jpg.xmp").write_bytes(text.encode("latin-1"))
    found = read_photo_regions(photo, orientation=1, displayed_size=(800, 600))
    assert found.problems == [] and [r.name for r in found.regions] == ["Zoë"]


def test_a_packet_in_no_encoding_it_names_is_one_problem(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600))
    (tmp_path / "IMG.jpg.xmp").write_bytes(DIGIKAM_SIDECAR.replace(b"Eve", b"Zo\xeb"))  # Latin-1 in "UTF-8"
    found = read_photo_regions(photo, orientation=1, displayed_size=(800, 600))
    assert found.regions == []
    at = DIGIKAM_SIDECAR.index(b"Eve") + 2  # the first place the name is
    assert [reason for _, reason in found.problems] == [f"XMP is not valid UTF-8 text (byte {at})"]


def test_a_utf16_packet_in_a_raw_file_is_found(tmp_path: Path) -> None:
    raw = tmp_path / "IMG.orf"
    raw.write_bytes(b"IIRO\x08\x00\x00\x00" + b"\x00" * 100 + _in("utf-16-le") + b"\x00" * 100)
    (eve,) = read_photo_regions(raw, orientation=1, displayed_size=(800, 600)).regions
    assert eve.name == "Eve"


# --- Extended XMP: a large packet split over JPEG segments ---------------------------------


def _many_regions(path: Path, n: int) -> list[str]:
    """exiftool writes ``n`` named regions; past 64 KB it moves them into Extended XMP."""
    names = [f"Person {i:03d} of a crowd with a long enough name" for i in range(n)]
    items = ",".join(
        f"{{Area={{W=0.002,H=0.01,X={(i + 0.5) / n:.6f},Y=0.5,Unit=normalized}},Name={name},Type=Face}}"
        for i, name in enumerate(names)
    )
    args = path.parent / "regions.args"
    args.write_text(
        f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W=640,H=480,Unit=pixel}},RegionList=[{items}]}}\n"
    )
    exiftool("-q", "-overwrite_original", "-@", args, path)
    return names


@needs_exiftool
def test_extended_xmp_split_over_jpeg_segments_is_read(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (640, 480))
    names = _many_regions(photo, 400)
    data = photo.read_bytes()
    assert data.count(b"http://ns.adobe.com/xmp/extension/\x00") >= 2  # really split, by exiftool
    assert b"Person 000" not in embedded_xmp_packets(photo).packets[0]  # not in the main packet
    found = read_photo_regions(photo, orientation=1, displayed_size=(640, 480))
    assert found.problems == []
    assert sorted(r.name for r in found.regions) == sorted(names)
    first = next(r for r in found.regions if r.name == names[0])
    assert _close(first.area, (0.5 / 400, 0.5, 0.002, 0.01))


@needs_exiftool
def test_extended_xmp_with_a_segment_missing_is_one_problem(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (640, 480))
    _many_regions(photo, 400)
    data = photo.read_bytes()
    at = [m.start() - 4 for m in re.finditer(re.escape(b"http://ns.adobe.com/xmp/extension/\x00"), data)]
    second = at[1]
    length = int.from_bytes(data[second + 2 : second + 4], "big")
    assert data[second : second + 2] == b"\xff\xe1"
    photo.write_bytes(data[:second] + data[second + 2 + length :])
    found = read_photo_regions(photo, orientation=1, displayed_size=(640, 480))
    assert found.regions == []
    ((path, reason),) = found.problems
    assert path == str(photo) and reason.startswith("extended XMP is incomplete (")
