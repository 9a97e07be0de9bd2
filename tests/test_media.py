"""Finding and decoding photos: orientation, formats, and clear reasons for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefile.errors import MediaError
from facefile.media.files import iter_photo_files, load_image


def _gradient(w: int = 64, h: int = 32) -> Image.Image:
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    return Image.fromarray(arr)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = _gradient(64, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    arr = load_image(tmp_path / "rot.jpg")
    assert arr.shape == (64, 32, 3)  # portrait after orientation


@pytest.mark.parametrize("ext", ["png", "webp", "tiff", "bmp", "gif", "heic"])
def test_formats_decode_to_rgb(tmp_path: Path, ext: str) -> None:
    if ext == "heic":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    _gradient().save(tmp_path / f"x.{ext}")
    arr = load_image(tmp_path / f"x.{ext}")
    assert arr.dtype == np.uint8 and arr.shape == (32, 64, 3)


def test_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    arr = load_image(tmp_path / "a.gif")
    assert arr[10, 10, 0] > 200 and arr[10, 10, 2] < 50


def test_transparent_png_on_white(tmp_path: Path) -> None:
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert load_image(tmp_path / "t.png")[5, 5].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"hello, not an image", "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "")],
)
def test_bad_files_raise_media_error(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(MediaError) as info:
        load_image(tmp_path / "bad.png")
    assert reason in info.value.reason
    assert info.value.path.endswith("bad.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    Image.new("L", (5000, 5000)).save(tmp_path / "big.png")
    with pytest.raises(MediaError, match="megapixels"):
        load_image(tmp_path / "big.png", max_megapixels=10)


def test_discovery_reports_loops_and_broken_links_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    _gradient().save(tmp_path / "a" / "b" / "one.jpg")
    _gradient().save(tmp_path / "two.PNG")
    (tmp_path / "notes.txt").write_text("x")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "dangling.jpg")
    odd = os.fsencode(tmp_path) + b"/caf\xe9.jpg"  # Latin-1 name, not UTF-8
    _gradient().save(odd.decode("utf-8", "surrogateescape"), format="JPEG")
    found = list(iter_photo_files(tmp_path))
    photos = sorted(os.path.basename(f.path) for f in found if f.problem is None)
    problems = {os.path.basename(f.path): f.problem for f in found if f.problem}
    assert len(photos) == 3 and "one.jpg" in photos and "two.PNG" in photos
    assert "loop" in (problems.get("loop") or "")
    assert "broken symbolic link" in (problems.get("dangling.jpg") or "")
    odd_path = next(f.path for f in found if "caf" in f.path)
    assert load_image(odd_path).shape == (32, 64, 3)
