"""Reading just enough of a file's structure to name what is wrong with it.

Decoders do not always say: libheif fills the tiles of a cut HEIC with
green and reports success, and a codec it lacks comes out of Pillow as "cannot
identify image file". Here the HEIF/AVIF box structure (ISO BMFF) and a
TIFF's first directory are read directly, never the pixels.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

_MAX_META_BYTES = 16 * 1024 * 1024

# HEIF item types that hold coded pixels -> what they are called.
HEIF_CODECS = {
    "hvc1": "HEVC",
    "av01": "AV1",
    "vvc1": "VVC",
    "evc1": "EVC",
    "avc1": "H.264",
    "j2k1": "JPEG 2000",
    "jpeg": "JPEG",
    "unci": "uncompressed",
    "mski": "mask",
}

# TIFF Compression tag values -> names (TIFF 6, libtiff's tiff.h, DNG 1.7).
TIFF_COMPRESSIONS = {
    1: "none",
    2: "CCITT RLE",
    3: "CCITT Group 3",
    4: "CCITT Group 4",
    5: "LZW",
    6: "old-style JPEG",
    7: "JPEG",
    8: "Deflate",
    32773: "PackBits",
    32946: "Deflate",
    34661: "JBIG",
    34676: "SGI LogLuv",
    34712: "JPEG 2000",
    34887: "LERC",
    34892: "lossy JPEG (DNG)",
    34925: "LZMA",
    50000: "Zstandard",
    50001: "WebP",
    50002: "JPEG XL",
    52546: "JPEG XL (DNG)",
}


@dataclass
class HeifLayout:
    """What the boxes of a HEIF/AVIF file say."""

    brand: str
    file_bytes: int
    boxes_end: int = 0
    """Where the last top-level box ends, by the sizes the boxes declare."""
    meta_end: int = 0
    items_end: int = 0
    """Where the last extent of an item stored in the file ends (``iloc``); 0 if unknown."""
    primary_id: int | None = None
    types_by_id: dict[int, str] = field(default_factory=dict)
    """Item id -> item type (``hvc1``, ``grid``, ``Exif``, ...)."""

    @property
    def format_name(self) -> str:
        return "AVIF" if self.brand in ("avif", "avis") else "HEIF"

    @property
    def needed_bytes(self) -> int:
        """The size the file must have: its item data decides, else its boxes.

        A writer that declares its ``mdat`` box a little too long leaves a
        complete picture, so the items' extents are trusted over the boxes'
        sizes whenever the ``meta`` box that lists them is whole.
        """
        if self.items_end and self.meta_end <= self.file_bytes:
            return max(self.items_end, self.meta_end)
        return self.boxes_end

    @property
    def is_truncated(self) -> bool:
        return self.needed_bytes > self.file_bytes

    @property
    def codec(self) -> str | None:
        """The coded item type of the primary image (of its tiles, for a grid)."""
        primary = self.types_by_id.get(self.primary_id) if self.primary_id is not None else None
        if primary in HEIF_CODECS:
            return primary
        coded = [t for t in self.types_by_id.values() if t in HEIF_CODECS and t != "mski"]
        return coded[0] if coded else primary


def is_heif(head: bytes) -> bool:
    """Whether a file starting with ``head`` (12 bytes or more) is an ISO BMFF file (HEIF, AVIF)."""
    return len(head) >= 12 and head[4:8] == b"ftyp"


def heif_layout(path: str | os.PathLike[str]) -> HeifLayout | None:
    """The box structure of a HEIF/AVIF file, or None if it is not one (or is unreadable)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(16)
            if not is_heif(head):
                return None
            layout = HeifLayout(head[8:12].decode("latin-1"), size)
            for kind, body_at, end in _top_level_boxes(f, size):
                layout.boxes_end = max(layout.boxes_end, end)
                if kind == b"meta" and end - body_at <= _MAX_META_BYTES:
                    layout.meta_end = end
                    f.seek(body_at)
                    _read_meta(f.read(min(end, size) - body_at), layout)
    except OSError:
        return None
    return layout


