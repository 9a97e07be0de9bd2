"""Named face regions matched to a photo's analysed faces.

The rule (``facefile.types.region_fit``): a region goes to the face it
overlaps best, where the boxes overlap by IoU >= 0.3 or each box's centre
lies inside the other. A named region that fits no detected face was
analysed as a face of its own (``FaceAnalyzer.analyze(region_boxes=...)``).
Conflicts are reported, never guessed: two names on one face, or one name
on two faces of the photo, and none of those names is applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from facefile.metadata.regions import Region
from facefile.types import BBox, NameClaim, PhotoMetadata, region_fit


def region_boxes(regions: Sequence[Region], width: int, height: int) -> list[BBox]:
    """The named regions' boxes in the photo's (EXIF-oriented) pixels, in order."""
    return [r.area.to_box(width, height).clipped(width, height) for r in regions if r.name]


def match_regions(
    photo: str,
    regions: Sequence[Region],
    width: int,
    height: int,
    faces: Sequence[BBox],
    detectors: Sequence[str],
    *,
    sidecars: str | None,
    problems: Sequence[tuple[str, str]] = (),
) -> PhotoMetadata:
    """Settle which face each named region names.

    Args:
        photo: the photo's path, for messages.
        regions: every region read (unnamed ones are only counted).
        width, height: the photo's size in EXIF-oriented pixels.
        faces: the analysed faces' boxes, in the order they will be saved.
        detectors: each face's detector (``"metadata"``: made from a region).
        sidecars: the sidecar signature the regions were read with.
        problems: ``(file, reason)`` for metadata that could not be read.
    """
    named = [r for r in regions if r.name]
    boxes = region_boxes(regions, width, height)
    names_of: dict[int, set[str]] = defaultdict(set)
    faces_of: dict[str, set[int]] = defaultdict(set)
    source_of: dict[tuple[int, str], str] = {}
    matched = added = 0
    for region, box in zip(named, boxes, strict=True):
        fits = [(region_fit(box, f), i) for i, f in enumerate(faces)]
        score, best = max(fits, default=(0.0, -1))
        if score <= 0:
            continue  # too small, or at a forgotten face's place
        assert region.name is not None
        if detectors[best] == "metadata":
            added += 1
        else:
            matched += 1
        names_of[best].add(region.name)
        faces_of[region.name].add(best)
        source_of.setdefault((best, region.name), region.source)
    conflicts: list[str] = []
    claims: list[NameClaim] = []
    for i, names in sorted(names_of.items()):
        if len(names) > 1:
            listed = ", ".join(repr(n) for n in sorted(names))
            conflicts.append(f"{photo}: one face has two names ({listed}); none applied.")
            continue
        (name,) = names
        if len(faces_of[name]) > 1:
            if min(faces_of[name]) == i:  # report once per name
                conflicts.append(
                    f"{photo}: the name {name!r} is on {len(faces_of[name])} faces; not applied."
                )
            continue
        claims.append(NameClaim(name=name, box=faces[i], source=source_of[(i, name)]))
    return PhotoMetadata(
        sidecars=sidecars,
        regions_read=len(regions),
        regions_matched=matched,
        regions_added=added,
        claims=tuple(claims),
        conflicts=tuple(conflicts),
        problems=tuple(problems),
    )
