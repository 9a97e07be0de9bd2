"""Helpers for the XMP tests: small photos, exiftool runs, and hand-written packets.

The packets here are test data typed out the way other tools write them
(digiKam's attribute form, hostile DTDs); the code under test never builds
XML from strings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from PIL import Image

EXIFTOOL = shutil.which("exiftool")

MWG_NS = (
    'xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
    'xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"'
)


def make_photo(path: Path, size: tuple[int, int] = (640, 480), orientation: int | None = None) -> Path:
    """A plain coloured photo (format from the suffix), optionally with an EXIF orientation."""
    im = Image.new("RGB", size, (180, 120, 90))
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    im.save(path, **kwargs)
    return path


def exiftool(*args: str | Path) -> str:
    """Run exiftool; fail the test with its output if it fails."""
    assert EXIFTOOL is not None
    result = subprocess.run([EXIFTOOL, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def exif_json(path: Path) -> dict:
    """``exiftool -j -struct -XMP:all`` of one file."""
    return json.loads(exiftool("-j", "-struct", "-XMP:all", path))[0]


def mwg_arg(regions: list[tuple[str, str, tuple[float, float, float, float]]], dims: tuple[int, int]) -> str:
    """An ``-XMP-mwg-rs:RegionInfo=...`` argument: regions are ``(name, type, (x, y, w, h))``."""
    items = ",".join(
        f"{{Area={{W={w},H={h},X={x},Y={y},Unit=normalized}},Name={name},Type={kind}}}"
        for name, kind, (x, y, w, h) in regions
    )
    return (
        f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={dims[0]},H={dims[1]},Unit=pixel}},"
        f"RegionList=[{items}]}}"
    )


def mp_arg(name: str, rect: tuple[float, float, float, float]) -> str:
    """An ``-XMP-MP:RegionInfoMP=...`` argument; exiftool escapes commas in a struct value with ``|``."""
    text = "|, ".join(str(v) for v in rect)
    return f"-XMP-MP:RegionInfoMP={{Regions=[{{PersonDisplayName={name},Rectangle={text}}}]}}"


def mwg_packet(items: str, dims: str = "") -> bytes:
    """A packet holding MWG regions; ``items`` are ``rdf:li`` elements as text."""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta {MWG_NS}>
 <rdf:RDF>
  <rdf:Description rdf:about="">
   <mwg-rs:Regions rdf:parseType="Resource">
    {dims}
    <mwg-rs:RegionList><rdf:Bag>{items}</rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def area_item(name: str, x: str, y: str, w: str, h: str, unit: str = "normalized", extra: str = "") -> str:
    """One region in element form (as exiftool writes it)."""
    return f"""<rdf:li rdf:parseType="Resource">
      <mwg-rs:Area rdf:parseType="Resource">
       <stArea:x>{x}</stArea:x><stArea:y>{y}</stArea:y><stArea:w>{w}</stArea:w><stArea:h>{h}</stArea:h>
       <stArea:unit>{unit}</stArea:unit>
      </mwg-rs:Area>
      <mwg-rs:Name>{name}</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>{extra}
     </rdf:li>"""


def dims_element(w: int, h: int) -> str:
    return f'<mwg-rs:AppliedToDimensions stDim:w="{w}" stDim:h="{h}" stDim:unit="pixel"/>'


# digiKam's form: attributes on rdf:Description, structs as nested Descriptions,
# simple properties (Rating, a custom namespace) as attributes.
DIGIKAM_SIDECAR = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:acdsee="http://ns.acdsee.com/iptc/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
   xmp:Rating="3"
   acdsee:caption="by the lake">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>People/Eve</rdf:li>
     <rdf:li>Places/Lake</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <mwg-rs:Regions>
    <rdf:Description>
     <mwg-rs:AppliedToDimensions stDim:w="800" stDim:h="600" stDim:unit="pixel"/>
     <mwg-rs:RegionList>
      <rdf:Bag>
       <rdf:li>
        <rdf:Description mwg-rs:Name="Eve" mwg-rs:Type="Face">
         <mwg-rs:Area stArea:x="0.3" stArea:y="0.4" stArea:w="0.1" stArea:h="0.15" stArea:unit="normalized"/>
        </rdf:Description>
       </rdf:li>
      </rdf:Bag>
     </mwg-rs:RegionList>
    </rdf:Description>
   </mwg-rs:Regions>
   <Iptc4xmpExt:PersonInImage>
    <rdf:Bag>
     <rdf:li>Eve</rdf:li>
    </rdf:Bag>
   </Iptc4xmpExt:PersonInImage>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol9;</dc:title>
 </rdf:Description></rdf:RDF></x:xmpmeta>
"""


def external_entity_packet(target: Path) -> bytes:
    """A packet whose region name is an external entity pointing at ``target``."""
    return f"""<?xml version="1.0"?>
<!DOCTYPE x [ <!ENTITY secret SYSTEM "file://{target}"> ]>
<x:xmpmeta {MWG_NS}><rdf:RDF><rdf:Description rdf:about="">
 <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
  {area_item("&secret;", "0.5", "0.5", "0.1", "0.1")}
 </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>
""".encode()


def parameter_entity_packet(target: Path) -> bytes:
    """An external parameter entity: read while the DTD is parsed, before any element."""
    return f"""<?xml version="1.0"?>
<!DOCTYPE x [ <!ENTITY % ext SYSTEM "file://{target}"> %ext; ]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"/>
""".encode()
