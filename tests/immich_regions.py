"""Immich's reading of MWG face regions, as a second reader independent of facefile's code.

A re-implementation, from its published source, of what Immich's metadata
import does with a file's ``RegionInfo`` (``orientRegionInfo`` and
``applyTaggedFaces`` in ``server/src/services/metadata.service.ts`` of
immich-app/immich, since pull request #18021): the areas are taken as the
*stored* image's, turned with the EXIF orientation, and
``AppliedToDimensions`` has its width and height swapped for the four
sideways orientations. Written here from the published behaviour, not copied.
"""

from __future__ import annotations

import math

from facefile.types import BBox

# orientation -> where the stored-frame centre (x, y) lands on the displayed photo
_TURN = {
    1: lambda x, y: (x, y),
    2: lambda x, y: (1 - x, y),  # MirrorHorizontal
    3: lambda x, y: (1 - x, 1 - y),  # Rotate180
    4: lambda x, y: (x, 1 - y),  # MirrorVertical
    5: lambda x, y: (y, x),  # MirrorHorizontalRotate270CW
    6: lambda x, y: (1 - y, x),  # Rotate90CW
    7: lambda x, y: (1 - y, 1 - x),  # MirrorHorizontalRotate90CW
    8: lambda x, y: (y, 1 - x),  # Rotate270CW
}


def immich_area(
    area: tuple[float, float, float, float], orientation: int
) -> tuple[float, float, float, float]:
    """A stored-frame area ``(x, y, w, h)`` (centre and size, normalised) turned as Immich turns it."""
    x, y, w, h = area
    x, y = _TURN.get(orientation, _TURN[1])(x, y)
    return (x, y, h, w) if orientation in (5, 6, 7, 8) else (x, y, w, h)


def immich_face_boxes(region_info: dict, orientation: int) -> dict[str, BBox]:
    """Name -> the face box Immich stores, in pixels of the displayed photo.

    Args:
        region_info: ``exiftool -j -struct``'s ``RegionInfo`` of a file (what
            Immich reads through exiftool-vendored).
        orientation: the photo's EXIF orientation.

    Returns:
        Each named region's box on the displayed photo, sized by the turned
        ``AppliedToDimensions`` as Immich sizes it (unnamed regions are skipped, as Immich does).
    """
    dims = region_info["AppliedToDimensions"]
    is_sideways = orientation in (5, 6, 7, 8)
    width, height = (dims["H"], dims["W"]) if is_sideways else (dims["W"], dims["H"])
    boxes = {}
    for region in region_info.get("RegionList", []):
        if not region.get("Name"):
            continue
        a = region["Area"]
        x, y, w, h = immich_area((float(a["X"]), float(a["Y"]), float(a["W"]), float(a["H"])), orientation)
        # Immich floors each corner to whole pixels
        boxes[str(region["Name"])] = BBox(
            float(math.floor((x - w / 2) * width)),
            float(math.floor((y - h / 2) * height)),
            float(math.floor((x + w / 2) * width)),
            float(math.floor((y + h / 2) * height)),
        )
    return boxes
