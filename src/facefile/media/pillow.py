"""Decoding every non-RAW photo format through Pillow (HEIC/HEIF through pillow-heif).

Each failure becomes a :class:`~facefile.errors.MediaError` naming its real
cause: the decoders' own words (captured by
:func:`facefile.media.capture.library_output`) and the file's structure
(:mod:`facefile.media.containers`) fill in what Pillow's exception leaves out.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import numpy as np

from facefile.errors import MediaError
from facefile.media.capture import LibraryOutput, first_cause, unconfigured_compression
from facefile.media.containers import HEIF_CODECS, compression_name, heif_layout, tiff_compression
from facefile.types import RGBImage

if TYPE_CHECKING:
    from PIL import Image

# PNG text and colour-profile chunks are refused above Pillow's 1 MB; real ICC
# profiles reach several MB (printer and camera profiles), so allow up to this
# much per chunk (Pillow's 64 MB cap on all text together still applies).
MAX_PNG_CHUNK_BYTES = 16 * 1024 * 1024

_prepared = False


def prepare_pillow() -> None:
    """Register the HEIF opener and allow large colour profiles (once per process)."""
    global _prepared
    if _prepared:
        return
    from PIL import PngImagePlugin
    from pillow_heif import register_heif_opener

    register_heif_opener()
    # raised, never lowered, and bounded: a chunk is still decompressed only up to this
    if PngImagePlugin.MAX_TEXT_CHUNK < MAX_PNG_CHUNK_BYTES:
        PngImagePlugin.MAX_TEXT_CHUNK = MAX_PNG_CHUNK_BYTES
    _prepared = True


def load_with_pillow(path: str, display: str, max_megapixels: float, out: LibraryOutput) -> RGBImage:
    """Decode a non-RAW photo into RGB pixels in its EXIF orientation (see ``load_image``)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    prepare_pillow()
    _refuse_truncated_heif(path, display)
    max_pixels = int(max_megapixels * 1_000_000)
    # Pillow's own guard (MAX_IMAGE_PIXELS, ~89 MP by default) would refuse
    # photos our limit allows, with a wrong message. It is raised (never
    # lowered) to our limit; our check below does the refusing, with the size.
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise MediaError(
                    display,
                    f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), "
                    f"above the {max_megapixels:g} MP limit (raise --max-megapixels "
                    "to scan it)",
                )
            # Image.open leaves every format at its first frame (a PSD at
            # its composite, which seek(0) would refuse).
            im.load()
            oriented = ImageOps.exif_transpose(im)
            rgb = to_rgb(oriented if oriented is not None else im)
    except MediaError:
        raise
    except PermissionError:
        raise MediaError(display, "permission denied (check the file's read access)") from None
    except UnidentifiedImageError:
        raise MediaError(display, _unidentified_reason(path, display, out)) from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size_text = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise MediaError(
            display,
            f"image is {size_text}, above the {max_megapixels:g} MP limit (raise --max-megapixels "
            "to scan it)",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise MediaError(display, _decode_failure_reason(path, exc, out)) from None
    except MemoryError:
        raise MediaError(display, "image too large to decode in memory") from None
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MediaError(display, f"unexpected pixel layout {arr.shape}")
    return np.ascontiguousarray(arr)


def _refuse_truncated_heif(path: str, display: str) -> None:
    """A HEIF/AVIF cut short is refused: libheif fills missing grid tiles with green, silently."""
    layout = heif_layout(path)
    if layout is not None and layout.is_truncated:
        raise MediaError(
            display,
            f"truncated {layout.format_name} file (it holds {layout.file_bytes:,} bytes, its "
            f"contents need {layout.needed_bytes:,}: the file was cut short; copy it again)",
        )


def _unidentified_reason(path: str, display: str, out: LibraryOutput) -> str:
    """Why Pillow found no reader for a file: a codec it lacks, or not an image at all."""
    layout = heif_layout(path)
    if layout is not None:
        codec = layout.codec
        if codec is not None and codec in HEIF_CODECS and not _decodes(codec, layout.brand):
            return (
                f"{layout.format_name} with codec {codec} ({HEIF_CODECS[codec]}) not supported "
                "by this decoder"
            )
        cause = first_cause(out.lines())
        return f"damaged {layout.format_name} file" + (f" ({cause})" if cause else "")
    compression = tiff_compression(path)
    if compression is not None and not _pillow_knows_compression(compression):
        return f"TIFF compression {compression_name(compression)} not supported by this decoder"
    if os.path.splitext(display)[1].lower() == ".psd":
        return (
            "Photoshop file Pillow cannot read (it reads 8-bit RGB, CMYK and grey "
            "composites only; export a JPEG or TIFF)"
        )
    return "not an image, or a format facefile cannot read"


def _decode_failure_reason(path: str, exc: BaseException, out: LibraryOutput) -> str:
    lines = out.lines()
    compression = tiff_compression(path)
    unknown = compression is not None and not _pillow_knows_compression(compression)
    if compression is not None and (unknown or unconfigured_compression(lines)):
        return f"TIFF compression {compression_name(compression)} not supported by this decoder"
    cause = first_cause(lines)
    message = short_message(exc)
    if cause and (message.startswith("decoder error") or message.startswith("broken data stream")):
        message = cause  # the decoder's own words say more than its error number
    return f"corrupt or truncated image ({message})"


def _decodes(codec: str, brand: str) -> bool:
    """Whether this installation decodes HEIF items of ``codec``."""
    import pillow_heif
    from PIL import features

    if codec == "av01":
        return brand in ("avif", "avis") and bool(features.check("avif"))
    if codec == "hvc1":
        decoders = pillow_heif.libheif_info().get("decoders", {})
        return any("HEVC" in str(name) or "265" in str(name) for name in decoders.values())
    return False


def _pillow_knows_compression(value: int) -> bool:
    from PIL import TiffImagePlugin

    return value in TiffImagePlugin.COMPRESSION_INFO


def to_rgb(im: Image.Image) -> Image.Image:
    from PIL import Image

    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        arr = np.nan_to_num(arr - min(float(arr.min()), 0.0))
        top = arr.max() or 1.0
        im = Image.fromarray((arr / top * 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def short_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
