"""Face regions in XMP metadata: read them from photos and sidecars, write facefile's names.

Reading: :func:`read_photo_regions` gathers a photo's regions from its
embedded XMP and its sidecars, turning every problem into a reason.
Writing: :func:`plan_sidecar` merges named faces into a sidecar (pure),
:func:`write_sidecar` writes the plan atomically.

Areas are normalised to the stored image (before EXIF orientation) in the
files, as MWG guidelines 2.0 section 5.9 say; reading turns them into the
displayed frame facefile's boxes live in, writing turns them back
(:func:`area_to_displayed`, :func:`area_to_stored`).
"""

from __future__ import annotations

from facefile.metadata.embedded import EmbeddedXmp, embedded_xmp, embedded_xmp_packets
from facefile.metadata.regions import (
    MAX_XMP_BYTES,
    Area,
    MetadataError,
    Region,
    area_to_displayed,
    area_to_stored,
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
    "EmbeddedXmp",
    "MetadataError",
    "NamedFace",
    "ParsedRegions",
    "PhotoRegions",
    "Region",
    "SidecarPlan",
    "area_to_displayed",
    "area_to_stored",
    "embedded_xmp",
    "embedded_xmp_packets",
    "existing_sidecars",
    "parse_xmp",
    "plan_sidecar",
    "read_photo_regions",
    "sidecar_path",
    "sidecar_signature",
    "write_sidecar",
]
