"""Writing facefile's named faces into an XMP sidecar, kept mergeable with other tools.

facefile owns only what it marks: regions carrying ``facefile:Face`` and the
names listed in ``facefile:Names``. Everything else in an existing sidecar
(other tools' regions, ratings, keywords, unknown namespaces) is kept.
Writing is planned first (:func:`plan_sidecar`, pure) and done second
(:func:`write_sidecar`, atomic), so a dry run can list what would change.

Areas and ``AppliedToDimensions`` are written in the photo's *stored* frame
(before EXIF orientation), as MWG guidelines 2.0 section 5.9 say and as
digiKam, Lightroom and Immich read them; each region carries
``facefile:Version`` (:data:`~facefile.metadata.xmp_read.REGION_VERSION`).
Regions facefile wrote earlier in the displayed frame are rewritten in the
stored one (migrated) by the next write. A region list that already holds
other tools' regions keeps its ``AppliedToDimensions``, and facefile's
regions join it in the frame that list is in, so every region in it stays
coherent with it.

The output is deterministic: the same faces on the same sidecar give the same
bytes, so an unchanged photo never has its sidecar rewritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from facefile.metadata.regions import Area, MetadataError, area_to_stored, is_displayed_frame, stored_size
from facefile.metadata.sidecars import read_sidecar_bytes, sidecar_path
from facefile.metadata.xmp_read import (
    DIGIKAM_TAGS,
    FACEFILE_FACE,
    FACEFILE_NAMES,
    FACEFILE_VERSION,
    MP_REGION_INFO,
    MPREG_NAME,
    MPRI_REGIONS,
    MWG_APPLIED,
    MWG_AREA,
    MWG_NAME,
    MWG_REGION_LIST,
    MWG_REGIONS,
    MWG_TYPE,
    NS_RDF,
    NS_ST_AREA,
    NS_ST_DIM,
    NS_X,
    NS_XML,
    PERSON_IN_IMAGE,
    RDF_CONTAINERS,
    RDF_DESCRIPTION,
    RDF_LI,
    RDF_PARSE_TYPE,
    RDF_RDF,
    REGION_VERSION,
    array_items,
    packet_text,
    parse_packet,
    qname,
    read_dimensions,
    struct_fields,
    text_of,
    top_descriptions,
)
from facefile.metadata.xmp_serialise import declared_prefixes, serialise
from facefile.types import BBox

PEOPLE_TAG = "People/"
"""digiKam's tag root for people: ``People/Ana`` in ``digiKam:TagsList``."""

# Characters XML 1.0 cannot hold; a name carrying one would make the sidecar unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
MAX_DEPTH = 100
"""Deeper sidecars are refused: real XMP nests under 20, and serialising is recursive."""


@dataclass(frozen=True)
class NamedFace:
    """A face facefile names in a sidecar."""

    name: str
    box: BBox
    """Pixels of the displayed (EXIF-oriented) image."""
    face_key: str
    """Stored in the region (``facefile:Face``), e.g. ``"face-12"``, so facefile knows its own regions."""


@dataclass(frozen=True)
class SidecarPlan:
    """What writing one sidecar would do."""

    path: bytes
    """The sidecar to write."""
    old: bytes | None
    """Its current bytes; ``None`` when it does not exist."""
    new: bytes
    """What it would hold; empty when there is nothing to write and no sidecar yet."""
    added: tuple[str, ...] = ()
    """Names facefile writes now that it had not written before."""
    removed: tuple[str, ...] = ()
    """Names facefile wrote before and no longer writes."""
    is_migrated: bool = False
    """The sidecar held regions older facefile wrote in the displayed frame; they are rewritten."""

    @property
    def changed(self) -> bool:
        """Whether :func:`write_sidecar` would touch the file."""
        if self.old is None:
            return bool(self.new)
        return self.new != self.old


