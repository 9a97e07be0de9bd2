"""Reading face regions out of an XMP packet.

Two region schemas are read: MWG regions (``mwg-rs:Regions``, written by
digiKam, Lightroom, Picasa, exiftool, Immich, facefile) and Microsoft's
``MP:RegionInfo`` (Windows Photo Gallery). RDF allows a struct to be written
three ways (``rdf:parseType="Resource"``, a nested ``rdf:Description``, or
fields as attributes); :func:`struct_fields` reads all three, so the readers
below never care which one a tool chose.

Areas are read in the frame MWG guidelines 2.0 (section 5.9) give them: the
stored image, turned here into the displayed frame with the photo's EXIF
orientation (Microsoft's ``MP:RegionInfo`` rectangles likewise). Two
exceptions, both in the displayed frame already: regions facefile wrote
before it followed the guideline (they carry ``facefile:Face`` but no
``facefile:Version``), and a list whose ``AppliedToDimensions`` has the
displayed aspect of a photo turned by 90 degrees
(:func:`~facefile.metadata.regions.is_displayed_frame`).

Packets are read in UTF-8, UTF-16 or UTF-32 (the encodings XMP allows), told
apart by their byte-order mark or the NULs around their first ``<``.

Every packet is parsed by defusedxml with DTDs, entities and external
references forbidden: an XMP packet never needs them, and they are how XML
files expand to gigabytes or read other files.
"""

from __future__ import annotations

import codecs
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import defusedxml
import defusedxml.ElementTree as DET

from facefile.metadata.regions import (
    MAX_XMP_BYTES,
    Area,
    MetadataError,
    Region,
    area_to_displayed,
    is_displayed_frame,
)

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
NS_ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
NS_ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
NS_DIGIKAM = "http://www.digikam.org/ns/1.0/"
NS_FACEFILE = "http://ns.facefile.dev/xmp/1.0/"
NS_MP = "http://ns.microsoft.com/photo/1.2/"
NS_MPRI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
NS_MPREG = "http://ns.microsoft.com/photo/1.2/t/Region#"


def qname(ns: str, local: str) -> str:
    """ElementTree's ``{uri}local`` name."""
    return f"{{{ns}}}{local}"


RDF_RDF = qname(NS_RDF, "RDF")
RDF_DESCRIPTION = qname(NS_RDF, "Description")
RDF_LI = qname(NS_RDF, "li")
RDF_PARSE_TYPE = qname(NS_RDF, "parseType")
RDF_CONTAINERS = (qname(NS_RDF, "Bag"), qname(NS_RDF, "Seq"), qname(NS_RDF, "Alt"))
MWG_REGIONS = qname(NS_MWG_RS, "Regions")
MWG_APPLIED = qname(NS_MWG_RS, "AppliedToDimensions")
MWG_REGION_LIST = qname(NS_MWG_RS, "RegionList")
MWG_AREA = qname(NS_MWG_RS, "Area")
MWG_NAME = qname(NS_MWG_RS, "Name")
MWG_TYPE = qname(NS_MWG_RS, "Type")
FACEFILE_FACE = qname(NS_FACEFILE, "Face")
FACEFILE_NAMES = qname(NS_FACEFILE, "Names")
FACEFILE_VERSION = qname(NS_FACEFILE, "Version")
REGION_VERSION = "2"
"""``facefile:Version`` of the regions facefile writes now: areas in the stored frame, as MWG says.

Regions with ``facefile:Face`` and no version were written in the displayed
frame by older facefile; the next ``facefile xmp write`` rewrites them."""
PERSON_IN_IMAGE = qname(NS_IPTC_EXT, "PersonInImage")
DIGIKAM_TAGS = qname(NS_DIGIKAM, "TagsList")
MP_REGION_INFO = qname(NS_MP, "RegionInfo")
MPRI_REGIONS = qname(NS_MPRI, "Regions")
MPREG_RECTANGLE = qname(NS_MPREG, "Rectangle")
MPREG_NAME = qname(NS_MPREG, "PersonDisplayName")

_TOLERANCE = 1e-6

Value = ET.Element | str
"""A struct field: an attribute's text, or a property element."""


