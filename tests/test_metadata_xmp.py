"""XMP face regions: reading (embedded, sidecars), writing sidecars, and hostile input.

exiftool stands in for the other programs: it writes the regions facefile
must read, and reads back what facefile writes.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facefile.metadata import (
    MAX_XMP_BYTES,
    Area,
    MetadataError,
    NamedFace,
    area_to_displayed,
    embedded_xmp,
    existing_sidecars,
    parse_xmp,
    plan_sidecar,
    read_photo_regions,
    sidecar_path,
    sidecar_signature,
    write_sidecar,
    xmp_write,
)
from facefile.types import BBox
from tests.metadata_samples import (
    BILLION_LAUGHS,
    DIGIKAM_SIDECAR,
    area_item,
    dims_element,
    exif_json,
    external_entity_packet,
    make_photo,
    mp_arg,
    mwg_arg,
    mwg_packet,
    parameter_entity_packet,
)
from tests.metadata_samples import exiftool as run_exiftool

exiftool = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    exiftool is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl); CI installs it"
)

W, H = 640, 480
ANA = NamedFace("Ana", BBox(100.0, 80.0, 180.0, 190.0), "face-1")
BO = NamedFace("Bo", BBox(400.25, 200.5, 470.75, 300.0), "face-2")


def _read(photo: Path, size: tuple[int, int] = (W, H), orientation: int = 1):
    return read_photo_regions(photo, orientation=orientation, displayed_size=size)


def _by_name(regions) -> dict:
    return {r.name: r for r in regions}


def _close(a: Area, b: tuple[float, float, float, float], tol: float = 1e-6) -> bool:
    return all(abs(u - v) <= tol for u, v in zip((a.x, a.y, a.w, a.h), b, strict=True))


# --- 1. facefile writes, exiftool reads ------------------------------------------------


@needs_exiftool
def test_exiftool_reads_the_written_sidecar(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG_1.jpg")
    plan = plan_sidecar(photo, [ANA, BO], (W, H))
    assert plan.changed and plan.old is None and plan.added == ("Ana", "Bo")
    write_sidecar(plan)
    side = tmp_path / "IMG_1.jpg.xmp"
    assert side.read_bytes() == plan.new

    info = exif_json(side)
    regions = info["RegionInfo"]
    assert regions["AppliedToDimensions"] == {"W": W, "H": H, "Unit": "pixel"}
    by_name = {r["Name"]: r for r in regions["RegionList"]}
    assert set(by_name) == {"Ana", "Bo"}
    for face in (ANA, BO):
        region = by_name[face.name]
        assert region["Type"] == "Face"
        a = region["Area"]
        assert a["Unit"] == "normalized"
        box = (
            (a["X"] - a["W"] / 2) * W,
            (a["Y"] - a["H"] / 2) * H,
            (a["X"] + a["W"] / 2) * W,
            (a["Y"] + a["H"] / 2) * H,
        )
        assert np.allclose(box, face.box.to_list(), atol=1.0)
    assert info["PersonInImage"] == ["Ana", "Bo"]
    assert info["TagsList"] == ["People/Ana", "People/Bo"]


def test_written_areas_convert_back_within_a_hundredth_of_a_pixel(tmp_path: Path) -> None:
    size = (10000, 7001)
    face = NamedFace("Ana", BBox(1234.567, 2345.678, 3456.789, 4567.891), "face-9")
    plan = plan_sidecar(tmp_path / "big.jpg", [face], size)
    (region,) = parse_xmp(plan.new, "big.jpg.xmp").regions
    assert region.is_facefile and region.name == "Ana" and region.form == "mwg"
    assert np.allclose(region.area.to_box(*size).to_list(), face.box.to_list(), atol=0.01)


def test_planning_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    first = plan_sidecar(photo, [ANA, BO], (W, H))
    assert plan_sidecar(photo, [ANA, BO], (W, H)).new == first.new
    write_sidecar(first)
    again = plan_sidecar(photo, [ANA, BO], (W, H))
    assert again.new == first.new and again.changed is False
    assert again.added == () and again.removed == ()


def test_no_faces_and_no_sidecar_writes_nothing(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    plan = plan_sidecar(photo, [], (W, H))
    assert plan.changed is False
    write_sidecar(plan)
    assert existing_sidecars(photo) == []


def test_bad_faces_are_refused(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    with pytest.raises(ValueError, match="empty name"):
        plan_sidecar(photo, [NamedFace("  ", ANA.box, "face-1")], (W, H))
    with pytest.raises(ValueError, match="outside"):
        plan_sidecar(photo, [NamedFace("Ana", BBox(700, 10, 800, 90), "face-1")], (W, H))
    with pytest.raises(ValueError, match="Unknown sidecar form"):
        plan_sidecar(photo, [ANA], (W, H), form="photo.XMP")


def test_names_lose_characters_xml_cannot_hold(tmp_path: Path) -> None:
    plan = plan_sidecar(tmp_path / "a.jpg", [NamedFace("An\x00a <&> \x07", ANA.box, "face-1")], (W, H))
    (region,) = parse_xmp(plan.new, "a.jpg.xmp").regions
    assert region.name == "Ana <&>"


# --- 2. exiftool writes, facefile reads -------------------------------------------------

REGIONS = [("Ana", "Face", (0.5, 0.4, 0.1, 0.2)), ("Rex", "Pet", (0.2, 0.2, 0.1, 0.1))]


@needs_exiftool
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp", ".gif"])
def test_embedded_regions_written_by_exiftool(tmp_path: Path, suffix: str) -> None:
    photo = make_photo(tmp_path / f"IMG{suffix}")
    run_exiftool("-overwrite_original", mwg_arg(REGIONS, (W, H)), mp_arg("Bo", (0.1, 0.2, 0.3, 0.4)), photo)
    assert embedded_xmp(photo) is not None
    result = _read(photo)
    assert result.problems == []
    by_name = _by_name(result.regions)
    assert set(by_name) == {"Ana", "Bo"}  # the pet is not a face
    assert by_name["Ana"].form == "mwg" and _close(by_name["Ana"].area, (0.5, 0.4, 0.1, 0.2))
    # Microsoft's rectangle is left, top, width, height: its centre is (0.25, 0.4).
    assert by_name["Bo"].form == "mp" and _close(by_name["Bo"].area, (0.25, 0.4, 0.3, 0.4))
    assert by_name["Ana"].source == str(photo) and not by_name["Ana"].is_facefile


@needs_exiftool
def test_sidecar_written_by_exiftool(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg")
    side = tmp_path / "IMG.jpg.xmp"
    run_exiftool(mwg_arg(REGIONS, (W, H)), mp_arg("Bo", (0.1, 0.2, 0.3, 0.4)), side)
    assert embedded_xmp(photo) is None
    result = _read(photo)
    assert result.problems == []
    by_name = _by_name(result.regions)
    assert set(by_name) == {"Ana", "Bo"}
    assert by_name["Ana"].source == str(side)
    assert _close(by_name["Bo"].area, (0.25, 0.4, 0.3, 0.4))


@needs_exiftool
def test_the_same_region_embedded_and_in_a_sidecar_is_read_once(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg")
    embedded = [("Ana", "Face", (0.5, 0.4, 0.1, 0.2)), ("Zed", "Face", (0.1, 0.1, 0.1, 0.1))]
    run_exiftool("-overwrite_original", mwg_arg(embedded, (W, H)), photo)
    nearly = [("Ana", "Face", (0.505, 0.4, 0.1, 0.2)), ("Cy", "Face", (0.5, 0.4, 0.1, 0.2))]
    run_exiftool(mwg_arg(nearly, (W, H)), tmp_path / "IMG.jpg.xmp")
    regions = _read(photo).regions
    assert [r.name for r in regions] == ["Ana", "Cy", "Zed"]  # Cy: another name on the same area
    assert [r.source.endswith(".xmp") for r in regions] == [True, True, False]  # the sidecar's Ana wins
    only_sidecars = read_photo_regions(photo, orientation=1, displayed_size=(W, H), use_embedded=False)
    assert [r.name for r in only_sidecars.regions] == ["Ana", "Cy"]


def test_heic_embedded_xmp(tmp_path: Path) -> None:
    from facefile.media.files import _register_heif

    _register_heif()
    photo = tmp_path / "a.heic"
    packet = mwg_packet(area_item("Ana", "0.5", "0.5", "0.2", "0.2"))
    Image.new("RGB", (64, 48), (10, 20, 30)).save(photo, xmp=packet)
    (region,) = _read(photo, (64, 48)).regions
    assert region.name == "Ana" and _close(region.area, (0.5, 0.5, 0.2, 0.2))


def test_raw_files_are_scanned_for_a_packet(tmp_path: Path) -> None:
    packet = mwg_packet(area_item("Ana", "0.5", "0.5", "0.2", "0.2"))
    raw = tmp_path / "IMG_1.cr2"
    raw.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + os.urandom(5000) + packet + os.urandom(5000))
    assert embedded_xmp(raw) is not None
    (region,) = _read(raw).regions
    assert region.name == "Ana"
    plain = tmp_path / "IMG_2.nef"
    plain.write_bytes(os.urandom(20000).replace(b"<", b"."))
    assert embedded_xmp(plain) is None


def test_a_tiff_based_raw_file_is_scanned_when_pillow_finds_no_xmp(tmp_path: Path) -> None:
    raw = make_photo(tmp_path / "IMG_3.tif", (32, 24))
    assert embedded_xmp(raw) is None
    nef = tmp_path / "IMG_3.nef"  # Pillow opens it as a TIFF; the packet is past the image data
    nef.write_bytes(raw.read_bytes() + mwg_packet(area_item("Ana", "0.5", "0.5", "0.2", "0.2")))
    assert Image.open(nef).format == "TIFF"
    assert [r.name for r in _read(nef, (32, 24)).regions] == ["Ana"]


def test_an_unterminated_packet_in_a_raw_file_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "IMG_1.arw"
    with open(raw, "wb") as f:
        f.write(b"\x00" * 100 + b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>")
        f.truncate(3 * 2**20)
    with pytest.raises(MetadataError, match="limit"):
        embedded_xmp(raw)
    (problem,) = _read(raw).problems
    assert problem[0] == str(raw) and "2 MB limit" in problem[1]


# --- 3. merging into other tools' sidecars ---------------------------------------------


@needs_exiftool
def test_merge_keeps_other_tools_metadata_and_replaces_our_own(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (800, 600))
    side = tmp_path / "IMG.jpg.xmp"
    cy = [("Cy", "Face", (0.7, 0.5, 0.1, 0.2))]
    run_exiftool(
        "-XMP-dc:Subject=holiday",
        "-XMP-dc:Title=By the lake",
        "-XMP-xmp:Rating=4",
        "-XMP-iptcExt:PersonInImage=Cy",
        "-XMP-digiKam:TagsList=People/Cy",
        mwg_arg(cy, (800, 600)),
        side,
    )
    ana = NamedFace("Ana", BBox(100, 100, 200, 220), "face-1")
    write_sidecar(plan_sidecar(photo, [ana], (800, 600)))
    info = exif_json(side)
    assert info["Subject"] == ["holiday"] and info["Rating"] == 4 and info["Title"] == "By the lake"
    names = [r["Name"] for r in info["RegionInfo"]["RegionList"]]
    assert names == ["Cy", "Ana"]
    assert info["PersonInImage"] == ["Cy", "Ana"]
    assert info["TagsList"] == ["People/Cy", "People/Ana"]
    assert plan_sidecar(photo, [ana], (800, 600)).changed is False

    dee = NamedFace("Dee", ana.box, "face-1")
    plan = plan_sidecar(photo, [dee], (800, 600))
    assert plan.added == ("Dee",) and plan.removed == ("Ana",)
    write_sidecar(plan)
    info = exif_json(side)
    assert [r["Name"] for r in info["RegionInfo"]["RegionList"]] == ["Cy", "Dee"]
    assert info["PersonInImage"] == ["Cy", "Dee"]
    assert info["TagsList"] == ["People/Cy", "People/Dee"]
    assert info["Subject"] == ["holiday"] and info["Rating"] == 4
    regions = _by_name(_read(photo, (800, 600)).regions)
    assert set(regions) == {"Cy", "Dee"} and regions["Dee"].is_facefile and not regions["Cy"].is_facefile


def test_a_name_still_claimed_by_another_tool_stays(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    (tmp_path / "IMG.jpg.xmp").write_bytes(DIGIKAM_SIDECAR)
    eve = NamedFace("Eve", BBox(500, 300, 560, 380), "face-3")
    write_sidecar(plan_sidecar(photo, [eve, NamedFace("Fay", BBox(10, 10, 60, 80), "face-4")], (800, 600)))
    plan = plan_sidecar(photo, [], (800, 600))
    assert plan.removed == ("Eve", "Fay")
    write_sidecar(plan)
    parsed = parse_xmp((tmp_path / "IMG.jpg.xmp").read_bytes(), "IMG.jpg.xmp")
    assert [r.name for r in parsed.regions] == ["Eve"] and not parsed.regions[0].is_facefile
    assert parsed.person_in_image == ["Eve"]  # digiKam's Eve region still claims the name
    text = (tmp_path / "IMG.jpg.xmp").read_bytes()
    assert b"Fay" not in text and b"facefile:Names" not in text and b"Places/Lake" in text


@needs_exiftool
def test_merge_into_a_digikam_attribute_form_sidecar(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(DIGIKAM_SIDECAR)
    plan = plan_sidecar(photo, [ANA], (800, 600))
    write_sidecar(plan)
    parsed = parse_xmp(side.read_bytes(), str(side))
    assert parsed.problems == []
    assert [(r.name, r.is_facefile) for r in parsed.regions] == [("Eve", False), ("Ana", True)]
    assert parsed.applied_to == (800, 600)  # digiKam's own, kept
    assert parsed.person_in_image == ["Eve", "Ana"]
    info = exif_json(side)
    assert info["Rating"] == 3 and info["Caption"] == "by the lake"
    assert info["TagsList"] == ["People/Eve", "Places/Lake", "People/Ana"]
    assert [r["Name"] for r in info["RegionInfo"]["RegionList"]] == ["Eve", "Ana"]
    assert plan_sidecar(photo, [ANA], (800, 600)).changed is False


def test_writing_no_faces_removes_everything_facefile_wrote(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    write_sidecar(plan_sidecar(photo, [ANA, BO], (W, H)))
    plan = plan_sidecar(photo, [], (W, H))
    assert plan.removed == ("Ana", "Bo") and plan.added == ()
    write_sidecar(plan)
    text = (tmp_path / "IMG.jpg.xmp").read_bytes()
    for gone in (b"Ana", b"Regions", b"PersonInImage", b"TagsList", b"Names"):
        assert gone not in text
    parsed = parse_xmp(text, "IMG.jpg.xmp")
    assert parsed.regions == [] and parsed.person_in_image == [] and parsed.problems == []


def test_areas_stay_right_when_the_sidecar_has_other_dimensions(tmp_path: Path) -> None:
    """Another tool drew its regions on a 400x300 preview; facefile's areas are still normalised."""
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(mwg_packet(area_item("Cy", "0.5", "0.5", "0.1", "0.1"), dims_element(400, 300)))
    write_sidecar(plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H)))
    parsed = parse_xmp(side.read_bytes(), str(side))
    assert parsed.applied_to == (400, 300)
    ana = _by_name(parsed.regions)["Ana"]
    assert np.allclose(ana.area.to_box(W, H).to_list(), ANA.box.to_list(), atol=0.01)


