"""Odd real-world files (issue 20): each is decoded, or refused with its real cause in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefile.errors import MediaError
from facefile.media.files import PHOTO_EXTENSIONS, iter_photo_files, load_image, unsupported_reason
from facefile.media.raw import RAW_EXTENSIONS
from tests.hostile import encode, sample_image
from tests.oddfiles import (
    avif,
    cut_dng,
    dng_bytes,
    giant_header_dng,
    heic_grid,
    heif_with_codec,
    jpeg_with_corrupt_exif,
    metadata_only_dng,
    png_with_profile,
    tiff_with_compression,
)
from tests.rawfiles import square_image

REPO_ROOT = Path(__file__).resolve().parents[1]


def _reason(path: Path, max_megapixels: float = 200) -> str:
    with pytest.raises(MediaError) as info:
        load_image(path, max_megapixels)
    assert "\n" not in info.value.reason
    return info.value.reason


# -- 2. truncated HEIC and AVIF ---------------------------------------------------
@pytest.mark.parametrize("share", [2, 10], ids=["half", "tenth"])
def test_cut_tiled_heic_is_truncated_not_green(tmp_path: Path, share: int) -> None:
    data = heic_grid()
    whole = load_image(_write(tmp_path / "whole.heic", data))
    assert whole.shape == (768, 1024, 3)
    path = _write(tmp_path / "cut.heic", data[: len(data) // share])
    reason = _reason(path)
    assert reason.startswith(f"truncated HEIF file (it holds {len(data) // share:,} bytes")
    assert f"need {len(data):,}" in reason


@pytest.mark.parametrize("share", [2, 10], ids=["half", "tenth"])
def test_cut_avif_is_truncated_not_an_unknown_format(tmp_path: Path, share: int) -> None:
    data = avif()
    assert load_image(_write(tmp_path / "whole.avif", data)).shape == (480, 640, 3)
    assert _reason(_write(tmp_path / "cut.avif", data[: len(data) // share])).startswith(
        "truncated AVIF file"
    )


# -- 3. RAWs without image data ---------------------------------------------------
def test_raw_with_all_equal_sensor_values_has_no_image_data(tmp_path: Path) -> None:
    path = _write(tmp_path / "blank.dng", dng_bytes(tmp_path / "x.dng", np.zeros((64, 96, 3), np.uint8)))
    assert _reason(path) == "no image data in this RAW (every sensor value is the same)"
    # a dark photo is no blank one: noise (here one sensor value) tells them apart
    dark = np.zeros((64, 96, 3), np.uint8)
    dark[10, 10] = 60
    assert load_image(_write(tmp_path / "dark.dng", dng_bytes(tmp_path / "x.dng", dark))).shape == (64, 96, 3)


@pytest.mark.parametrize("name", ["stripped.dng", "Panasonic.rw2"])
def test_raw_with_its_pixels_stripped_has_no_image_data(tmp_path: Path, name: str) -> None:
    reason = _reason(_write(tmp_path / name, metadata_only_dng(tmp_path / "x.dng")))
    assert reason.startswith("no image data in this RAW (its header describes a 600x400 image")


# -- 4. every extension -------------------------------------------------------------
def test_every_extension_pillow_opens_is_read_or_has_a_reason() -> None:
    from PIL import Image as PILImage

    PILImage.init()
    # scientific data and videos Pillow only identifies (it has no decoder for their pixels)
    not_images = {".bufr", ".grib", ".h5", ".hdf", ".mpeg", ".mpg"}
    for ext, fmt in PILImage.registered_extensions().items():
        if fmt in PILImage.OPEN and ext not in not_images:
            assert ext in PHOTO_EXTENSIONS or unsupported_reason(ext), ext
    for ext in (".raw", ".rw2", ".jxr", ".apng", ".j2c", ".jps", ".heics", ".avifs"):
        assert ext in PHOTO_EXTENSIONS or unsupported_reason(ext), ext
    assert ".raw" in RAW_EXTENSIONS and unsupported_reason(".jxr") == (
        "JPEG XR (.jxr): no reader installed (export a JPEG or TIFF)"
    )


def test_raw_apng_j2c_jps_are_found_and_decoded(tmp_path: Path) -> None:
    dng_bytes(tmp_path / "P1000001.raw", square_image(64, 96))  # LibRaw reads the content
    frames = [sample_image(s) for s in range(2)]
    frames[0].save(tmp_path / "moving.apng", format="PNG", save_all=True, append_images=frames[1:])
    _write(tmp_path / "stream.j2c", encode(sample_image(), "JPEG2000", no_jp2=True))
    _write(tmp_path / "stereo.jps", encode(sample_image(), "JPEG"))
    _write(tmp_path / "windows.jxr", b"II\xbc\x01" + b"\0" * 60)
    found = {os.path.basename(f.path): f for f in iter_photo_files(tmp_path)}
    assert set(found) == {"P1000001.raw", "moving.apng", "stream.j2c", "stereo.jps", "windows.jxr"}
    assert found["windows.jxr"].unsupported == "JPEG XR (.jxr): no reader installed (export a JPEG or TIFF)"
    for name in ("P1000001.raw", "moving.apng", "stream.j2c", "stereo.jps"):
        assert found[name].is_photo and load_image(found[name].path).shape[2] == 3, name


def test_a_file_named_on_the_command_line_is_never_passed_over(tmp_path: Path) -> None:
    # what iter_photo_files gives for a file given as the root: a photo to decode, or a problem
    _write(tmp_path / "IMG_0001", encode(sample_image(), "JPEG"))  # no extension: read by content
    _write(tmp_path / "notes.txt", b"hello")
    _write(tmp_path / "clip.mp4", b"\0" * 32)
    os.mkfifo(tmp_path / "pipe.jpg")
    [jpeg] = iter_photo_files(tmp_path / "IMG_0001")
    assert jpeg.is_photo and load_image(jpeg.path).shape == (64, 96, 3)
    [text] = iter_photo_files(tmp_path / "notes.txt")
    assert text.is_photo and "not an image" in _reason(Path(text.path))
    [clip] = iter_photo_files(tmp_path / "clip.mp4")
    # a video is analysed as one; a broken one gets its line from the scan (tests/test_video.py)
    assert (clip.problem, clip.unsupported) == (None, None)
    [pipe] = iter_photo_files(tmp_path / "pipe.jpg")
    assert pipe.problem == "not a regular file (a pipe, device or socket)"
    [gone] = iter_photo_files(tmp_path / "gone.jpg")
    assert gone.problem == "cannot open (No such file or directory)"


# -- 5. a big colour profile --------------------------------------------------------
def test_png_with_a_big_colour_profile_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "profile.png", png_with_profile(1_150_000))
    assert load_image(path).shape == (64, 96, 3)
    with Image.open(path) as im:
        assert len(im.info["icc_profile"]) == 1_150_000


def test_png_profile_limit_stays_bounded(tmp_path: Path) -> None:
    load_image(_write(tmp_path / "ok.png", encode(sample_image(), "PNG")))  # sets the limits up
    path = _write(tmp_path / "bomb.png", png_with_profile(40_000_000))  # 40 MB of zeros in a few kB
    assert os.path.getsize(path) < 100_000
    assert "MAX_TEXT_CHUNK" in _reason(path)


# -- 6. the real cause ---------------------------------------------------------------
def test_damaged_raw_header_is_not_called_too_large(tmp_path: Path) -> None:
    path = _write(tmp_path / "giant.dng", giant_header_dng(tmp_path / "x.dng"))
    for limit in (200, 10_000):  # refused by the size limit, or by LibRaw's allocator
        reason = _reason(path, limit)
        assert reason.startswith("no image data in this RAW (its header describes a 40000x40000 image")
        assert "megapixels" not in reason and "memory" not in reason


@pytest.mark.parametrize(
    ("codec", "name"), [(b"vvc1", "VVC"), (b"j2k1", "JPEG 2000"), (b"unci", "uncompressed")]
)
def test_heif_in_a_codec_the_decoder_lacks_says_so(tmp_path: Path, codec: bytes, name: str) -> None:
    path = _write(tmp_path / "x.heic", heif_with_codec(codec))
    assert _reason(path) == f"HEIF with codec {codec.decode()} ({name}) not supported by this decoder"


@pytest.mark.parametrize(("compression", "name"), [(50001, "WebP"), (34887, "LERC"), (50002, "JPEG XL")])
def test_tiff_in_a_compression_the_decoder_lacks_says_so(tmp_path: Path, compression: int, name: str) -> None:
    path = _write(tmp_path / "x.tif", tiff_with_compression(compression))
    assert _reason(path) == f"TIFF compression {compression} ({name}) not supported by this decoder"


def test_tiff_decoder_failure_gives_libtiffs_words_not_an_error_number(tmp_path: Path) -> None:
    reason = _reason(_write(tmp_path / "x.tif", tiff_with_compression(50000)))  # Zstandard, raw bytes
    assert reason.startswith("corrupt or truncated image (ZSTDDecode:") and "decoder error" not in reason


# -- 7. the decoders' own output -------------------------------------------------------
def test_decoders_print_nothing_of_their_own(tmp_path: Path) -> None:
    """Decoded in a child process, so what LibRaw and libtiff write to fd 2 is seen as a user sees it."""
    files = {
        "cut.dng": cut_dng(tmp_path / "x.dng"),
        "stripped.dng": metadata_only_dng(tmp_path / "x.dng"),
        "webp.tif": tiff_with_compression(50001),
        "corrupt_exif.jpg": jpeg_with_corrupt_exif(),
    }
    for name, data in files.items():
        _write(tmp_path / name, data)
    script = textwrap.dedent(
        """
        import sys
        from facefile.errors import MediaError
        from facefile.media.files import load_image
        for path in sys.argv[1:]:
            try:
                print(path.rsplit("/", 1)[1], load_image(path).shape)
            except MediaError as exc:
                print(path.rsplit("/", 1)[1], exc.reason)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *(str(tmp_path / n) for n in files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["cut.dng"].startswith("truncated")
    assert lines["stripped.dng"].startswith("no image data in this RAW")
    assert lines["webp.tif"] == "TIFF compression 50001 (WebP) not supported by this decoder"
    assert lines["corrupt_exif.jpg"] == "(64, 96, 3)"


def test_capture_leaves_python_output_of_other_threads_alone(capfd: pytest.CaptureFixture[str]) -> None:
    """While fd 2 is taken, Python writes to sys.stderr (a progress bar's thread) still reach the terminal."""
    from facefile.media.capture import library_output

    with library_output() as out:
        os.write(2, b"from C: Unexpected end of file\n")
        print("from the progress bar", file=sys.stderr)
    assert out.lines() == ["from C: Unexpected end of file"]
    assert capfd.readouterr().err == "from the progress bar\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_heif_whose_last_box_claims_too_much_still_decodes(tmp_path: Path) -> None:
    """Only missing item data means truncated: an over-long ``mdat`` size (a writer's slip) does not."""
    import struct

    for name, data in (("grid.heic", heic_grid()), ("x.avif", avif())):
        longer = bytearray(data)
        at = data.rfind(b"mdat") - 4
        struct.pack_into(">I", longer, at, struct.unpack_from(">I", longer, at)[0] + 1000)
        assert load_image(_write(tmp_path / name, bytes(longer))).shape[2] == 3, name