@dataclass
class ParsedRegions:
    """What one XMP packet says about faces."""

    regions: list[Region] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One short reason per skipped region, e.g. ``"region 'Ana' has an area outside 0..1; skipped"``."""
    applied_to: tuple[int, int] | None = None
    """MWG ``AppliedToDimensions`` ``(w, h)`` in pixels, if given."""
    person_in_image: list[str] = field(default_factory=list)
    """``Iptc4xmpExt:PersonInImage`` names (informational: they say who, not where)."""


def parse_packet(packet: bytes, source: str) -> ET.Element:
    """Parse an XMP packet (optionally ``<?xpacket``-wrapped) into its root element.

    Args:
        packet: the raw bytes; padding NULs and whitespace around it are ignored.
        source: the file it came from, for the error.

    Returns:
        The root: ``x:xmpmeta`` (or whatever wraps ``rdf:RDF``), or ``rdf:RDF`` itself.

    Raises:
        MetadataError: larger than :data:`MAX_XMP_BYTES`, not well-formed, has a
            DTD, entities or external references, or holds no ``rdf:RDF``.
    """
    if len(packet) > MAX_XMP_BYTES:
        raise MetadataError(source, too_large("XMP", len(packet)))
    text = packet_text(packet, source).encode("utf-8")
    try:
        root = DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise MetadataError(source, "XMP declares a DTD, which XMP never needs (refused)") from None
    except defusedxml.EntitiesForbidden:
        raise MetadataError(source, "XMP declares entities (refused, not expanded)") from None
    except defusedxml.ExternalReferenceForbidden:
        raise MetadataError(source, "XMP refers to an external file or URL (refused, not read)") from None
    except ET.ParseError as exc:
        raise MetadataError(source, f"XMP is not well-formed XML ({exc})") from None
    if next(root.iter(RDF_RDF), None) is None:
        raise MetadataError(source, "no rdf:RDF element, so this is not XMP")
    return root


_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_ENCODING_DECLARATION = re.compile(r"""^(<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


def packet_text(packet: bytes, source: str) -> str:
    """A packet's text, decoded from UTF-8, UTF-16 or UTF-32, as its start says.

    The encoding comes from a byte-order mark or else from the NUL bytes
    around the first ``<``. Padding (whitespace and NULs) around the packet is
    dropped, and so is an ``<?xml`` encoding declaration (the text is no
    longer in that encoding). A packet that is not UTF-8 but declares a
    single-byte encoding (``ISO-8859-1``, as some old tools wrote) is read in it.

    Raises:
        MetadataError: the bytes are not valid text in the encoding they start with.
    """
    encoding = next((enc for mark, enc in _BOMS if packet.startswith(mark)), None)
    if encoding is None:
        encoding = _encoding_around(packet, packet.find(b"<", 0, 1024))
    width = {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}.get(encoding, 1)
    body = packet[: len(packet) - len(packet) % width]  # a stray padding byte after the packet
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        declared = _declared_single_byte(body) if encoding == "utf-8" else None
        if declared is None:
            name = encoding.upper().removesuffix("-SIG")
            raise MetadataError(source, f"XMP is not valid {name} text (byte {exc.start})") from None
        text = body.decode(declared, "replace")
    text = text.strip("\x00 \t\r\n\ufeff")
    return _ENCODING_DECLARATION.sub(r"\1", text, count=1)


def _declared_single_byte(body: bytes) -> str | None:
    """The single-byte encoding an ``<?xml`` declaration names (``latin-1``), or ``None``."""
    m = re.match(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""", body)
    if m is None:
        return None
    try:
        info = codecs.lookup(m.group(1).decode("ascii"))
    except LookupError:
        return None
    # one byte per character: each byte decodes alone (UTF-8, UTF-16 and the CJK codecs do not)
    return info.name if len("\u00e9".encode(info.name, "replace")) == 1 else None


def _encoding_around(packet: bytes, at: int) -> str:
    """The encoding a BOM-less packet is in, from the NULs around its first ``<`` (at ``at``).

    In UTF-16 and UTF-32 an ASCII character is one byte and its NULs: before it
    in big-endian, after it in little-endian, at an offset the width divides.
    """
    if at < 0:
        return "utf-8"
    before, after = packet[max(at - 3, 0) : at], packet[at + 1 : at + 4]
    if before == b"\x00\x00\x00" and at % 4 == 3:
        return "utf-32-be"
    if after == b"\x00\x00\x00" and at % 4 == 0:
        return "utf-32-le"
    if before[-1:] == b"\x00" and at % 2 == 1:
        return "utf-16-be"
    if after[:1] == b"\x00" and at % 2 == 0:
        return "utf-16-le"
    return "utf-8"


def parse_xmp(
    packet: bytes,
    source: str,
    *,
    orientation: int = 1,
    displayed_size: tuple[int, int] | None = None,
) -> ParsedRegions:
    """Read the face regions of one XMP packet.

    Args:
        packet: the XMP bytes (a sidecar's content or an embedded packet).
        source: the file it came from, used in :attr:`Region.source` and messages.
        orientation: the photo's EXIF orientation, 1..8.
        displayed_size: ``(width, height)`` of the photo as displayed (after
            orientation), pixels; lets the rare lists written in the displayed
            frame be recognised (:func:`~facefile.metadata.regions.is_displayed_frame`).

    Returns:
        The face regions (areas in the displayed frame) and one problem line per region skipped.

    Raises:
        MetadataError: the packet cannot be parsed at all (see :func:`parse_packet`).
    """
    root = parse_packet(packet, source)
    out = ParsedRegions()
    for desc in top_descriptions(root):
        fields = struct_fields(desc)
        regions = fields.get(MWG_REGIONS)
        if isinstance(regions, ET.Element):
            _read_mwg(regions, source, orientation, displayed_size, out)
        info = fields.get(MP_REGION_INFO)
        if isinstance(info, ET.Element):
            _read_mp(info, source, orientation, out)
        people = fields.get(PERSON_IN_IMAGE)
        if isinstance(people, ET.Element):
            out.person_in_image.extend(n for n in (text_of(li).strip() for li in array_items(people)) if n)
    return out


def top_descriptions(root: ET.Element) -> list[ET.Element]:
    """The ``rdf:Description`` children of the packet's ``rdf:RDF``."""
    rdf = root if root.tag == RDF_RDF else next(root.iter(RDF_RDF), None)
    return [] if rdf is None else [d for d in rdf if d.tag == RDF_DESCRIPTION]


def struct_fields(el: ET.Element) -> dict[str, Value]:
    """The fields of a struct value, whichever RDF form holds it.

    Attributes (other than ``rdf:*``/``xml:*``) give text; child elements give
    elements. A nested ``rdf:Description`` contributes its own attributes and
    children. The first occurrence of a name wins.
    """
    holders = [el, *(c for c in el if c.tag == RDF_DESCRIPTION)]
    fields: dict[str, Value] = {}
    for holder in holders:
        for name, value in holder.attrib.items():
            if not name.startswith((f"{{{NS_RDF}}}", f"{{{NS_XML}}}")):
                fields.setdefault(name, value)
        for child in holder:
            if child.tag != RDF_DESCRIPTION:
                fields.setdefault(child.tag, child)
    return fields


def array_items(el: ET.Element) -> list[ET.Element]:
    """The ``rdf:li`` items of an array property (Bag, Seq or Alt); ``[]`` if it holds none."""
    for container in el:
        if container.tag in RDF_CONTAINERS:
            return [li for li in container if li.tag == RDF_LI]
    return []


def text_of(value: Value | None) -> str:
    """A simple field's text: an attribute, an element's text, or the first item of a language Alt."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    alt = array_items(value)
    if alt:
        return alt[0].text or ""
    return value.text or ""


def _read_mwg(
    regions: ET.Element,
    source: str,
    orientation: int,
    displayed_size: tuple[int, int] | None,
    out: ParsedRegions,
) -> None:
    fields = struct_fields(regions)
    applied = read_dimensions(fields.get(MWG_APPLIED), out.problems)
    if out.applied_to is None:
        out.applied_to = applied
    is_displayed = is_displayed_frame(applied, orientation, displayed_size)
    region_list = fields.get(MWG_REGION_LIST)
    if not isinstance(region_list, ET.Element):
        return
    for index, li in enumerate(array_items(region_list), 1):
        f = struct_fields(li)
        kind = text_of(f.get(MWG_TYPE)).strip()
        if kind and kind.lower() != "face":
            continue  # pets, focus points, barcodes: not ours to read
        name = text_of(f.get(MWG_NAME)).strip() or None
        label = _label(name, index)
        area_el = f.get(MWG_AREA)
        if not isinstance(area_el, ET.Element):
            out.problems.append(f"{label} has no area; skipped")
            continue
        a = struct_fields(area_el)
        unit = text_of(a.get(qname(NS_ST_AREA, "unit"))).strip()
        if unit and unit.lower() != "normalized":
            out.problems.append(f"{label} has its area in unit {unit[:40]!r}, not 'normalized'; skipped")
            continue
        numbers, why = _numbers({k: text_of(a.get(qname(NS_ST_AREA, k))) for k in "xywh"})
        area, why = checked_area(*numbers) if numbers else (None, why)
        if area is None:
            out.problems.append(f"{label} {why}; skipped")
            continue
        is_facefile = FACEFILE_FACE in f
        # facefile's regions from before it followed MWG 5.9 carry no version: displayed frame.
        is_legacy = is_facefile and FACEFILE_VERSION not in f
        if not (is_displayed or is_legacy):
            area = area_to_displayed(area, orientation)
        out.regions.append(Region(name, area, "mwg", source, is_facefile))


def _read_mp(info: ET.Element, source: str, orientation: int, out: ParsedRegions) -> None:
    regions = struct_fields(info).get(MPRI_REGIONS)
    if not isinstance(regions, ET.Element):
        return
    for index, li in enumerate(array_items(regions), 1):
        f = struct_fields(li)
        name = text_of(f.get(MPREG_NAME)).strip() or None
        label = _label(name, index)
        rect = text_of(f.get(MPREG_RECTANGLE)).strip()
        if not rect:
            out.problems.append(f"{label} has no rectangle; skipped")
            continue
        parts = rect.split(",")
        if len(parts) != 4:
            out.problems.append(f"{label} has a rectangle that is not 'left, top, width, height'; skipped")
            continue
        numbers, why = _numbers(dict(zip(("left", "top", "width", "height"), parts, strict=True)))
        if not numbers:
            out.problems.append(f"{label} {why}; skipped")
            continue
        left, top, w, h = numbers
        # Microsoft's rectangle is top-left based; MWG's area is centre based.
        area, why = checked_area(left + w / 2.0, top + h / 2.0, w, h)
        if area is None:
            out.problems.append(f"{label} {why}; skipped")
            continue
        # Windows Photo Gallery draws on the stored image too (it has no AppliedToDimensions).
        out.regions.append(Region(name, area_to_displayed(area, orientation), "mp", source))


def checked_area(cx: float, cy: float, cw: float, ch: float) -> tuple[Area | None, str]:
    """A normalised area from its centre and size, or ``None`` and why it is unusable.

    A centre outside 0..1, a size of zero or below, or a side longer than the
    image is refused; an area that only sticks out over an edge is clipped to it.
    """
    if cw <= 0.0 or ch <= 0.0:
        return None, "has an area of zero size"
    if cw > 1.0 + _TOLERANCE or ch > 1.0 + _TOLERANCE:
        return None, "has an area larger than the image"
    if not (-_TOLERANCE <= cx <= 1.0 + _TOLERANCE and -_TOLERANCE <= cy <= 1.0 + _TOLERANCE):
        return None, "has an area outside 0..1"
    left, right = max(cx - cw / 2.0, 0.0), min(cx + cw / 2.0, 1.0)
    top, bottom = max(cy - ch / 2.0, 0.0), min(cy + ch / 2.0, 1.0)
    if right <= left or bottom <= top:
        return None, "has an area of zero size inside the image"
    return Area((left + right) / 2.0, (top + bottom) / 2.0, right - left, bottom - top), ""


def _numbers(texts: dict[str, str]) -> tuple[list[float], str]:
    """The texts as finite numbers, or ``[]`` and which one is missing or not a number."""
    numbers = []
    for key, text in texts.items():
        if not text.strip():
            return [], f"has no area {key}"
        number = _number(text)
        if number is None:
            return [], f"has a non-numeric area {key} ({text.strip()[:20]!r})"
        numbers.append(number)
    return numbers, ""


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_dimensions(value: Value | None, problems: list[str]) -> tuple[int, int] | None:
    """``AppliedToDimensions`` as ``(w, h)`` pixels; ``None`` (and a problem line) when unusable."""
    if not isinstance(value, ET.Element):
        return None
    fields = struct_fields(value)
    w = _number(text_of(fields.get(qname(NS_ST_DIM, "w"))))
    h = _number(text_of(fields.get(qname(NS_ST_DIM, "h"))))
    if w is None or h is None or w < 1 or h < 1:
        problems.append("AppliedToDimensions is not a positive width and height; ignored")
        return None
    return round(w), round(h)


def _label(name: str | None, index: int) -> str:
    return f"region {name[:60]!r}" if name else f"unnamed region {index}"


def too_large(what: str, size: int) -> str:
    """Why XMP of ``size`` bytes is refused: ``"sidecar is 50.0 MB, above the 2 MB limit for XMP"``."""
    return f"{what} is {size / 2**20:.1f} MB, above the {MAX_XMP_BYTES // 2**20} MB limit for XMP"