def test_a_sidecar_with_only_facefile_regions_gets_the_current_size(tmp_path: Path) -> None:
    photo = tmp_path / "IMG.jpg"
    write_sidecar(plan_sidecar(photo, [ANA], (W, H)))
    write_sidecar(plan_sidecar(photo, [ANA], (W // 2, H // 2)))
    parsed = parse_xmp((tmp_path / "IMG.jpg.xmp").read_bytes(), "IMG.jpg.xmp")
    assert parsed.applied_to == (W // 2, H // 2)


def test_a_malformed_sidecar_is_never_overwritten(tmp_path: Path) -> None:
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(b"<x:xmpmeta><rdf:RDF>")
    with pytest.raises(MetadataError, match="cannot be merged") as caught:
        plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H))
    assert caught.value.path == str(side)
    assert side.read_bytes() == b"<x:xmpmeta><rdf:RDF>"


def test_lightroom_form_is_written_where_asked(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_7.CR2"
    plan = plan_sidecar(photo, [ANA], (W, H), form="photo.xmp")
    assert plan.path == os.fsencode(tmp_path / "IMG_7.xmp")
    write_sidecar(plan)
    assert [r.name for r in _read(photo).regions] == ["Ana"]


# --- 4. atomic writes -------------------------------------------------------------------


def test_a_failed_write_raises_and_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    photo = tmp_path / "IMG.jpg"
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(DIGIKAM_SIDECAR)
    plan = plan_sidecar(photo, [ANA], (800, 600))

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(xmp_write.os, "replace", refuse)
    with pytest.raises(MetadataError) as caught:
        write_sidecar(plan)
    assert caught.value.reason.startswith(
        "cannot write the sidecar (Permission denied); check that the folder"
    )
    assert str(caught.value) == f"{side}: {caught.value.reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG.jpg.xmp"]
    assert side.read_bytes() == DIGIKAM_SIDECAR


def test_a_folder_in_the_sidecars_place_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "IMG.jpg.xmp").mkdir()
    with pytest.raises(MetadataError, match="cannot read the sidecar"):
        plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H))
    assert existing_sidecars(tmp_path / "IMG.jpg") == []


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    plan = plan_sidecar(tmp_path / "gone" / "IMG.jpg", [ANA], (W, H))
    with pytest.raises(MetadataError, match=r"cannot write the sidecar \(No such file or directory\)"):
        write_sidecar(plan)


