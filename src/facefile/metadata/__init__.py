"""Face regions in XMP metadata: read them from photos and sidecars, write facefile's names.

Reading: :func:`read_photo_regions` gathers a photo's regions from its
embedded XMP and its sidecars, turning every problem into a reason.
Writing: :func:`plan_sidecar` merges named faces into a sidecar (pure),
:func:`write_sidecar` writes the plan atomically.

Areas are normalised to the displayed (EXIF-oriented) image, as the MWG
regions schema says; :class:`Area` converts them to pixel boxes.
"""

from __future__ import annotations

from facefile.metadata.embedded import embedded_xmp
from facefile.metadata.regions import (
    MAX_XMP_BYTES,
    Area,
    MetadataError,
    Region,
    area_to_displayed,
)
from facefile.metadata.sidecars import (
    SIDECAR_FORMS,
    PhotoRegions,
    existing_sidecars,
    read_photo_regions,
    sidecar_path,
    sidecar_signature,
)
from facefile.metadata.xmp_read import ParsedRegions, parse_xmp
from facefile.metadata.xmp_write import NamedFace, SidecarPlan, plan_sidecar, write_sidecar

__all__ = [
    "MAX_XMP_BYTES",
    "SIDECAR_FORMS",
    "Area",
    "MetadataError",
    "NamedFace",
    "ParsedRegions",
    "PhotoRegions",
    "Region",
    "SidecarPlan",
    "area_to_displayed",
    "embedded_xmp",
    "existing_sidecars",
    "parse_xmp",
    "plan_sidecar",
    "read_photo_regions",
    "sidecar_path",
    "sidecar_signature",
    "write_sidecar",
]
