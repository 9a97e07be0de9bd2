"""Face regions as photo metadata stores them: normalised areas and their frames.

An :class:`Area` is what the Metadata Working Group (MWG) regions schema
stores: the centre and size of a rectangle as fractions of the *displayed*
image (after EXIF orientation). facefile's boxes are pixels of that same
displayed frame, so converting is a scale; only areas that a writer put in
the *stored* (un-rotated) frame need :func:`area_to_displayed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from facefile.errors import FacefileError
from facefile.types import BBox

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
    """MWG-style normalised area: centre x, centre y, width, height, all 0..1 of the displayed image."""

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