def test_a_sidecar_changed_since_planning_is_not_overwritten(tmp_path: Path) -> None:
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(DIGIKAM_SIDECAR)
    plan = plan_sidecar(tmp_path / "IMG.jpg", [ANA], (800, 600))
    side.write_bytes(DIGIKAM_SIDECAR.replace(b'xmp:Rating="3"', b'xmp:Rating="5"'))
    with pytest.raises(MetadataError, match="changed since it was read"):
        write_sidecar(plan)
    assert b'xmp:Rating="5"' in side.read_bytes()


def test_an_existing_sidecar_keeps_its_mode(tmp_path: Path) -> None:
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(DIGIKAM_SIDECAR)
    side.chmod(0o640)
    write_sidecar(plan_sidecar(tmp_path / "IMG.jpg", [ANA], (800, 600)))
    assert side.stat().st_mode & 0o777 == 0o640


# --- 5. hostile input -------------------------------------------------------------------


def test_malformed_sidecar_is_one_problem_and_the_other_sidecar_is_read(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg")
    (tmp_path / "IMG.jpg.xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>")
    (tmp_path / "IMG.xmp").write_bytes(mwg_packet(area_item("Ana", "0.5", "0.5", "0.1", "0.1")))
    result = _read(photo)
    assert [r.name for r in result.regions] == ["Ana"]
    (problem,) = result.problems
    assert problem[0] == str(tmp_path / "IMG.jpg.xmp") and "not well-formed" in problem[1]


def test_a_50_mb_sidecar_is_refused_unread(tmp_path: Path) -> None:
    make_photo(tmp_path / "IMG.jpg")
    side = tmp_path / "IMG.jpg.xmp"
    with open(side, "wb") as f:
        f.write(mwg_packet(area_item("Ana", "0.5", "0.5", "0.1", "0.1")))
        f.truncate(50 * 2**20)
    started = time.monotonic()
    result = _read(tmp_path / "IMG.jpg")
    assert result.regions == []
    assert result.problems == [(str(side), "sidecar is 50.0 MB, above the 2 MB limit for XMP; skipped")]
    with pytest.raises(MetadataError, match=r"50\.0 MB"):
        plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H))
    assert time.monotonic() - started < 2.0
    with pytest.raises(MetadataError, match="above the 2 MB limit"):
        parse_xmp(b" " * (MAX_XMP_BYTES + 1), "big.xmp")


