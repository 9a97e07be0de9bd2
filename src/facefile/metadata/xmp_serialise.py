"""Serialising an XMP packet that facefile changed: stable, readable prefixes, ``<?xpacket``-wrapped.

ElementTree forgets the prefixes a packet declared and would name unknown
namespaces ``ns0``, ``ns1``; this keeps the packet's own prefixes (read back
from its ``xmlns:`` declarations), gives the well-known namespaces their
usual ones, and indents the result, so the same tree always gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from facefile.metadata.xmp_read import (
    NS_DIGIKAM,
    NS_FACEFILE,
    NS_IPTC_EXT,
    NS_MP,
    NS_MPREG,
    NS_MPRI,
    NS_MWG_RS,
    NS_RDF,
    NS_ST_AREA,
    NS_ST_DIM,
    NS_X,
    NS_XML,
)

_PREFIXES = {
    NS_X: "x",
    NS_RDF: "rdf",
    NS_MWG_RS: "mwg-rs",
    NS_ST_DIM: "stDim",
    NS_ST_AREA: "stArea",
    NS_IPTC_EXT: "Iptc4xmpExt",
    NS_DIGIKAM: "digiKam",
    NS_FACEFILE: "facefile",
    NS_MP: "MP",
    NS_MPRI: "MPRI",
    NS_MPREG: "MPReg",
}
_XMLNS = re.compile(r"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']*)["']""")

_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'


def declared_prefixes(packet: str) -> dict[str, str]:
    """URI -> prefix as the packet declares them, so rewriting keeps other tools' prefixes.

    ElementTree forgets prefixes when parsing; this reads them back from the
    ``xmlns:`` declarations. A stray match in text only matters for a URI the
    tree uses, and then just names its prefix.
    """
    found: dict[str, str] = {}
    for prefix, uri in _XMLNS.findall(packet):
        found.setdefault(uri, prefix)
    return found


def serialise(root: ET.Element, declared: dict[str, str]) -> bytes:
    """The packet as UTF-8 bytes with readable, stable prefixes, indented, ``<?xpacket``-wrapped.

    ElementTree would name unknown namespaces ``ns0``, ``ns1`` (and only knows
    others through a process-wide registry), so the tree is copied with
    ``prefix:local`` names and its ``xmlns`` declarations put on the root.
    """
    prefixes: dict[str, str] = {}
    taken = {"xml", "xmlns"}

    def name(qualified: str) -> str:
        if not qualified.startswith("{"):
            return qualified
        uri, local = qualified[1:].split("}", 1)
        if uri == NS_XML:
            return f"xml:{local}"
        if uri not in prefixes:
            candidates = [declared.get(uri), _PREFIXES.get(uri)]
            prefix = next((p for p in candidates if p and p not in taken), None)
            n = 0
            while prefix is None or prefix in taken:
                prefix, n = f"ns{n}", n + 1
            prefixes[uri] = prefix
            taken.add(prefix)
        return f"{prefixes[uri]}:{local}"

    def renamed(el: ET.Element) -> ET.Element:
        out = ET.Element(name(el.tag), {name(k): v for k, v in el.attrib.items()})
        out.text, out.tail = el.text, el.tail
        out.extend(renamed(child) for child in el)
        return out

    top = renamed(root)
    declarations = {f"xmlns:{p}": uri for uri, p in sorted(prefixes.items(), key=lambda item: item[1])}
    top.attrib = {**declarations, **top.attrib}
    ET.indent(top, space=" ")
    body = ET.tostring(top, encoding="unicode")
    return (_PACKET_BEGIN + body + _PACKET_END).encode("utf-8")
