"""digiKam reads facefile's sidecars, and facefile reads digiKam's, on all eight EXIF orientations.

digiKam 7.9 (Debian's ``digikam`` package) runs headless on a collection
(``tests/digikam.py``) and its database is read back: every name must be on
the right photo and every box on its face (IoU >= 0.9, in the photo as
shown). Three albums, each with the same two-person picture stored for
orientations 1-8:

- ``ext``: sidecars ``IMG.jpg.xmp`` written by ``facefile xmp write``;
- ``plain``: sidecars ``IMG.xmp`` (Lightroom's name), written the same way;
- ``dk``: sidecars in digiKam's own form (Exiv2's attribute form, areas in
  the stored frame, ``digiKam:TagsList``), written by the test: digiKam
  cannot be made to write its regions headless, so the test writes them as
  digiKam does, digiKam's own reading of them is checked, and then
  ``facefile scan`` must put each name on the right face.

Skipped where digiKam or xvfb-run is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facefile
from facefile.types import BBox
from tests.digikam import DIGIKAM, XVFB_RUN, face_regions, run_digikam, tagged_people
from tests.test_xmp_real import STORE_FOR, stored_box, stored_size

pytestmark = [
    pytest.mark.digikam,
    pytest.mark.long,  # digiKam starts, scans and is stopped for each run: about 35 s
    pytest.mark.skipif(
        DIGIKAM is None or XVFB_RUN is None,
        reason="digiKam or xvfb-run is not installed (Debian: digikam, xvfb); .ci/run installs them",
    ),
]

SETTINGS = {"scan.workers": 2}
SHOWN = (1024, 512)
PEOPLE = ("Eileen Collins", "Mirror Collins")  # left and right on the photo as shown
ALBUMS = {"ext": "photo.ext.xmp", "plain": "photo.xmp"}
QUALITY = {"ext": 92, "plain": 91, "dk": 90}


def _two_people(astronaut: np.ndarray) -> Image.Image:
    """The astronaut and her mirror image side by side: two faces on a 1024x512 photo."""
    return Image.fromarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))


def _store_all_orientations(folder: Path, upright: Image.Image, quality: int) -> None:
    """``o1.jpg`` .. ``o8.jpg``; each album gets its own ``quality``, because digiKam copies
    the faces of a file it already knows (the same content hash) instead of reading its sidecar."""
    folder.mkdir(parents=True)
    for orientation, how in STORE_FOR.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        (upright if how is None else upright.transpose(how)).save(
            folder / f"o{orientation}.jpg", quality=quality, exif=exif
        )


def _named_by_position(lib: facefile.Library) -> dict[str, dict[str, BBox]]:
    """Name the left face of each photo Eileen Collins and the right one Mirror Collins."""
    faces: dict[str, list] = {}
    for f in lib.faces():
        faces.setdefault(Path(f.photo).name, []).append(f)
    assert sorted(faces) == [f"o{n}.jpg" for n in range(1, 9)]
    assert all(len(fs) == 2 for fs in faces.values()), {k: len(v) for k, v in faces.items()}
    boxes: dict[str, dict[str, BBox]] = {}
    for i, name in enumerate(PEOPLE):
        chosen = [sorted(fs, key=lambda f: f.box.center[0])[i] for fs in faces.values()]
        lib.name(lib.move([f.id for f in chosen], "new").id, name)
        for f in chosen:
            boxes.setdefault(Path(f.photo).name, {})[name] = f.box
    return boxes


def _digikam_sidecar(people: dict[str, BBox], orientation: int) -> str:
    """A sidecar as digiKam 7.9 writes one (Exiv2's attribute form), areas in the stored frame."""
    size = stored_size(SHOWN, orientation)
    items = []
    for name, shown in people.items():
        b = stored_box(shown, SHOWN, orientation)
        x, y = b.center[0] / size[0], b.center[1] / size[1]
        w, h = b.width / size[0], b.height / size[1]
        items.append(
            f"""       <rdf:li>
        <rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face">
         <mwg-rs:Area stArea:x="{x:.6f}" stArea:y="{y:.6f}" stArea:w="{w:.6f}" stArea:h="{h:.6f}"
          stArea:unit="normalized"/>
        </rdf:Description>
       </rdf:li>"""
        )
    tags = "".join(f"\n     <rdf:li>People/{n}</rdf:li>" for n in people)
    names = "".join(f"\n     <rdf:li>{n}</rdf:li>" for n in people)
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <digiKam:TagsList>
    <rdf:Seq>{tags}
    </rdf:Seq>
   </digiKam:TagsList>
   <mwg-rs:Regions>
    <rdf:Description>
     <mwg-rs:AppliedToDimensions stDim:w="{size[0]}" stDim:h="{size[1]}" stDim:unit="pixel"/>
     <mwg-rs:RegionList>
      <rdf:Bag>
{body}
      </rdf:Bag>
     </mwg-rs:RegionList>
    </rdf:Description>
   </mwg-rs:Regions>
   <Iptc4xmpExt:PersonInImage>
    <rdf:Bag>{names}
    </rdf:Bag>
   </Iptc4xmpExt:PersonInImage>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@pytest.fixture(scope="module")
def digikam_run(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> dict:
    root = tmp_path_factory.mktemp("digikam")
    collection = root / "collection"
    upright = _two_people(astronaut)
    expected: dict[str, dict[str, dict[str, BBox]]] = {}
    for album, form in ALBUMS.items():
        _store_all_orientations(collection / album, upright, QUALITY[album])
        with facefile.Library(root / f"lib-{album}", settings=SETTINGS) as lib:
            lib.scan(collection / album)
            expected[album] = _named_by_position(lib)
            summary = lib.write_xmp(sidecar_name=form)
        assert summary.written == 8 and summary.problems == []
    _store_all_orientations(collection / "dk", upright, QUALITY["dk"])
    for photo, people in expected["ext"].items():
        orientation = int(photo[1])
        (collection / "dk" / f"{photo}.xmp").write_text(_digikam_sidecar(people, orientation))
    expected["dk"] = expected["ext"]
    n_faces = sum(len(people) for photos in expected.values() for people in photos.values())

    def all_faces_in(db: Path) -> bool:
        return sum(len(v) for v in face_regions(db).values()) >= n_faces

    db = run_digikam(collection, root / "home", until=all_faces_in)
    return {"db": db, "expected": expected, "collection": collection, "root": root}


def _ious(digikam_run: dict, album: str) -> dict[int, list[float]]:
    """Orientation -> the IoU of each of digiKam's boxes with the face of its name."""
    found = face_regions(digikam_run["db"])
    tagged = tagged_people(digikam_run["db"])
    ious: dict[int, list[float]] = {}
    for photo, people in digikam_run["expected"][album].items():
        regions = found.get((f"/{album}", photo), [])
        assert sorted(name for name, _ in regions) == sorted(people), (album, photo, regions)
        assert tagged[(f"/{album}", photo)] == set(people), (album, photo)
        for name, box in regions:
            ious.setdefault(int(photo[1]), []).append(box.iou(people[name]))
    return ious


@pytest.mark.parametrize("album", ["ext", "plain"])
def test_digikam_puts_every_facefile_region_on_its_face(digikam_run: dict, album: str) -> None:
    ious = _ious(digikam_run, album)
    print(f"\ndigiKam, sidecars {ALBUMS[album]}: orientation -> lowest IoU")
    for orientation, values in sorted(ious.items()):
        print(f"  {orientation}: {min(values):.3f}")
    assert sorted(ious) == list(range(1, 9))
    assert all(v >= 0.9 for values in ious.values() for v in values), ious


def test_digikam_reads_its_own_form_in_the_stored_frame(digikam_run: dict) -> None:
    """The sidecars in digiKam's form mean to digiKam what the test meant: each box on its face."""
    ious = _ious(digikam_run, "dk")
    assert all(v >= 0.9 for values in ious.values() for v in values), ious


def test_facefile_reads_digikams_regions_onto_the_right_faces(digikam_run: dict) -> None:
    folder = digikam_run["collection"] / "dk"
    with facefile.Library(digikam_run["root"] / "lib-dk", settings=SETTINGS) as lib:
        s = lib.scan(folder)
        names = {p.id: p.name for p in lib.people()}
        got = {(Path(f.photo).name, names.get(f.person_id)): f.box for f in lib.faces()}
    # every region matched a detected face: none became a face of its own
    assert (s.regions_read, s.regions_matched, s.regions_added, s.names_applied) == (16, 16, 0, 16)
    for photo, people in digikam_run["expected"]["dk"].items():
        for name, box in people.items():
            assert got[(photo, name)].iou(box) > 0.9, (photo, name)