def test_billion_laughs_is_refused_not_expanded(tmp_path: Path) -> None:
    make_photo(tmp_path / "IMG.jpg")
    started = time.monotonic()
    with pytest.raises(MetadataError, match="DTD"):
        parse_xmp(BILLION_LAUGHS, "lol.xmp")
    (tmp_path / "IMG.jpg.xmp").write_bytes(BILLION_LAUGHS)
    result = _read(tmp_path / "IMG.jpg")
    assert result.regions == [] and len(result.problems) == 1 and "refused" in result.problems[0][1]
    with pytest.raises(MetadataError, match="cannot be merged"):
        plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("make_packet", [external_entity_packet, parameter_entity_packet])
def test_external_entities_are_never_read(tmp_path: Path, make_packet) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a9")
    packet = make_packet(secret)
    with pytest.raises(MetadataError) as caught:
        parse_xmp(packet, "x.xmp")
    assert "TOP-SECRET" not in str(caught.value)
    photo = make_photo(tmp_path / "IMG.jpg")
    (tmp_path / "IMG.jpg.xmp").write_bytes(packet)
    result = _read(photo)
    assert result.regions == [] and len(result.problems) == 1
    assert "TOP-SECRET" not in repr(result)
    with pytest.raises(MetadataError) as caught:
        plan_sidecar(photo, [ANA], (W, H))
    assert "TOP-SECRET" not in str(caught.value)
    assert (tmp_path / "IMG.jpg.xmp").read_bytes() == packet


