"""Camera RAW files and the other photo formats: frames, previews, reasons, discovery."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefile.errors import MediaError
from facefile.media.files import RAW_EXTENSIONS, image_size, is_raw, iter_photo_files, load_image
from facefile.media.raw import load_raw, raw_size
from facefile.media.video import is_video_name
from tests.rawfiles import make_dng, square_image

REPO_ROOT = Path(__file__).resolve().parents[1]

# Where a square stored in the sensor's top-left corner is displayed, by EXIF
# orientation (written out by hand from the EXIF definitions, not computed).
DISPLAYED_CORNER = {
    1: "top-left",
    2: "top-right",  # mirrored
    3: "bottom-right",  # 180
    4: "bottom-left",  # mirrored vertically
    5: "top-left",  # transposed
    6: "top-right",  # 90 clockwise
    7: "bottom-right",  # transverse
    8: "bottom-left",  # 90 counter-clockwise
}
STORED_H, STORED_W = 64, 96


def _square_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the bright pixels."""
    ys, xs = np.nonzero(pixels.mean(axis=2) > 150)
    assert len(ys), "bright square not found"
    return int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())


def _corner_of(pixels: np.ndarray) -> str:
    top, left, bottom, right = _square_box(pixels)
    height, width = pixels.shape[:2]
    vertical = "top" if bottom < height / 2 else "bottom" if top > height / 2 else "middle"
    horizontal = "left" if right < width / 2 else "right" if left > width / 2 else "middle"
    return f"{vertical}-{horizontal}"


