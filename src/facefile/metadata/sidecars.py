"""XMP sidecars: their names, finding them, and reading all of a photo's regions.

Two naming conventions exist: ``IMG_1.jpg.xmp`` (digiKam, darktable,
exiftool's ``%f.%e.xmp``) and ``IMG_1.xmp`` (Lightroom, Capture One). Both
are read; the digiKam form comes first because it cannot be shared by two
photos (``IMG_1.jpg`` and ``IMG_1.cr2`` share one Lightroom sidecar).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field

from facefile.metadata.embedded import embedded_xmp_packets
from facefile.metadata.regions import MAX_XMP_BYTES, MetadataError, Region
from facefile.metadata.xmp_read import parse_xmp, too_large

SIDECAR_FORMS = ("photo.ext.xmp", "photo.xmp")
"""digiKam/darktable form, Lightroom form."""

DUPLICATE_IOU = 0.5


def sidecar_path(photo: str | bytes, form: str = "photo.ext.xmp") -> bytes:
    """The sidecar file name of ``photo`` in one of :data:`SIDECAR_FORMS`.

    ``IMG_1.jpg`` gives ``IMG_1.jpg.xmp`` (``"photo.ext.xmp"``) or ``IMG_1.xmp`` (``"photo.xmp"``).

    Raises:
        ValueError: ``form`` is not one of :data:`SIDECAR_FORMS`.
    """
    p = os.fsencode(photo)
    if form == "photo.ext.xmp":
        return p + b".xmp"
    if form == "photo.xmp":
        return os.path.splitext(p)[0] + b".xmp"
    raise ValueError(f"Unknown sidecar form {form!r}; use one of {', '.join(SIDECAR_FORMS)}.")


def existing_sidecars(photo: str | bytes) -> list[bytes]:
    """The sidecars of ``photo`` that exist, digiKam form first.

    Upper-case ``.XMP`` variants count too. On a case-insensitive file system
    one file answers to several names; it is listed once.
    """
    return [path for path, _ in _sidecar_stats(photo)]


def sidecar_signature(photo: str | bytes) -> str | None:
    """A short digest of the photo's sidecars' (path, size, mtime_ns), or ``None`` when there are none.

    It changes whenever a sidecar is created, edited or removed, so a scan can
    tell that a photo's names must be read again without reading them.
    """
    parts = [b"%s\0%d\0%d" % (path, st.st_size, st.st_mtime_ns) for path, st in _sidecar_stats(photo)]
    if not parts:
        return None
    return hashlib.sha256(b"\n".join(parts)).hexdigest()[:16]


def _sidecar_stats(photo: str | bytes) -> list[tuple[bytes, os.stat_result]]:
    """Each existing sidecar with its ``stat``, one ``stat`` call per candidate name."""
    found: list[tuple[bytes, os.stat_result]] = []
    seen: set[tuple[int, int]] = set()
    for form in SIDECAR_FORMS:
        lower = sidecar_path(photo, form)
        for candidate in (lower, lower[:-4] + b".XMP"):
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            found.append((candidate, st))
    return found


@dataclass
class PhotoRegions:
    """All face regions of one photo, from its embedded XMP and its sidecars."""

    regions: list[Region] = field(default_factory=list)
    """Sidecar regions first (digiKam form, then Lightroom form), then embedded ones; no duplicates."""
    problems: list[tuple[str, str]] = field(default_factory=list)
    """``(path, reason)``: one line per packet or region that could not be used."""


def read_photo_regions(
    photo: str | bytes,
    *,
    orientation: int,
    displayed_size: tuple[int, int],
    use_embedded: bool = True,
) -> PhotoRegions:
    """Read every face region of a photo; never raises for bad metadata.

    The same name on (nearly) the same area (IoU >= 0.5) from two sources is
    one region, and the sidecar's wins: a sidecar is where tools write later
    corrections. Unnamed regions are de-duplicated the same way.

    Args:
        photo: the photo's path.
        orientation: its EXIF orientation, 1..8.
        displayed_size: ``(width, height)`` as displayed (after orientation), pixels.
        use_embedded: also read the XMP inside the photo.

    Returns:
        The regions (areas in the displayed frame) and a ``(path, reason)`` per problem.
    """
    out = PhotoRegions()
    found: list[Region] = []
    for path in existing_sidecars(photo):
        display = os.fsdecode(path)
        try:
            packet = _read_sidecar(path, display)
        except MetadataError as exc:
            out.problems.append((exc.path, exc.reason))
            continue
        found.extend(_parse(packet, display, orientation, displayed_size, out))
    if use_embedded:
        display = os.fsdecode(photo)
        try:
            embedded = embedded_xmp_packets(photo)
        except MetadataError as exc:
            out.problems.append((exc.path, exc.reason))
        else:
            out.problems.extend((display, reason) for reason in embedded.problems)
            for packet in embedded.packets:
                found.extend(_parse(packet, display, orientation, displayed_size, out))
    out.regions = _deduplicated(found)
    return out


def read_sidecar_bytes(path: bytes) -> bytes:
    """A sidecar's bytes, refusing one above :data:`MAX_XMP_BYTES` without reading it whole.

    Raises:
        MetadataError: too large, or it cannot be read.
    """
    return _read_sidecar(path, os.fsdecode(path))


def _read_sidecar(path: bytes, display: str) -> bytes:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_XMP_BYTES:
                raise MetadataError(display, f"{too_large('sidecar', size)}; skipped")
            data = f.read(MAX_XMP_BYTES + 1)  # the file may have grown since fstat
    except OSError as exc:
        raise MetadataError(display, f"cannot read the sidecar ({exc.strerror or exc})") from None
    if len(data) > MAX_XMP_BYTES:
        raise MetadataError(display, f"{too_large('sidecar', len(data))}; skipped")
    return data


def _parse(
    packet: bytes, source: str, orientation: int, displayed_size: tuple[int, int], out: PhotoRegions
) -> list[Region]:
    try:
        parsed = parse_xmp(packet, source, orientation=orientation, displayed_size=displayed_size)
    except MetadataError as exc:
        out.problems.append((exc.path, exc.reason))
        return []
    out.problems.extend((source, reason) for reason in parsed.problems)
    return parsed.regions


def _deduplicated(regions: list[Region]) -> list[Region]:
    # IoU does not change when both axes are scaled, so normalised areas compare as pixels would.
    kept: list[Region] = []
    for region in regions:
        box = region.area.to_box(1, 1)
        if not any(k.name == region.name and k.area.to_box(1, 1).iou(box) >= DUPLICATE_IOU for k in kept):
            kept.append(region)
    return kept