def test_bad_regions_are_skipped_one_problem_each(tmp_path: Path) -> None:
    items = "".join(
        [
            area_item("Good", "0.5", "0.5", "0.2", "0.2"),
            area_item("Out", "1.5", "0.5", "0.2", "0.2"),
            area_item("Zero", "0.5", "0.5", "0", "0.2"),
            area_item("Word", "0.5", "abc", "0.2", "0.2"),
            area_item("Huge", "0.5", "0.5", "1.5", "0.2"),
            area_item("Pixels", "10", "10", "5", "5", unit="pixel"),
            area_item("NaN", "nan", "0.5", "0.2", "0.2"),
            '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>NoArea</mwg-rs:Name></rdf:li>',
            area_item("Edge", "0.95", "0.5", "0.2", "0.2"),
            area_item("  ", "0.2", "0.2", "0.1", "0.1"),
        ]
    )
    parsed = parse_xmp(mwg_packet(items), "bad.xmp")
    assert [r.name for r in parsed.regions] == ["Good", "Edge", None]
    edge = parsed.regions[1].area
    assert _close(edge, (0.925, 0.5, 0.15, 0.2))  # clipped at the right edge
    problems = parsed.problems
    assert len(problems) == 7
    for name, words in [
        ("Out", "outside 0..1"),
        ("Zero", "zero size"),
        ("Word", "non-numeric area y ('abc')"),
        ("Huge", "larger than the image"),
        ("Pixels", "unit 'pixel'"),
        ("NaN", "non-numeric area x"),
        ("NoArea", "has no area"),
    ]:
        assert any(
            p.startswith(f"region '{name}' ") and words in p and p.endswith("; skipped") for p in problems
        )


