"""Getting the XMP packet out of a photo file, without decoding its pixels.

Pillow finds the packet in the formats it knows (JPEG APP1, PNG iTXt, TIFF
and DNG tag 700, WebP, and HEIC through pillow-heif). For everything else,
RAW files above all, the packet is found by a bounded scan of the file's
start: cameras and editors put it there, and a packet is plain XML between
``<x:xmpmeta`` and ``</x:xmpmeta>`` (in UTF-8, or UTF-16/32 where a tool chose it).

A JPEG segment holds at most 64 KB, so larger XMP is split (XMP
specification part 3, section 1.1.3.1): the main packet names a GUID in
``xmpNote:HasExtendedXMP``, and the rest follows as an *extended* packet in
APP1 segments marked ``http://ns.adobe.com/xmp/extension/``, each with that
GUID, the full length and its offset. exiftool moves face regions there
when a photo has many. :func:`embedded_xmp_packets` puts it back together.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from dataclasses import dataclass, field

from facefile.metadata.regions import MAX_XMP_BYTES, MetadataError
from facefile.metadata.xmp_read import too_large

SCAN_BYTES = 16 * 2**20
"""How much of a file the byte scan reads."""

# Pillow formats whose XMP Pillow exposes; for any other format it opens
# (GIF, or a RAW it takes for a TIFF) the byte scan runs as well.
_PILLOW_XMP_FORMATS = frozenset({"JPEG", "MPO", "PNG", "TIFF", "WEBP", "HEIF", "AVIF"})
# TIFF-based RAW files open in Pillow as TIFFs; their XMP may sit where it does not look.
RAW_EXTENSIONS = frozenset({b".cr2", b".nef", b".arw", b".orf", b".rw2", b".raf", b".cr3", b".dng"})
_STARTS = tuple(
    ("<x:xmpmeta".encode(enc), "</x:xmpmeta>".encode(enc), width)
    for enc, width in (("utf-8", 1), ("utf-16-le", 2), ("utf-16-be", 2))
)
_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
_EXTENSION_HEADER = len(_EXTENSION) + 32 + 8  # signature, GUID, full length, offset
_HAS_EXTENDED = re.compile(rb"""HasExtendedXMP\s*(?:=\s*["']|>\s*)([0-9A-Fa-f]{32})""")


@dataclass
class EmbeddedXmp:
    """The XMP inside a photo: its main packet, and the extended one of a large JPEG packet."""

    packets: list[bytes] = field(default_factory=list)
    """Main packet first, then the reassembled extended packet if there is one."""
    problems: list[str] = field(default_factory=list)
    """One short reason per part that could not be used (e.g. an incomplete extended packet)."""


def embedded_xmp(path: str | bytes) -> bytes | None:
    """The main XMP packet embedded in a photo, or ``None`` if it has none.

    Args:
        path: the photo.

    Returns:
        The packet's bytes as stored (possibly ``<?xpacket``-wrapped and padded).

    Raises:
        MetadataError: the packet is larger than :data:`MAX_XMP_BYTES`, or the
            file cannot be read.
    """
    found = embedded_xmp_packets(path)
    return found.packets[0] if found.packets else None


def embedded_xmp_packets(path: str | bytes) -> EmbeddedXmp:
    """Every XMP packet embedded in a photo: the main one and, in a JPEG, its extended one.

    Args:
        path: the photo.

    Returns:
        The packets as stored, and why an extended packet was left out (if one was).

    Raises:
        MetadataError: the main packet is larger than :data:`MAX_XMP_BYTES`,
            or the file cannot be read.
    """
    display = os.fsdecode(path)
    packet, is_pillow_format, segments = _pillow_xmp(path)
    is_raw = os.path.splitext(os.fsencode(path))[1].lower() in RAW_EXTENSIONS
    if packet is None and (is_raw or not is_pillow_format):
        packet = _scan_xmp(path, display)
    if packet is not None and len(packet) > MAX_XMP_BYTES:
        raise MetadataError(display, f"{too_large('embedded XMP', len(packet))}; skipped")
    out = EmbeddedXmp([packet] if packet else [])
    if packet and segments:
        extended, problem = _extended_xmp(packet, segments)
        if extended is not None:
            out.packets.append(extended)
        if problem:
            out.problems.append(problem)
    return out


def _extended_xmp(main: bytes, segments: list[bytes]) -> tuple[bytes | None, str]:
    """The extended packet the main one names, put together from its JPEG segments; or why not."""
    named = _HAS_EXTENDED.search(main)
    chunks: dict[bytes, dict[int, bytes]] = {}
    lengths: dict[bytes, int] = {}
    for seg in segments:
        if len(seg) < _EXTENSION_HEADER:
            continue
        guid = seg[len(_EXTENSION) : len(_EXTENSION) + 32].upper()
        full, offset = struct.unpack(">II", seg[len(_EXTENSION) + 32 : _EXTENSION_HEADER])
        lengths.setdefault(guid, full)
        chunks.setdefault(guid, {})[offset] = seg[_EXTENSION_HEADER:]
    # the spec: only the packet whose GUID the main packet names; a lone one is taken too
    guid = named.group(1).upper() if named else (next(iter(chunks)) if len(chunks) == 1 else None)
    if guid is None or guid not in chunks:
        return None, ""
    full = lengths[guid]
    if full > MAX_XMP_BYTES:
        return None, f"{too_large('extended XMP', full)}; its regions are not read"
    data = bytearray(full)
    covered = 0
    for offset, chunk in sorted(chunks[guid].items()):
        if offset != covered or offset + len(chunk) > full:
            break
        data[offset : offset + len(chunk)] = chunk
        covered += len(chunk)
    if covered != full:
        where = f"{covered} of {full} bytes in its JPEG segments"
        return None, f"extended XMP is incomplete ({where}); its regions are not read"
    return bytes(data), ""


def _pillow_xmp(path: str | bytes) -> tuple[bytes | None, bool, list[bytes]]:
    """The packet Pillow finds, whether Pillow knows where this format keeps XMP, extended XMP segments."""
    from PIL import Image

    from facefile.media.files import _register_heif

    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings about odd EXIF or sizes
            with Image.open(os.fsdecode(path)) as im:
                if im.format not in _PILLOW_XMP_FORMATS:
                    return None, False, []
                segments = [
                    data
                    for marker, data in getattr(im, "applist", [])
                    if marker == "APP1" and data.startswith(_EXTENSION)
                ]
                for key in ("xmp", "XML:com.adobe.xmp"):
                    value = im.info.get(key)
                    if value:
                        return _as_bytes(value), True, segments
                tags = getattr(im, "tag_v2", None)
                value = tags.get(700) if tags is not None else None
                return (_as_bytes(value) if value else None), True, []
    except Image.DecompressionBombError:
        return None, False, []
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error):
        # Not a format Pillow reads (RAW files), or damaged: the byte scan decides.
        return None, False, []


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):  # PNG iTXt chunks arrive as text
        return value.encode("utf-8")
    if isinstance(value, tuple) and value and isinstance(value[0], int):  # some TIFF readers: byte tuples
        return bytes(value)
    return None