def _top_level_boxes(f: BinaryIO, size: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, body offset, declared end)`` of each top-level box; stops at the file's end."""
    at = 0
    while at + 8 <= size:
        f.seek(at)
        header = f.read(16)
        if len(header) < 8:
            return
        box_size, kind = struct.unpack_from(">I4s", header)
        body_at = at + 8
        if box_size == 1:
            if len(header) < 16:
                yield kind, at + 16, at + 16
                return
            box_size = struct.unpack_from(">Q", header, 8)[0]
            body_at = at + 16
        elif box_size == 0:
            box_size = size - at  # to the end of the file
        if box_size < body_at - at:
            return  # malformed: nothing more can be trusted
        yield kind, body_at, at + box_size
        at += box_size


def _boxes(data: bytes, start: int = 0) -> Iterator[tuple[bytes, bytes]]:
    at = start
    while at + 8 <= len(data):
        box_size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if box_size == 1 and at + 16 <= len(data):
            box_size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif box_size == 0:
            box_size = len(data) - at
        if box_size < header:
            return
        yield kind, data[at + header : at + box_size]
        at += box_size


def _read_meta(meta: bytes, layout: HeifLayout) -> None:
    """Primary item, item types and item extents from the body of a ``meta`` box."""
    try:
        for kind, body in _boxes(meta, 4):  # meta is a full box: version and flags first
            if kind == b"pitm":
                layout.primary_id = _uint(body, 4, 2 if body[0] == 0 else 4)
            elif kind == b"iinf":
                layout.types_by_id = _item_types(body)
            elif kind == b"iloc":
                layout.items_end = _iloc_end(body)
    except (struct.error, IndexError, ValueError):
        return


def _item_types(body: bytes) -> dict[int, str]:
    count_size = 2 if body[0] == 0 else 4
    out: dict[int, str] = {}
    for kind, infe in _boxes(body, 4 + count_size):
        if kind != b"infe" or infe[0] < 2:
            continue
        id_size = 2 if infe[0] == 2 else 4
        item_id = _uint(infe, 4, id_size)
        at = 4 + id_size + 2  # protection index
        out[item_id] = infe[at : at + 4].decode("latin-1")
    return out


def _iloc_end(body: bytes) -> int:
    """The furthest byte that items stored in this file reach (``iloc`` box body)."""
    version = body[0]
    offset_size, length_size = body[4] >> 4, body[4] & 15
    base_size = body[5] >> 4
    index_size = body[5] & 15 if version in (1, 2) else 0
    at = 6
    count_size = 2 if version < 2 else 4
    n_items = _uint(body, at, count_size)
    at += count_size
    end = 0
    for _ in range(n_items):
        at += 2 if version < 2 else 4  # item id
        method = 0
        if version in (1, 2):
            method = _uint(body, at, 2) & 15
            at += 2
        data_reference = _uint(body, at, 2)
        base = _uint(body, at + 2, base_size)
        n_extents = _uint(body, at + 2 + base_size, 2)
        at += 4 + base_size
        for _ in range(n_extents):
            at += index_size
            offset = _uint(body, at, offset_size)
            length = _uint(body, at + offset_size, length_size)
            at += offset_size + length_size
            if method == 0 and data_reference == 0 and length:
                end = max(end, base + offset + length)
    return end


def _uint(data: bytes, at: int, size: int) -> int:
    if size == 0:
        return 0
    if at + size > len(data):
        raise ValueError("box cut short")
    return int.from_bytes(data[at : at + size], "big")


def tiff_compression(path: str | os.PathLike[str]) -> int | None:
    """The Compression tag of a TIFF's first image, or None (not a TIFF, or unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if head[:4] not in (b"II*\0", b"MM\0*"):
                return None
            order = "<" if head[:2] == b"II" else ">"
            (ifd,) = struct.unpack(order + "I", head[4:8])
            f.seek(ifd)
            (count,) = struct.unpack(order + "H", f.read(2))
            entries = f.read(12 * min(count, 4096))
    except (OSError, struct.error):
        return None
    for i in range(len(entries) // 12):
        tag, kind, _n = struct.unpack_from(order + "HHI", entries, 12 * i)
        if tag == 259:
            fmt = "H" if kind == 3 else "I"
            return int(struct.unpack_from(order + fmt, entries, 12 * i + 8)[0])
    return 1  # absent: uncompressed


def compression_name(value: int) -> str:
    name = TIFF_COMPRESSIONS.get(value)
    return f"{value} ({name})" if name else str(value)