def test_bad_microsoft_rectangles_are_skipped(tmp_path: Path) -> None:
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:MP="http://ns.microsoft.com/photo/1.2/"
   xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#" xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
  <MP:RegionInfo><rdf:Description><MPRI:Regions><rdf:Bag>
   <rdf:li MPReg:PersonDisplayName="Bo" MPReg:Rectangle="0.1, 0.2, 0.3, 0.4"/>
   <rdf:li MPReg:PersonDisplayName="Three" MPReg:Rectangle="0.1, 0.2, 0.3"/>
   <rdf:li MPReg:PersonDisplayName="Word" MPReg:Rectangle="0.1, x, 0.3, 0.4"/>
   <rdf:li MPReg:PersonDisplayName="NoRect"/>
  </rdf:Bag></MPRI:Regions></rdf:Description></MP:RegionInfo>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""
    parsed = parse_xmp(packet, "mp.xmp")
    assert [(r.name, r.form) for r in parsed.regions] == [("Bo", "mp")]
    assert _close(parsed.regions[0].area, (0.25, 0.4, 0.3, 0.4))
    assert len(parsed.problems) == 3


def test_a_packet_without_rdf_or_wrapper(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="not XMP"):
        parse_xmp(b"<html><body>hello</body></html>", "x.xmp")
    bare = mwg_packet(area_item("Ana", "0.5", "0.5", "0.1", "0.1")).decode()
    start, end = bare.index("<rdf:RDF>"), bare.index("</rdf:RDF>") + len("</rdf:RDF>")
    rdf_root = bare[start:end].replace(
        "<rdf:RDF>",
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        + 'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
        + 'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">',
    )
    assert [r.name for r in parse_xmp(rdf_root.encode(), "bare.xmp").regions] == ["Ana"]


