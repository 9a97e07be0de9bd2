"""Tiny but valid DNG files, written with tifffile, for RAW tests.

No camera files are committed: :func:`make_dng` turns an RGB array into an
RGGB Bayer mosaic that LibRaw decodes like a camera's, with an optional
embedded preview and any EXIF orientation.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Literal

import numpy as np
import tifffile
from PIL import Image

# XYZ (D65) -> linear sRGB. As a DNG ColorMatrix1 (XYZ -> camera) it says the
# "camera" sees sRGB primaries, so LibRaw's camera -> sRGB step is about the
# identity and colours come out neutral (an identity matrix tints them).
_XYZ_TO_SRGB = (
    (3.2406, -1.5372, -0.4986),
    (-0.9689, 1.8758, 0.0415),
    (0.0557, -0.2040, 1.0570),
)
WHITE_LEVEL = 4095  # 12-bit sensor

PreviewSize = Literal["half", "full"]


def make_dng(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    *,
    orientation: int = 1,
    preview: PreviewSize | tuple[int, int] | None = "half",
    preview_jpeg: bool = False,
    preview_exif_orientation: int | None = None,
    preview_rgb: np.ndarray | None = None,
) -> None:
    """Write ``rgb`` as a DNG with an RGGB Bayer CFA.

    Args:
        path: where to write.
        rgb: ``uint8 (height, width, 3)``, the pixels as stored on the sensor
            (before orientation). ``height`` and ``width`` should be even.
        orientation: EXIF Orientation tag (1, 3, 6 or 8): how a viewer turns
            the stored pixels to display them (6 = 90 degrees clockwise).
        preview: ``"half"`` or ``"full"``: an RGB preview of that size in
            IFD0 (stored unrotated, like a camera's); a ``(width, height)``
            pair: a preview squeezed to that size; ``None``: no preview.
        preview_jpeg: JPEG-compress the preview (else uncompressed RGB).
        preview_exif_orientation: put an EXIF Orientation into the preview
            JPEG itself, to check that readers ignore it (cameras' previews
            follow the DNG's Orientation, not their own).
        preview_rgb: draw the preview from these pixels instead of ``rgb``
            (same frame), so a test can tell which of the two was decoded.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    cfa = _mosaic(rgb)
    matrix = tuple(v for row in _XYZ_TO_SRGB for x in row for v in (round(x * 10000), 10000))
    dng_tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "facefile test camera", True),  # UniqueCameraModel
        (274, "H", 1, orientation, True),  # Orientation
        (50721, "2i", 9, matrix, True),  # ColorMatrix1 (SRATIONAL)
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral (RATIONAL)
    ]
    raw_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50717, "H", 1, WHITE_LEVEL, True),  # WhiteLevel
    ]
    with tifffile.TiffWriter(path) as tw:
        if preview is None:
            tw.write(cfa, photometric=32803, subfiletype=0, extratags=dng_tags + raw_tags)
            return
        if isinstance(preview, tuple):
            size = preview
        else:
            scale = {"half": 2, "full": 1}[preview]
            size = (width // scale, height // scale)
        source = rgb if preview_rgb is None else np.asarray(preview_rgb, dtype=np.uint8)
        small = np.asarray(Image.fromarray(source).resize(size, Image.Resampling.BILINEAR))
        # one strip, so a JPEG can replace it afterwards (see _jpeg_preview)
        tw.write(
            small,
            photometric="rgb",
            subfiletype=1,
            subifds=1,
            rowsperstrip=small.shape[0],
            extratags=dng_tags,
        )
        tw.write(cfa, photometric=32803, subfiletype=0, extratags=raw_tags)
    if preview_jpeg:
        _jpeg_preview(path, _jpeg_bytes(small, preview_exif_orientation))


def _jpeg_preview(path: str | os.PathLike[str], jpeg: bytes) -> None:
    """Swap IFD0's uncompressed strip for ``jpeg`` (Compression 7).

    tifffile only writes JPEG strips through imagecodecs (a compiled
    package), so the preview is written raw, then patched in place: the JPEG
    is smaller than the raw strip, and only the strip and two tag values
    change.
    """
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages[0].tags
        offset = tags["StripOffsets"].value[0]
        room = tags["StripByteCounts"].value[0]
        compression_at = tags["Compression"].valueoffset
        counts_at = tags["StripByteCounts"].valueoffset
        order = tf.byteorder
    if len(jpeg) > room:
        raise ValueError(f"preview JPEG ({len(jpeg)} bytes) does not fit the strip ({room} bytes)")
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(jpeg)
        f.seek(compression_at)
        f.write(struct.pack(order + "H", 7))
        f.seek(counts_at)
        f.write(struct.pack(order + "I", len(jpeg)))


def _mosaic(rgb: np.ndarray) -> np.ndarray:
    """Linear 12-bit RGGB samples from sRGB-ish pixels (gamma 2.2 undone)."""
    linear = (rgb.astype(np.float32) / 255.0) ** 2.2 * WHITE_LEVEL
    cfa = np.empty(rgb.shape[:2], dtype=np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]  # R
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]  # G
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]  # G
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]  # B
    return cfa


def _jpeg_bytes(rgb: np.ndarray, exif_orientation: int | None) -> bytes:
    out = io.BytesIO()
    kwargs: dict[str, object] = {"quality": 92}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    Image.fromarray(rgb).save(out, format="JPEG", **kwargs)
    data = out.getvalue()
    if exif_orientation is not None and data[2:4] == b"\xff\xe0":
        # Drop Pillow's JFIF APP0 so the Exif APP1 comes first, as in cameras'
        # previews; LibRaw then hands the JPEG over with that Exif kept (it
        # adds its own, with the RAW's orientation, only when none is first).
        app0_end = 4 + int.from_bytes(data[4:6], "big")
        data = data[:2] + data[app0_end:]
    return data


def square_image(height: int, width: int, corner: str = "top-left", size: int = 0) -> np.ndarray:
    """A dim grey image with one bright square in ``corner`` (e.g. ``"bottom-right"``)."""
    img = np.full((height, width, 3), 60, dtype=np.uint8)
    side = size or min(height, width) // 4
    vertical, horizontal = corner.split("-")
    y0 = 4 if vertical == "top" else height - side - 4
    x0 = 4 if horizontal == "left" else width - side - 4
    img[y0 : y0 + side, x0 : x0 + side] = 240
    return img