def _find_aligned(data: bytes, needle: bytes, width: int) -> int:
    """The first ``needle`` at an offset ``width`` divides, or -1.

    An ASCII run in UTF-16 reads the same in either byte order one byte
    apart; files keep UTF-16 text at even offsets, which tells the two apart.
    """
    at = data.find(needle)
    while at >= 0 and at % width:
        at = data.find(needle, at + 1)
    return at


def _scan_xmp(path: str | bytes, display: str) -> bytes | None:
    """The first ``<x:xmpmeta ...>...</x:xmpmeta>`` in the file's first :data:`SCAN_BYTES`."""
    try:
        with open(path, "rb") as f:
            head = f.read(SCAN_BYTES)
    except OSError as exc:
        raise MetadataError(display, f"cannot read the file ({exc.strerror or exc})") from None
    found = [(at, end) for start, end, width in _STARTS if (at := _find_aligned(head, start, width)) >= 0]
    if not found:
        return None
    at, end_tag = min(found)
    end = head.find(end_tag, at, at + MAX_XMP_BYTES + len(end_tag))
    if end < 0:
        if len(head) - at > MAX_XMP_BYTES:
            limit = MAX_XMP_BYTES // 2**20
            reason = f"embedded XMP has no end within the {limit} MB limit for XMP; skipped"
            raise MetadataError(display, reason)
        return None  # cut off by the end of the file or the scan: nothing usable
    return head[at : end + len(end_tag)]