def test_many_regions_and_deep_nesting_finish_fast(tmp_path: Path) -> None:
    make_photo(tmp_path / "IMG.jpg")
    started = time.monotonic()
    many = mwg_packet(area_item("Ana", "0.5", "0.5", "0.1", "0.1") * 3000)
    assert len(many) < MAX_XMP_BYTES
    assert len(parse_xmp(many, "many.xmp").regions) == 3000
    deep = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</x:xmpmeta>"
    side = tmp_path / "IMG.jpg.xmp"
    side.write_bytes(deep)
    result = _read(tmp_path / "IMG.jpg")
    assert result.regions == [] and len(result.problems) == 1
    deep_rdf = mwg_packet("<rdf:li>" + "<a>" * 50_000 + "</a>" * 50_000 + "</rdf:li>")
    side.write_bytes(deep_rdf)
    assert _read(tmp_path / "IMG.jpg").regions == []
    with pytest.raises(MetadataError, match="deep"):
        plan_sidecar(tmp_path / "IMG.jpg", [ANA], (W, H))
    assert time.monotonic() - started < 10.0


# --- 6. orientation ---------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_area_to_displayed_agrees_with_pillow(orientation: int) -> None:
    width, height, px, py = 40, 20, 5, 3
    stored = Image.new("L", (width, height), 0)
    stored.putpixel((px, py), 255)
    stored.getexif()[0x0112] = orientation
    shown = ImageOps.exif_transpose(stored)
    ys, xs = np.nonzero(np.asarray(shown))
    dot = Area((px + 0.5) / width, (py + 0.5) / height, 1 / width, 3 / height)
    moved = area_to_displayed(dot, orientation)
    assert (moved.x, moved.y) == pytest.approx(((xs[0] + 0.5) / shown.width, (ys[0] + 0.5) / shown.height))
    turned = orientation >= 5
    assert (moved.w, moved.h) == ((dot.h, dot.w) if turned else (dot.w, dot.h))
    box = moved.to_box(shown.width, shown.height)
    assert box.left <= xs[0] + 0.5 <= box.right and box.top <= ys[0] + 0.5 <= box.bottom


