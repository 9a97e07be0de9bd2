"""Odd but real-world files, built by the tests: what cameras, phones and old tools leave on disks.

No camera files are committed. Each builder writes one case of issue 20
("Right in the real programs") from files Pillow, pillow-heif and tifffile
write, then damages or relabels them the way real files are:

* RAW+JPEG pairs whose JPEG is cut, empty or junk (the RAW must be analysed);
* HEIC (tiled, as phones write them) and AVIF cut to half and to a tenth;
* RAWs without image data (all-equal sensor values, pixels stripped, a
  header claiming 40000x40000);
* formats by every extension Pillow and LibRaw open (.raw, .apng, .j2c, .jps);
* a PNG with a 1.15 MB colour profile;
* HEIF in a codec the decoder lacks, TIFF in a compression it lacks;
* files whose decoders print their own lines (LibRaw's "Unexpected end of
  file", libtiff's "WEBP compression support is not configured", Pillow's
  "Corrupt EXIF data").
"""

from __future__ import annotations

import io
import os
import signal
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from facefile.detect import DETECTORS
from facefile.types import Detection, RGBImage
from tests.fakes import FakeSquareDetector
from tests.hostile import encode, sample_image
from tests.rawfiles import make_dng, square_image

CRASH_PIXEL = (7, 7, 7)


class FakeCrashingDetector(FakeSquareDetector):
    """Kills its own process on a photo whose top-left pixel is :data:`CRASH_PIXEL`.

    A stand-in for a C decoder crashing on a hostile file (naming this module
    in ``$FACEFILE_PLUGINS`` registers it as ``fake_crashing``).
    """

    name = "fake_crashing"

    def detect(self, image: RGBImage) -> list[Detection]:
        if tuple(int(v) for v in image[0, 0]) == CRASH_PIXEL:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().detect(image)


if FakeCrashingDetector.name not in DETECTORS.names():
    DETECTORS.register(FakeCrashingDetector.name, FakeCrashingDetector)

# What a scan must do with a file: be analysed ("ok") or be reported with a reason containing this text.
OK = "ok"


@dataclass(frozen=True)
class OddFile:
    name: str
    expect: str  # OK, or a piece of the one-line reason


def heic_grid(size: tuple[int, int] = (1024, 768)) -> bytes:
    """A HEIC in 256-pixel tiles, as phones write them (libheif fills missing tiles silently)."""
    return encode(sample_image(size=size), "HEIF", quality=60, tile_size=256)


def avif(size: tuple[int, int] = (640, 480)) -> bytes:
    return encode(sample_image(size=size), "AVIF", quality=60)


def heif_with_codec(codec: bytes) -> bytes:
    """A valid HEIF whose image item is declared as ``codec`` (``b"vvc1"``): one libheif lacks here."""
    heic = encode(sample_image(), "HEIF", quality=60)
    assert heic.count(b"hvc1") == 1 and heic.count(b"hvcC") == 1
    return heic.replace(b"hvc1", codec).replace(b"hvcC", codec[:3] + b"C")


def tiff_with_compression(compression: int) -> bytes:
    """A TIFF whose Compression tag says ``compression`` (the strip itself stays raw)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.asarray(sample_image()), photometric="rgb")
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tf:
        at = tf.pages[0].tags["Compression"].valueoffset
        order = tf.byteorder
    struct.pack_into(order + "H", data, at, compression)
    return bytes(data)


def png_with_profile(profile_bytes: int = 1_150_000) -> bytes:
    """A valid PNG whose iCCP chunk decompresses to ``profile_bytes`` (a big printer or camera profile)."""
    profile = b"\0\0\0\0" + b"\0" * (profile_bytes - 4)
    return encode(sample_image(), "PNG", icc_profile=profile)


def jpeg_with_corrupt_exif() -> bytes:
    """A good JPEG whose EXIF directory claims more entries than it holds ("Corrupt EXIF data")."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "facefile test camera"
    data = bytearray(encode(sample_image(), "JPEG", exif=exif.tobytes()))
    tiff_at = data.index(b"Exif\0\0") + 6
    order = "<" if data[tiff_at : tiff_at + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, tiff_at + 4)
    struct.pack_into(order + "H", data, tiff_at + ifd, 900)  # 900 entries: far past the segment
    return bytes(data)


def dng_bytes(tmp: Path, rgb: np.ndarray, **kw: object) -> bytes:
    make_dng(tmp, rgb, **kw)  # type: ignore[arg-type]
    return tmp.read_bytes()