def plan_sidecar(
    photo: str | bytes,
    faces: Sequence[NamedFace],
    displayed_size: tuple[int, int],
    *,
    orientation: int = 1,
    form: str = "photo.ext.xmp",
) -> SidecarPlan:
    """Plan the sidecar that names ``faces``, merged into the existing one if any.

    facefile's earlier regions are replaced by ``faces``; with no faces they
    are removed, and no new sidecar is created for none.

    Args:
        photo: the photo's path.
        faces: the named faces; boxes sticking out of the image are clipped to it.
        displayed_size: ``(width, height)`` of the displayed (EXIF-oriented) image, pixels.
        orientation: the photo's EXIF orientation, 1..8; areas are written in
            the stored frame it implies.
        form: one of ``SIDECAR_FORMS``.

    Returns:
        The plan; nothing is written.

    Raises:
        MetadataError: the existing sidecar cannot be read or parsed (it is
            never overwritten then).
        ValueError: an empty name, a box outside the image, a bad size or form.
    """
    width, height = displayed_size
    if width <= 0 or height <= 0:
        raise ValueError(f"displayed_size must be positive pixels, got {displayed_size!r}")
    path = sidecar_path(photo, form)
    display = os.fsdecode(path)
    cleaned = [_checked_face(f, width, height) for f in faces]
    old = read_sidecar_bytes(path) if os.path.lexists(path) else None
    is_blank = old is None or not old.strip(b"\x00 \t\r\n")
    if is_blank and not cleaned:
        return SidecarPlan(path, old, old or b"")  # nothing to write, nothing to remove
    if old is None or is_blank:
        root = _new_packet()
        prefixes: dict[str, str] = {}
    else:
        try:
            root = parse_packet(old, display)
        except MetadataError as exc:
            reason = f"the sidecar cannot be merged into ({exc.reason}); left as it is: fix or remove it"
            raise MetadataError(display, reason) from None
        prefixes = declared_prefixes(packet_text(old, display))
        if _is_too_deep(root):
            reason = f"the sidecar nests elements more than {MAX_DEPTH} deep; left as it is"
            raise MetadataError(display, reason)
    frame = _Frame(displayed_size, orientation if orientation in range(1, 9) else 1)
    is_migrated = _has_older_regions(root)
    old_names, new_names = _merge(root, cleaned, frame)
    new = serialise(root, prefixes)
    added = tuple(n for n in new_names if n not in old_names)
    removed = tuple(n for n in old_names if n not in new_names)
    return SidecarPlan(path, old, new, added, removed, is_migrated and new != old)


def write_sidecar(plan: SidecarPlan) -> None:
    """Write a planned sidecar atomically: a temp file in the same folder, fsync, rename.

    A sidecar that changed since it was planned (another program wrote it) is
    not overwritten. A symbolic link is written through, to its target.

    Raises:
        MetadataError: the sidecar changed since planning, or cannot be written
            (``reason`` gives the system's reason and what to check).
    """
    if not plan.changed:
        return
    target = os.path.realpath(plan.path)
    display = os.fsdecode(plan.path)
    current = read_sidecar_bytes(target) if os.path.lexists(target) else None
    if current != plan.old:
        raise MetadataError(display, "the sidecar changed since it was read (another program?); plan again")
    folder = os.path.dirname(target) or b"."
    token = secrets.token_hex(4).encode()
    tmp = os.path.join(folder, b".%s.%s.facefile-tmp" % (os.path.basename(target), token))
    is_renamed = False
    try:
        # 0o666 less the umask, as any new file; an existing sidecar keeps its mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(plan.new)
            f.flush()
            if current is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(target).st_mode))
            os.fsync(f.fileno())
        os.replace(tmp, target)
        is_renamed = True
        _fsync_folder(folder)
    except OSError as exc:
        reason = (
            f"cannot write the sidecar ({exc.strerror or exc}); "
            f"check that the folder {os.fsdecode(folder)!r} is writable and has free space"
        )
        raise MetadataError(display, reason) from None
    finally:
        if not is_renamed:
            with contextlib.suppress(OSError):  # never created
                os.unlink(tmp)


def _fsync_folder(folder: bytes) -> None:
    """Make the rename durable; some file systems cannot fsync a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _checked_face(face: NamedFace, width: int, height: int) -> NamedFace:
    name = _NOT_XML.sub("", face.name).strip()
    if not name:
        raise ValueError(f"face {face.face_key!r} has an empty name")
    box = face.box.clipped(width, height)
    if not (box.width > 0 and box.height > 0):  # also refuses NaN
        raise ValueError(f"face {face.face_key!r} has box {face.box} outside the {width}x{height} image")
    return NamedFace(name, box, _NOT_XML.sub("", face.face_key))


def _has_older_regions(root: ET.Element) -> bool:
    """Whether the packet holds a region facefile wrote before it had a version (displayed frame)."""
    for region_list in root.iter(MWG_REGION_LIST):
        for li in array_items(region_list):
            fields = struct_fields(li)
            if FACEFILE_FACE in fields and FACEFILE_VERSION not in fields:
                return True
    return False


def _is_too_deep(root: ET.Element) -> bool:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in el)
    return False


def _new_packet() -> ET.Element:
    root = ET.Element(qname(NS_X, "xmpmeta"), {qname(NS_X, "xmptk"): "facefile"})
    rdf = ET.SubElement(root, RDF_RDF)
    ET.SubElement(rdf, RDF_DESCRIPTION, {qname(NS_RDF, "about"): ""})
    return root


@dataclass(frozen=True)
class _Frame:
    """The photo a sidecar is for: its displayed size and EXIF orientation."""

    displayed_size: tuple[int, int]
    orientation: int


def _merge(root: ET.Element, faces: list[NamedFace], frame: _Frame) -> tuple[list[str], list[str]]:
    """Put ``faces`` into the packet in place; returns facefile's earlier names and its names now."""
    descriptions = top_descriptions(root)
    if not descriptions:
        rdf = root if root.tag == RDF_RDF else next(root.iter(RDF_RDF))
        descriptions = [ET.SubElement(rdf, RDF_DESCRIPTION, {qname(NS_RDF, "about"): ""})]
    found = _find_property(descriptions, MWG_REGIONS)
    home = found[0] if found else descriptions[0]
    old_names = [text_of(li).strip() for li in _all_items(descriptions, FACEFILE_NAMES)]
    new_names = list(dict.fromkeys(f.name for f in faces))
    _merge_regions(home, found[1] if found else None, faces, frame)
    keep = set(new_names) | _foreign_names(descriptions)
    stale = {n for n in old_names if n not in keep}
    _merge_bag(descriptions, home, PERSON_IN_IMAGE, "Bag", stale, new_names)
    tags = [PEOPLE_TAG + n for n in new_names]
    _merge_bag(descriptions, home, DIGIKAM_TAGS, "Seq", {PEOPLE_TAG + n for n in stale}, tags)
    _replace_property(descriptions, home, FACEFILE_NAMES, _array("Bag", new_names) if new_names else None)
    return old_names, new_names