def test_regions_in_the_stored_frame_of_a_turned_photo_are_converted(tmp_path: Path) -> None:
    """A 400x300 sensor image shown upright (orientation 6) is 300x400 on screen."""
    stored_area = area_item("Ana", "0.25", "0.2", "0.1", "0.2")
    ours = area_item("Bo", "0.3", "0.6", "0.1", "0.2", extra="<facefile:Face>face-2</facefile:Face>")
    ours = ours.replace("<facefile:Face>", '<facefile:Face xmlns:facefile="http://ns.facefile.dev/xmp/1.0/">')
    in_stored = mwg_packet(stored_area + ours, dims_element(400, 300))
    parsed = parse_xmp(in_stored, "s.xmp", orientation=6, displayed_size=(300, 400))
    by_name = _by_name(parsed.regions)
    assert _close(by_name["Ana"].area, (0.8, 0.25, 0.2, 0.1))
    assert _close(by_name["Bo"].area, (0.3, 0.6, 0.1, 0.2))  # older facefile (no version): displayed frame
    in_displayed = mwg_packet(stored_area, dims_element(300, 400))
    (ana,) = parse_xmp(in_displayed, "d.xmp", orientation=6, displayed_size=(300, 400)).regions
    assert _close(ana.area, (0.25, 0.2, 0.1, 0.2))
    (ana,) = parse_xmp(in_stored, "n.xmp", orientation=1, displayed_size=(400, 300)).regions[:1]
    assert _close(ana.area, (0.25, 0.2, 0.1, 0.2))


def test_stored_frame_regions_through_read_photo_regions(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG.jpg", (400, 300), orientation=6)
    (tmp_path / "IMG.jpg.xmp").write_bytes(
        mwg_packet(area_item("Ana", "0.25", "0.2", "0.1", "0.2"), dims_element(400, 300))
    )
    (ana,) = _read(photo, (300, 400), orientation=6).regions
    assert _close(ana.area, (0.8, 0.25, 0.2, 0.1))


# --- 7. sidecar names and signatures ----------------------------------------------------


def test_sidecar_names() -> None:
    assert sidecar_path("/p/IMG_1.jpg") == b"/p/IMG_1.jpg.xmp"
    assert sidecar_path(b"/p/IMG_1.jpg", "photo.xmp") == b"/p/IMG_1.xmp"
    assert sidecar_path("/p.d/IMG", "photo.xmp") == b"/p.d/IMG.xmp"


def test_existing_sidecars_finds_both_forms_and_upper_case(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.JPG"
    assert existing_sidecars(photo) == []
    (tmp_path / "IMG_1.xmp").write_bytes(b"")
    (tmp_path / "IMG_1.JPG.XMP").write_bytes(b"")
    assert existing_sidecars(photo) == [
        os.fsencode(tmp_path / "IMG_1.JPG.XMP"),
        os.fsencode(tmp_path / "IMG_1.xmp"),
    ]


def test_signature_changes_with_every_sidecar_change(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    assert sidecar_signature(photo) is None
    seen = []
    (tmp_path / "IMG_1.xmp").write_bytes(b"<a/>")
    seen.append(sidecar_signature(photo))
    (tmp_path / "IMG_1.jpg.xmp").write_bytes(b"<a/>")
    seen.append(sidecar_signature(photo))
    os.utime(tmp_path / "IMG_1.jpg.xmp", ns=(1, 1_000_000_123))
    seen.append(sidecar_signature(photo))
    (tmp_path / "IMG_1.jpg.xmp").write_bytes(b"<b/>...")
    seen.append(sidecar_signature(photo))
    (tmp_path / "IMG_1.xmp").unlink()
    seen.append(sidecar_signature(photo))
    assert None not in seen and len(set(seen)) == len(seen)
    assert seen[-1] == sidecar_signature(photo)
    (tmp_path / "IMG_1.jpg.xmp").unlink()
    assert sidecar_signature(photo) is None