def metadata_only_dng(tmp: Path) -> bytes:
    """A DNG with its pixels stripped, as exiftool's and exiv2's test samples are."""
    data = dng_bytes(tmp, square_image(400, 600), preview=None)
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        start = tf.pages[0].tags["StripOffsets"].value[0]
    return data[:start]


def giant_header_dng(tmp: Path) -> bytes:
    """A DNG whose header claims 40000x40000 pixels: damaged, not a big photo."""
    data = bytearray(dng_bytes(tmp, square_image(400, 600), preview=None))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tf:
        tags = tf.pages[0].tags
        order = tf.byteorder
        for name in ("ImageWidth", "ImageLength"):
            fmt = "H" if int(tags[name].dtype) == 3 else "I"
            struct.pack_into(order + fmt, data, tags[name].valueoffset, 40000)
    return bytes(data)


def cut_dng(tmp: Path) -> bytes:
    """A DNG cut inside its pixels: LibRaw prints "Unexpected end of file" on stderr."""
    data = dng_bytes(tmp, square_image(400, 600), preview=None)
    return data[: len(data) * 3 // 4]


def build_odd_corpus(root: Path) -> list[OddFile]:
    """Write every case under ``root`` (one folder, as a card dump); return what a scan must do with each."""
    root.mkdir(parents=True, exist_ok=True)
    scratch = root.parent / f"{root.name}-scratch.dng"
    out: list[OddFile] = []

    def put(name: str, data: bytes, expect: str) -> None:
        (root / name).write_bytes(data)
        out.append(OddFile(name, expect))

    def good_raw(corner: str) -> bytes:
        return dng_bytes(scratch, square_image(64, 96, corner), preview="half", preview_jpeg=True)

    jpeg = encode(sample_image(), "JPEG", quality=85)
    heic = heic_grid()
    avif_data = avif()
    # 1. the RAW of a pair is analysed when its rendered twin fails
    pairs = {"IMG_cut": jpeg[: len(jpeg) // 2], "IMG_empty": b"", "IMG_junk": b"x" * 900}
    for (stem, rendered), corner in zip(pairs.items(), ("top-left", "top-right", "bottom-left"), strict=True):
        put(f"{stem}.JPG", rendered, "its RAW twin")
        put(f"{stem}.dng", good_raw(corner), OK)
    # 2. truncated HEIC and AVIF
    put("half.heic", heic[: len(heic) // 2], "truncated HEIF file")
    put("tenth.heic", heic[: len(heic) // 10], "truncated HEIF file")
    put("half.avif", avif_data[: len(avif_data) // 2], "truncated AVIF file")
    put("tenth.avif", avif_data[: len(avif_data) // 10], "truncated AVIF file")
    # 3. RAWs without image data
    put("blank.dng", dng_bytes(scratch, np.zeros((64, 96, 3), np.uint8), preview=None), "no image data")
    put("stripped.dng", metadata_only_dng(scratch), "no image data")
    put("Panasonic.rw2", metadata_only_dng(scratch), "no image data")
    # 4. every extension LibRaw and Pillow open
    put("P1000001.raw", good_raw("bottom-right"), OK)
    buf = io.BytesIO()
    frames = [sample_image(s) for s in range(2)]
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    put("moving.apng", buf.getvalue(), OK)
    put("stream.j2c", encode(sample_image(), "JPEG2000", no_jp2=True), OK)
    put("stereo.jps", jpeg, OK)
    put("windows.jxr", b"II\xbc\x01" + b"\0" * 60, "JPEG XR (.jxr)")
    # 5. a big colour profile
    put("profile.png", png_with_profile(), OK)
    # 6. real causes
    put("giant_header.dng", giant_header_dng(scratch), "no image data in this RAW (its header")
    put("vvc.heic", heif_with_codec(b"vvc1"), "HEIF with codec vvc1 (VVC) not supported by this decoder")
    put("webp.tif", tiff_with_compression(50001), "TIFF compression 50001 (WebP) not supported")
    put("lerc.tif", tiff_with_compression(34887), "TIFF compression 34887 (LERC) not supported")
    # 7. decoders that talk
    put("cut.dng", cut_dng(scratch), "truncated")
    put("corrupt_exif.jpg", jpeg_with_corrupt_exif(), OK)
    scratch.unlink()
    return out
