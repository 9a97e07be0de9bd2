"""Face regions as photo metadata stores them: normalised areas and their frames.

An :class:`Area` is what the Metadata Working Group (MWG) regions schema
stores: the centre and size of a rectangle as fractions of an image. MWG
guidelines 2.0 (section 5.9) put region areas, and their
``AppliedToDimensions``, in the *stored* image: the pixels as the file holds
them, before EXIF orientation. A reader turns them with the orientation
(:func:`area_to_displayed`), a writer turns its displayed boxes back
(:func:`area_to_stored`). facefile's boxes are pixels of the *displayed* frame.
Older facefile wrote the displayed frame; :func:`is_displayed_frame` and
the region's version marker (``xmp_read``) tell such areas apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from facefile.errors import FacefileError
from facefile.types import BBox

_ASPECT_TOLERANCE = 0.01

MAX_XMP_BYTES = 2 * 1024 * 1024
"""An embedded packet or sidecar larger than this is refused unread: real ones are a few KB."""


class MetadataError(FacefileError):
    """A photo's XMP or sidecar that cannot be used; ``reason`` is one short line."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Area:
    """MWG-style normalised area: centre x, centre y, width, height, all 0..1 of an image.

    Which image (stored or displayed frame) is said where an area is kept.
    """

    x: float
    y: float
    w: float
    h: float

    def to_box(self, width: int, height: int) -> BBox:
        """The area in pixels of an image ``width`` x ``height``."""
        return BBox(
            (self.x - self.w / 2.0) * width,
            (self.y - self.h / 2.0) * height,
            (self.x + self.w / 2.0) * width,
            (self.y + self.h / 2.0) * height,
        )

    @staticmethod
    def from_box(box: BBox, width: int, height: int) -> Area:
        """The normalised area of a pixel box in an image ``width`` x ``height``."""
        cx, cy = box.center
        return Area(cx / width, cy / height, box.width / width, box.height / height)


# Where EXIF orientation sends a stored-frame point (u, v) in the displayed
# frame, all normalised; 5..8 also swap width and height. These are the
# transforms of PIL.ImageOps.exif_transpose (the tests check against it).
_POINT_MAPS = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1.0 - u, v),  # mirrored left-right
    3: lambda u, v: (1.0 - u, 1.0 - v),  # rotated 180
    4: lambda u, v: (u, 1.0 - v),  # mirrored top-bottom
    5: lambda u, v: (v, u),  # transposed
    6: lambda u, v: (1.0 - v, u),  # turned 90 clockwise for display
    7: lambda u, v: (1.0 - v, 1.0 - u),  # transversed
    8: lambda u, v: (v, 1.0 - u),  # turned 90 counter-clockwise for display
}


def area_to_displayed(area: Area, orientation: int) -> Area:
    """An area given in the *stored* (un-rotated) frame, moved to the displayed frame.

    Args:
        area: normalised to the stored image.
        orientation: the EXIF Orientation tag; values outside 1..8 are treated as 1
            (that is what viewers do with them).

    Returns:
        The same rectangle normalised to the displayed image.
    """
    point_map = _POINT_MAPS.get(orientation, _POINT_MAPS[1])
    x, y = point_map(area.x, area.y)
    if orientation in (5, 6, 7, 8):
        return Area(x, y, area.h, area.w)
    return Area(x, y, area.w, area.h)


def area_to_stored(area: Area, orientation: int) -> Area:
    """An area given in the *displayed* frame, moved to the stored frame (the inverse of
    :func:`area_to_displayed`).

    Args:
        area: normalised to the displayed (EXIF-oriented) image.
        orientation: the EXIF Orientation tag; values outside 1..8 are treated as 1.

    Returns:
        The same rectangle normalised to the stored image, as MWG regions hold it.
    """
    # 1-5 and 7 are their own inverse; 6 and 8 are each other's.
    inverse = {6: 8, 8: 6}.get(orientation, orientation)
    return area_to_displayed(area, inverse)


def stored_size(displayed_size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``(width, height)`` of the stored image, from the displayed one: swapped for orientations 5-8."""
    width, height = displayed_size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def is_displayed_frame(
    applied: tuple[int, int] | None, orientation: int, displayed_size: tuple[int, int] | None
) -> bool:
    """Whether a region list's ``AppliedToDimensions`` says its areas are in the displayed frame.

    MWG puts areas in the stored frame, and so do digiKam, Lightroom, exiftool's
    MWG tags and Immich. A few writers used the displayed frame; for a
    90-degree orientation of a non-square photo their ``AppliedToDimensions``
    then has the displayed aspect (width and height swapped from the stored
    one), which is the only case that can be told apart. Aspects are compared,
    not pixels, because tools often record the size of a preview.

    Args:
        applied: the list's ``AppliedToDimensions`` ``(w, h)``, or ``None`` when absent.
        orientation: the photo's EXIF orientation.
        displayed_size: ``(width, height)`` of the photo as displayed, or ``None`` when unknown.
    """
    if applied is None or displayed_size is None or orientation not in (5, 6, 7, 8):
        return False
    (aw, ah), (dw, dh) = applied, displayed_size
    if aw == ah or dw == dh or dw <= 0 or dh <= 0:
        return False
    aspect = aw / ah
    matches_stored = abs(aspect / (dh / dw) - 1.0) < _ASPECT_TOLERANCE
    matches_displayed = abs(aspect / (dw / dh) - 1.0) < _ASPECT_TOLERANCE
    return matches_displayed and not matches_stored


@dataclass(frozen=True)
class Region:
    """One face region found in a photo's metadata."""

    name: str | None
    """The person's name; ``None`` for an unnamed face region."""
    area: Area
    """Normalised, in the displayed (EXIF-oriented) frame."""
    form: str
    """``"mwg"`` (MWG regions) or ``"mp"`` (Microsoft Photo regions)."""
    source: str
    """The file it was read from (photo or sidecar), for messages."""
    is_facefile: bool = False
    """Written by facefile (it carries facefile's marker)."""