def _merge_regions(
    home: ET.Element, regions: ET.Element | None, faces: list[NamedFace], frame: _Frame
) -> None:
    if regions is None:
        if not faces:
            return
        regions = ET.SubElement(home, MWG_REGIONS, {RDF_PARSE_TYPE: "Resource"})
    body = _struct_body(regions)
    region_list = struct_fields(regions).get(MWG_REGION_LIST)
    if not isinstance(region_list, ET.Element):
        region_list = ET.SubElement(body, MWG_REGION_LIST)
    bag = next((c for c in region_list if c.tag in RDF_CONTAINERS), None)
    if bag is None:
        bag = ET.SubElement(region_list, qname(NS_RDF, "Bag"))
    for li in [li for li in bag if li.tag == RDF_LI and FACEFILE_FACE in struct_fields(li)]:
        bag.remove(li)
    n_foreign = len(bag)
    # Areas are normalised, so they hold at any size; AppliedToDimensions
    # documents the size, and so the frame, they were drawn on. Other tools'
    # regions keep theirs (rewriting it could change how readers take their
    # areas), and facefile's join them in that frame: the stored one but for a
    # list whose AppliedToDimensions shows the displayed aspect. A list that
    # is facefile's alone gets the photo's stored size.
    holder = _holder_of(regions, MWG_APPLIED)
    applied = read_dimensions(struct_fields(regions).get(MWG_APPLIED), []) if holder is not None else None
    is_displayed = n_foreign > 0 and is_displayed_frame(applied, frame.orientation, frame.displayed_size)
    bag.extend(_region_item(f, frame, is_displayed) for f in faces)
    dims = _dimensions(*stored_size(frame.displayed_size, frame.orientation))
    if holder is None:
        if faces:
            body.insert(0, dims)
    elif n_foreign == 0:
        old = holder.find(MWG_APPLIED)
        assert old is not None
        holder.insert(list(holder).index(old), dims)
        holder.remove(old)
    if len(bag) == 0:
        list_holder = _holder_of(regions, MWG_REGION_LIST)
        if list_holder is not None:
            list_holder.remove(region_list)
        if set(struct_fields(regions)) <= {MWG_APPLIED}:
            home.remove(regions)


def _region_item(face: NamedFace, frame: _Frame, is_displayed: bool) -> ET.Element:
    area = Area.from_box(face.box, *frame.displayed_size)
    if not is_displayed:
        area = area_to_stored(area, frame.orientation)
    li = ET.Element(RDF_LI, {RDF_PARSE_TYPE: "Resource"})
    area_el = ET.SubElement(li, MWG_AREA, {RDF_PARSE_TYPE: "Resource"})
    for key, value in (("x", area.x), ("y", area.y), ("w", area.w), ("h", area.h)):
        # 7 decimals: within 0.001 px of the box on a 10000 px image.
        ET.SubElement(area_el, qname(NS_ST_AREA, key)).text = f"{value:.7f}"
    ET.SubElement(area_el, qname(NS_ST_AREA, "unit")).text = "normalized"
    ET.SubElement(li, MWG_NAME).text = face.name
    ET.SubElement(li, MWG_TYPE).text = "Face"
    ET.SubElement(li, FACEFILE_FACE).text = face.face_key
    ET.SubElement(li, FACEFILE_VERSION).text = REGION_VERSION
    return li


