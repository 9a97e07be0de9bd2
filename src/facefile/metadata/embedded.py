"""Getting the XMP packet out of a photo file, without decoding its pixels.

Pillow finds the packet in the formats it knows (JPEG APP1, PNG iTXt, TIFF
and DNG tag 700, WebP, and HEIC through pillow-heif). For everything else,
RAW files above all, the packet is found by a bounded scan of the file's
start: cameras and editors put it there, and a packet is plain XML between
``<x:xmpmeta`` and ``</x:xmpmeta>``.
"""

from __future__ import annotations

import os
import struct
import warnings

from facefile.metadata.regions import MAX_XMP_BYTES, MetadataError
from facefile.metadata.xmp_read import too_large

SCAN_BYTES = 16 * 2**20
"""How much of a file the byte scan reads."""

# Pillow formats whose XMP Pillow exposes; for any other format it opens
# (GIF, or a RAW it takes for a TIFF) the byte scan runs as well.
_PILLOW_XMP_FORMATS = frozenset({"JPEG", "MPO", "PNG", "TIFF", "WEBP", "HEIF", "AVIF"})
# TIFF-based RAW files open in Pillow as TIFFs; their XMP may sit where it does not look.
RAW_EXTENSIONS = frozenset({b".cr2", b".nef", b".arw", b".orf", b".rw2", b".raf", b".cr3", b".dng"})
_START = b"<x:xmpmeta"
_END = b"</x:xmpmeta>"


def embedded_xmp(path: str | bytes) -> bytes | None:
    """The XMP packet embedded in a photo, or ``None`` if it has none.

    Args:
        path: the photo.

    Returns:
        The packet's bytes as stored (possibly ``<?xpacket``-wrapped and padded).

    Raises:
        MetadataError: the packet is larger than :data:`MAX_XMP_BYTES`, or the
            file cannot be read.
    """
    display = os.fsdecode(path)
    packet, is_pillow_format = _pillow_xmp(path)
    is_raw = os.path.splitext(os.fsencode(path))[1].lower() in RAW_EXTENSIONS
    if packet is None and (is_raw or not is_pillow_format):
        packet = _scan_xmp(path, display)
    if packet is not None and len(packet) > MAX_XMP_BYTES:
        raise MetadataError(display, f"{too_large('embedded XMP', len(packet))}; skipped")
    return packet or None


def _pillow_xmp(path: str | bytes) -> tuple[bytes | None, bool]:
    """The packet Pillow finds, and whether Pillow knows where this format keeps XMP."""
    from PIL import Image

    from facefile.media.files import _register_heif

    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings about odd EXIF or sizes
            with Image.open(os.fsdecode(path)) as im:
                if im.format not in _PILLOW_XMP_FORMATS:
                    return None, False
                for key in ("xmp", "XML:com.adobe.xmp"):
                    value = im.info.get(key)
                    if value:
                        return _as_bytes(value), True
                tags = getattr(im, "tag_v2", None)
                value = tags.get(700) if tags is not None else None
                return (_as_bytes(value) if value else None), True
    except Image.DecompressionBombError:
        return None, False
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error):
        # Not a format Pillow reads (RAW files), or damaged: the byte scan decides.
        return None, False


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):  # PNG iTXt chunks arrive as text
        return value.encode("utf-8")
    if isinstance(value, tuple) and value and isinstance(value[0], int):  # some TIFF readers: byte tuples
        return bytes(value)
    return None


def _scan_xmp(path: str | bytes, display: str) -> bytes | None:
    """The first ``<x:xmpmeta ...>...</x:xmpmeta>`` in the file's first :data:`SCAN_BYTES`."""
    try:
        with open(path, "rb") as f:
            head = f.read(SCAN_BYTES)
    except OSError as exc:
        raise MetadataError(display, f"cannot read the file ({exc.strerror or exc})") from None
    start = head.find(_START)
    if start < 0:
        return None
    end = head.find(_END, start, start + MAX_XMP_BYTES + len(_END))
    if end < 0:
        if len(head) - start > MAX_XMP_BYTES:
            limit = MAX_XMP_BYTES // 2**20
            reason = f"embedded XMP has no end within the {limit} MB limit for XMP; skipped"
            raise MetadataError(display, reason)
        return None  # cut off by the end of the file or the scan: nothing usable
    return head[start : end + len(_END)]