def _oriented_shape(orientation: int) -> tuple[int, int, int]:
    return (STORED_W, STORED_H, 3) if orientation in (5, 6, 7, 8) else (STORED_H, STORED_W, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(
    ("preview", "jpeg"),
    [(None, False), ("half", False), ("half", True), ("full", True)],
    ids=["no-preview", "half-bitmap", "half-jpeg", "full-jpeg"],
)
def test_raw_decodes_to_the_oriented_full_image(
    tmp_path: Path, orientation: int, preview: str | None, jpeg: bool
) -> None:
    path = tmp_path / "x.dng"
    make_dng(
        path,
        square_image(STORED_H, STORED_W, "top-left"),
        orientation=orientation,
        preview=preview,
        preview_jpeg=jpeg,
    )
    pixels = load_image(path)
    assert pixels.dtype == np.uint8 and pixels.shape == _oriented_shape(orientation)
    assert _corner_of(pixels) == DISPLAYED_CORNER[orientation]
    assert image_size(path) == raw_size(path) == (pixels.shape[1], pixels.shape[0])


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_preview_and_raw_data_agree_on_where_things_are(tmp_path: Path, orientation: int) -> None:
    # an off-centre square, so a mirror or a wrong turn would move it
    stored = np.full((200, 300, 3), 50, dtype=np.uint8)
    stored[30:70, 180:240] = 230
    make_dng(tmp_path / "preview.dng", stored, orientation=orientation, preview="half", preview_jpeg=True)
    make_dng(tmp_path / "data.dng", stored, orientation=orientation, preview=None)
    from_preview = load_image(tmp_path / "preview.dng")
    from_data = load_image(tmp_path / "data.dng")
    assert from_preview.shape == from_data.shape
    assert np.abs(np.subtract(_square_box(from_preview), _square_box(from_data))).max() <= 3


def test_preview_is_used_only_when_it_can_stand_for_the_image(tmp_path: Path) -> None:
    # the preview shows the square elsewhere than the RAW data: which one came back?
    data = square_image(STORED_H, STORED_W, "top-left")
    shown = square_image(STORED_H, STORED_W, "bottom-right")
    cases = {
        "half": "bottom-right",  # half the size, same shape: the preview
        (STORED_W, STORED_H - 1): "bottom-right",  # aspect 1.6% off: within 2%
        (STORED_W // 3, STORED_H // 3): "top-left",  # a third: too small, decode
        (STORED_W, STORED_H * 9 // 10): "top-left",  # another crop: decode
    }
    for preview, corner in cases.items():
        make_dng(tmp_path / "x.dng", data, preview=preview, preview_rgb=shown, preview_jpeg=True)
        assert _corner_of(load_raw(tmp_path / "x.dng", 10)) == corner, preview


def test_preview_jpeg_exif_orientation_is_ignored(tmp_path: Path) -> None:
    # LibRaw keeps a preview's own Exif block when it comes first; only the RAW's orientation counts
    make_dng(
        tmp_path / "x.dng",
        square_image(STORED_H, STORED_W, "top-left"),
        orientation=6,
        preview="full",
        preview_jpeg=True,
        preview_exif_orientation=3,
    )
    pixels = load_image(tmp_path / "x.dng")
    assert pixels.shape == _oriented_shape(6) and _corner_of(pixels) == "top-right"


def _dng_bytes(tmp_path: Path, preview: str | None) -> bytes:
    make_dng(tmp_path / "ok.dng", square_image(120, 160), preview=preview)
    return (tmp_path / "ok.dng").read_bytes()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.nef", lambda tmp: b"", "empty file (0 bytes)"),
        ("text.cr2", lambda tmp: b"hello, I am a text file\n" * 40, "not a RAW file LibRaw can read"),
        ("short.cr2", lambda tmp: b"hi\n", "not a RAW file LibRaw can read"),
        ("cut.dng", lambda tmp: _dng_bytes(tmp, None)[:30000], "truncated or unreadable RAW data"),
        ("header.dng", lambda tmp: _dng_bytes(tmp, "half")[:2000], "not a RAW file LibRaw can read"),
    ],
)
def test_bad_raw_files_raise_media_error(tmp_path: Path, name: str, content, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    with pytest.raises(MediaError) as info:
        load_image(path)
    assert reason in info.value.reason and info.value.path.endswith(name)
    if reason != "empty file (0 bytes)" and "truncated" not in reason:
        with pytest.raises(MediaError, match="not a RAW file"):
            image_size(path)


def test_raw_over_the_megapixel_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    make_dng(tmp_path / "big.dng", square_image(400, 600), orientation=6, preview=None)
    with pytest.raises(MediaError) as info:
        load_image(tmp_path / "big.dng", max_megapixels=0.2)
    assert "400x600 (0 megapixels), above the 0.2 MP limit" in info.value.reason
    assert load_image(tmp_path / "big.dng", max_megapixels=0.3).shape == (600, 400, 3)


def test_damaged_raw_files_never_crash_the_process(tmp_path: Path) -> None:
    """Seeded byte damage to a DNG's header and data: each file decodes or raises MediaError.

    Runs in a child process, so a crash inside LibRaw fails this test instead
    of killing the test run.
    """
    good = bytearray(_dng_bytes(tmp_path, "half"))
    rng = np.random.default_rng(7)
    for i in range(40):
        bad = bytearray(good)
        span = 600 if i % 2 else len(bad)  # the IFDs, or anywhere
        for at in rng.integers(0, span, size=int(rng.integers(1, 12))):
            bad[at] = int(rng.integers(0, 256))
        if i % 5 == 4:
            bad = bad[: int(rng.integers(8, len(bad)))]
        (tmp_path / f"m{i:02d}.dng").write_bytes(bytes(bad))
    script = textwrap.dedent(
        """
        import glob, sys
        from facefile.errors import MediaError
        from facefile.media.files import load_image
        outcomes = []
        for path in sorted(glob.glob(sys.argv[1] + "/m*.dng")):
            try:
                outcomes.append(load_image(path, 5).shape[2] == 3)
            except MediaError as exc:
                assert exc.reason, path
                outcomes.append("error")
        print(outcomes.count("error"), len(outcomes))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    errors, total = map(int, done.stdout.split())
    assert total == 40 and 0 < errors < 40  # some survive, some do not


def test_forked_workers_decode_raw_after_their_parent_did(tmp_path: Path) -> None:
    """The scan forks workers; LibRaw's OpenMP would deadlock them if the parent had decoded in parallel."""
    make_dng(tmp_path / "x.dng", square_image(400, 600), preview=None)
    script = textwrap.dedent(
        """
        import multiprocessing, sys
        from facefile.media.files import load_image
        path = sys.argv[1]
        def work(_):
            return load_image(path).shape
        if __name__ == "__main__":
            load_image(path)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                print(pool.map_async(work, range(4)).get(timeout=60))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "x.dng")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("(400, 600, 3)") == 4


def test_astronaut_face_in_a_turned_raw_is_found_in_the_turned_frame(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    from facefile.analyze.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer()
    expected = [r.detection.box for r in analyzer.analyze(np.ascontiguousarray(np.rot90(astronaut, -1)))]
    assert len(expected) == 1
    for preview in ("full", None):
        make_dng(tmp_path / "astronaut.dng", astronaut, orientation=6, preview=preview, preview_jpeg=True)
        found = analyzer.analyze(load_image(tmp_path / "astronaut.dng"))
        assert len(found) == 1, preview
        assert found[0].detection.box.iou(expected[0]) > 0.7, preview


def test_raw_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/caf\xe9.dng"  # Latin-1, as old cameras' cards have
    path = name.decode("utf-8", "surrogateescape")
    make_dng(path, square_image(STORED_H, STORED_W), orientation=6, preview=None)
    assert load_image(path).shape == _oriented_shape(6)
    assert image_size(path) == (STORED_H, STORED_W)


def test_every_raw_extension_is_a_photo() -> None:
    assert {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"} <= RAW_EXTENSIONS
    assert is_raw("a/IMG_1.CR3") and is_raw("x.dng") and not is_raw("x.jpg") and not is_raw("x.xmp")


def _gradient() -> Image.Image:
    arr = np.zeros((32, 64, 3), dtype=np.uint8)
    arr[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    return Image.fromarray(arr)


@pytest.mark.parametrize("ext", ["avif", "ppm", "pgm", "pbm", "jp2", "jfif"])
def test_more_pillow_formats_decode(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"x.{ext}"
    _gradient().save(path, format="JPEG" if ext == "jfif" else None)
    assert load_image(path).shape == (32, 64, 3)
    assert image_size(path) == (64, 32)


def _psd(path: Path, bits: int, n_layers: int = 0) -> None:
    """A minimal Photoshop file: RGB, a red composite, ``n_layers`` copies of its red plane."""
    height, width = 20, 30
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, bits, 3)
    planes = np.zeros((3, height, width), dtype=np.uint8 if bits == 8 else ">u2")
    planes[0] = 200 if bits == 8 else 50000
    layers = b""
    if n_layers:
        records, pixels = b"", b""
        plane = struct.pack(">H", 0) + planes[0].tobytes()
        for i in range(n_layers):
            name = f"L{i}".encode()
            extra = struct.pack(">II", 0, 0) + bytes([len(name)]) + name
            extra += b"\0" * (-len(extra) % 4)
            records += struct.pack(">iiiiH", 0, 0, height, width, 3)
            records += b"".join(struct.pack(">hI", channel, len(plane)) for channel in (0, 1, 2))
            records += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", len(extra)) + extra
            pixels += plane * 3
        info = struct.pack(">h", n_layers) + records + pixels
        info += b"\0" * (len(info) % 2)
        layers = struct.pack(">I", len(info)) + info + struct.pack(">I", 0)
    body = struct.pack(">II", 0, 0) + struct.pack(">I", len(layers)) + layers
    path.write_bytes(header + body + struct.pack(">H", 0) + planes.tobytes())


def test_photoshop_composites_decode_and_deep_ones_say_why_not(tmp_path: Path) -> None:
    for n_layers in (0, 2):
        _psd(tmp_path / "a.psd", 8, n_layers)
        pixels = load_image(tmp_path / "a.psd")
        assert pixels.shape == (20, 30, 3) and pixels[0, 0].tolist() == [200, 0, 0], n_layers
    _psd(tmp_path / "deep.psd", 16)
    with pytest.raises(MediaError, match="8-bit"):
        load_image(tmp_path / "deep.psd")


def test_discovery_finds_every_format_and_reports_unsupported_ones_by_format(tmp_path: Path) -> None:
    make_dng(tmp_path / "a.dng", square_image(64, 96))
    make_dng(tmp_path / "b.CR2", square_image(64, 96))  # any name: LibRaw reads the content
    _gradient().save(tmp_path / "c.avif")
    _gradient().save(tmp_path / "d.ppm")
    for name in ("e.jxl", "f.mp4", "g.MOV", "a.xmp", "notes.txt", "h.svg"):
        (tmp_path / name).write_bytes(b"\0" * 16)
    found = {os.path.basename(f.path): f for f in iter_photo_files(tmp_path)}
    assert set(found) == {"a.dng", "b.CR2", "c.avif", "d.ppm", "e.jxl", "f.mp4", "g.MOV", "h.svg"}
    photos = {name for name, f in found.items() if f.is_photo and not is_video_name(name)}
    assert photos == {"a.dng", "b.CR2", "c.avif", "d.ppm"}
    assert all(f.problem is None for f in found.values())  # unsupported files are no problems
    assert (
        found["e.jxl"].unsupported
        == "JPEG XL (.jxl): no reader installed (Pillow here has no JPEG XL support)"
    )
    # videos are files to scan (facefile.media.video reads them), not photos to decode
    assert found["f.mp4"].unsupported is None and found["g.MOV"].unsupported is None
    assert found["a.dng"].kind == "photo"
    for name in photos:
        assert load_image(found[name].path).shape[2] == 3
    with pytest.raises(MediaError, match=r"a video, not a photo"):
        load_image(found["f.mp4"].path)


def test_preview_with_damaged_dimensions_is_not_read_past_its_buffer(tmp_path: Path) -> None:
    """LibRaw hands a bitmap preview over with the dimensions its header claims (50236 rows for 60).

    Reading that many rows ran past LibRaw's buffer and killed the process
    (found by fuzzing); the RAW data is decoded instead. In a child process,
    so a crash fails this test instead of the test run.
    """
    import tifffile

    make_dng(tmp_path / "ok.dng", square_image(120, 160), preview="half")
    data = bytearray((tmp_path / "ok.dng").read_bytes())
    with tifffile.TiffFile(tmp_path / "ok.dng") as tf:
        tags, order = tf.pages[0].tags, tf.byteorder
    for name, value in (("ImageLength", 50236), ("ImageWidth", 57936)):
        bad = bytearray(data)
        fmt = "H" if int(tags[name].dtype) == 3 else "I"
        struct.pack_into(order + fmt, bad, tags[name].valueoffset, value)
        (tmp_path / f"{name}.dng").write_bytes(bytes(bad))
    script = textwrap.dedent(
        """
        import sys
        from facefile.media.files import load_image
        for _ in range(20):
            for path in sys.argv[1:]:
                print(load_image(path, 5).shape)
        """
    )
    names = [str(tmp_path / n) for n in ("ok.dng", "ImageLength.dng", "ok.dng", "ImageWidth.dng")]
    done = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["(120, 160, 3)"] * 80