def _dimensions(width: int, height: int) -> ET.Element:
    dims = ET.Element(MWG_APPLIED, {RDF_PARSE_TYPE: "Resource"})
    ET.SubElement(dims, qname(NS_ST_DIM, "w")).text = str(width)
    ET.SubElement(dims, qname(NS_ST_DIM, "h")).text = str(height)
    ET.SubElement(dims, qname(NS_ST_DIM, "unit")).text = "pixel"
    return dims


def _merge_bag(
    descriptions: list[ET.Element],
    home: ET.Element,
    tag: str,
    kind: str,
    stale: set[str],
    wanted: list[str],
) -> None:
    """Drop ``stale`` items from the array property ``tag`` and append missing ``wanted`` ones."""
    found = _find_property(descriptions, tag)
    if found is None:
        if wanted:
            home.append(_array(kind, wanted, tag))
        return
    holder, prop = found
    container = next((c for c in prop if c.tag in RDF_CONTAINERS), None)
    if container is None:
        return  # not an array: another tool's odd value, left alone
    items = [li for li in container if li.tag == RDF_LI]
    removed = False
    for li in items:
        if text_of(li).strip() in stale:
            container.remove(li)
            removed = True
    present = {text_of(li).strip() for li in container if li.tag == RDF_LI}
    for value in wanted:
        if value not in present:
            ET.SubElement(container, RDF_LI).text = value
            present.add(value)
    if removed and len(container) == 0:
        holder.remove(prop)


def _replace_property(
    descriptions: list[ET.Element], home: ET.Element, tag: str, new: ET.Element | None
) -> None:
    found = _find_property(descriptions, tag)
    if found is None:
        if new is not None:
            home.append(new)
        return
    holder, prop = found
    if new is not None:
        holder.insert(list(holder).index(prop), new)
    holder.remove(prop)


def _array(kind: str, values: Iterable[str], tag: str = FACEFILE_NAMES) -> ET.Element:
    prop = ET.Element(tag)
    container = ET.SubElement(prop, qname(NS_RDF, kind))
    for value in values:
        ET.SubElement(container, RDF_LI).text = value
    return prop


def _find_property(descriptions: list[ET.Element], tag: str) -> tuple[ET.Element, ET.Element] | None:
    """The first description holding property element ``tag``, and the element."""
    for desc in descriptions:
        prop = desc.find(tag)
        if prop is not None:
            return desc, prop
    return None


def _all_items(descriptions: list[ET.Element], tag: str) -> list[ET.Element]:
    return [li for d in descriptions for prop in d.findall(tag) for li in array_items(prop)]


def _foreign_names(descriptions: list[ET.Element]) -> set[str]:
    """Names still claimed by a region facefile did not write (MWG or Microsoft)."""
    names: set[str] = set()
    for desc in descriptions:
        fields = struct_fields(desc)
        regions = fields.get(MWG_REGIONS)
        if isinstance(regions, ET.Element):
            region_list = struct_fields(regions).get(MWG_REGION_LIST)
            if isinstance(region_list, ET.Element):
                for li in array_items(region_list):
                    f = struct_fields(li)
                    if FACEFILE_FACE not in f:
                        names.add(text_of(f.get(MWG_NAME)).strip())
        info = fields.get(MP_REGION_INFO)
        if isinstance(info, ET.Element):
            mp_regions = struct_fields(info).get(MPRI_REGIONS)
            if isinstance(mp_regions, ET.Element):
                names.update(
                    text_of(struct_fields(li).get(MPREG_NAME)).strip() for li in array_items(mp_regions)
                )
    names.discard("")
    return names


def _holder_of(struct: ET.Element, tag: str) -> ET.Element | None:
    """The element (the struct itself or its nested ``rdf:Description``) holding child ``tag``."""
    for holder in (struct, *(c for c in struct if c.tag == RDF_DESCRIPTION)):
        if holder.find(tag) is not None:
            return holder
    return None


def _struct_body(prop: ET.Element) -> ET.Element:
    """Where new fields of a struct go, made valid for child elements.

    A struct written as attributes (``<mwg-rs:Regions a="1"/>``) cannot also
    have child elements in RDF/XML; its attributes become child elements.
    """
    nested = next((c for c in prop if c.tag == RDF_DESCRIPTION), None)
    if nested is not None:
        return nested
    for name, value in list(prop.attrib.items()):
        if not name.startswith((f"{{{NS_RDF}}}", f"{{{NS_XML}}}")):
            del prop.attrib[name]
            ET.SubElement(prop, name).text = value
    prop.set(RDF_PARSE_TYPE, "Resource")
    return prop
