"""Build ``library-0.1.0/``: a library made, and edited, by facefile 0.1.0.

Run with a facefile 0.1.0 install to regenerate: the dlib release, commit
a990202 (detector "cascade", embedder "dlib_resnet"), plus scikit-image::

    git -C . archive --prefix=facefile-0.1.0/ a990202 | tar -x -C /tmp
    python3.11 -m venv /tmp/oldrel
    /tmp/oldrel/bin/pip install /tmp/facefile-0.1.0 scikit-image
    /tmp/oldrel/bin/python tests/data/make_library_0_1.py

It refuses to run with the current facefile. Each run records a new
temporary photo folder and new timestamps; faces, ids and decisions stay the
same while 0.1.0's models and Pillow's JPEG encoder do. Commit the whole
``library-0.1.0/`` folder together.

``tests/test_upgrade.py`` opens a copy of it with the current facefile.

What it writes, next to this script, in ``library-0.1.0/``:

- ``photos/``: seven JPEGs made only from scikit-image's ``astronaut()``
  (NASA, public domain): the original, a mirrored copy, a half-size copy,
  two astronauts side by side (two faces in one photo), a rotated crop, a
  copy with a grey bar over the mouth, and a heavily blurred copy on which
  0.1.0 finds two false faces besides the real one.
- ``library/library.db``: the library 0.1.0 made of them after a scan and
  the user's decisions: the person of the original named, two faces moved
  out into a new person (the second via a merge), a face marked "not this
  person", a person hidden, a false face excluded, and two people marked
  as different (a cannot-link). The photo paths in it are those of a
  temporary folder removed afterwards, so the photos look moved.
- ``expected.json``: what 0.1.0 left in the database, per photo file name:
  face ids and boxes, each face's person and whether the user placed it,
  excluded faces, people (names, hidden), constraints.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from skimage import data

import facefile
from facefile.analyze import AnalyzeConfig
from facefile.store import edits

HERE = Path(__file__).resolve().parent
OUT = HERE / "library-0.1.0"
MODEL_ID = "dlib_resnet_v1"


def make_photos(folder: Path) -> None:
    """Seven JPEGs of the astronaut (quality 80)."""
    folder.mkdir(parents=True)
    astronaut = Image.fromarray(
        np.ascontiguousarray(data.astronaut())
    )  # 512x512, face at ~(175, 76, 266, 167)
    mirrored = astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pair = Image.new("RGB", (1024, 512))
    pair.paste(astronaut, (0, 0))
    pair.paste(mirrored, (512, 0))
    masked = np.asarray(astronaut).copy()
    masked[135:170, 185:255] = 128  # a grey bar over the mouth
    photos = {
        "astronaut.jpg": astronaut,
        "mirrored.jpg": mirrored,
        "small.jpg": astronaut.resize((256, 256), Image.Resampling.LANCZOS),
        "pair.jpg": pair.resize((768, 384), Image.Resampling.LANCZOS),
        "rotated.jpg": astronaut.rotate(15, Image.Resampling.BICUBIC, center=(220, 121)).crop(
            (40, 0, 440, 400)
        ),
        "masked.jpg": Image.fromarray(masked),
        "blurred.jpg": astronaut.filter(ImageFilter.GaussianBlur(7)),
    }
    for name, image in photos.items():
        image.save(folder / name, quality=80, optimize=True)


def faces_by_photo(lib: facefile.Library) -> dict[str, list[int]]:
    """Face ids per photo file name, excluded faces too, by id."""
    out: dict[str, list[int]] = {}
    for fid, path in lib.store.conn.execute(
        "SELECT f.id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id ORDER BY f.id"
    ):
        out.setdefault(Path(bytes(path).decode()).name, []).append(int(fid))
    return out


def area(lib: facefile.Library, face_id: int) -> float:
    box = lib.store.face(face_id).box
    return (box.right - box.left) * (box.bottom - box.top)


def decide(lib: facefile.Library) -> None:
    """The user's decisions, through 0.1.0's API."""
    by_photo = faces_by_photo(lib)
    expected = {"pair.jpg": 2, "blurred.jpg": 3}
    for name, ids in by_photo.items():
        if len(ids) != expected.get(name, 1):
            raise SystemExit(f"0.1.0 found {len(ids)} faces in {name}; this script expects {expected}")
    (f_orig,) = by_photo["astronaut.jpg"]
    (f_mirror,) = by_photo["mirrored.jpg"]
    (f_small,) = by_photo["small.jpg"]
    (f_rot,) = by_photo["rotated.jpg"]
    (f_mask,) = by_photo["masked.jpg"]
    # the real face of the blurred photo is the smallest box; the two big ones are false faces
    _real, false_face, _ = sorted(by_photo["blurred.jpg"], key=lambda f: area(lib, f))

    eileen = lib.face(f_orig).person_id
    if eileen is None:
        raise SystemExit("0.1.0 left the original astronaut's face without a person")
    lib.name(eileen, "Eileen Collins")
    # two faces the user takes for someone else: each moved out, then merged into one person
    look_alike = lib.move(f_small, "new").id
    other = lib.move(f_rot, "new").id
    lib.merge(other, look_alike)
    lib.name(look_alike, "Look-alike")
    lib.not_person(f_mirror, eileen)
    hidden = lib.move(f_mask, "new").id
    lib.hide(hidden)
    lib.exclude(false_face)
    edits.different_people(lib.store, eileen, look_alike)  # "not the same person" (review answer)
    lib.regroup()


def record(lib: facefile.Library, photo_dir: Path) -> dict[str, object]:
    conn = lib.store.conn
    photos: dict[str, dict[str, object]] = {}
    for pid, path, digest, width, height, model_id in conn.execute(
        "SELECT id, path, content_hash, width, height, model_id FROM photos ORDER BY id"
    ):
        faces = []
        for fid, left, top, right, bottom, detector, excluded, person, source in conn.execute(
            "SELECT f.id, f.left, f.top, f.right, f.bottom, f.detector, f.is_excluded, a.person_id, "
            "a.source FROM faces f LEFT JOIN assignments a ON a.face_id = f.id WHERE f.photo_id = ? "
            "ORDER BY f.id",
            (pid,),
        ):
            faces.append(
                {
                    "id": fid,
                    "box": [round(v, 2) for v in (left, top, right, bottom)],
                    "detector": detector,
                    "person": person,
                    "source": source,
                    "excluded": bool(excluded),
                }
            )
        photos[Path(bytes(path).decode()).name] = {
            "path": bytes(path).decode(),
            "content_hash": digest,
            "size": [width, height],
            "model_id": model_id,
            "faces": faces,
        }
    people = {
        str(i): {"name": name, "hidden": bool(hidden)}
        for i, name, hidden in conn.execute("SELECT id, name, is_hidden FROM people ORDER BY id")
    }
    constraints = [list(c) for c in lib.store.constraints()]
    embedding_models = sorted({r[0] for r in conn.execute("SELECT DISTINCT model_id FROM embeddings")})
    return {
        "made_by": f"facefile {facefile.__version__} (commit a990202, dlib models)",
        "model_id": MODEL_ID,
        "embedding_models": embedding_models,
        "photo_dir": str(photo_dir),
        "n_faces": int(conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]),
        "photos": photos,
        "people": people,
        "constraints": constraints,
    }


def main() -> None:
    if AnalyzeConfig().embedder != "dlib_resnet":
        raise SystemExit("Run this with facefile 0.1.0 (the dlib release), not the current source tree.")
    work = Path(tempfile.mkdtemp(prefix="facefile-0.1.0-"))
    try:
        photo_dir, lib_dir = work / "photos", work / "library"
        make_photos(photo_dir)
        with facefile.Library(lib_dir, settings={"scan.workers": 1}) as lib:
            lib.scan(photo_dir)
            decide(lib)
            expected = record(lib, photo_dir)
        conn = sqlite3.connect(lib_dir / "library.db")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        if (lib_dir / "library.db-wal").exists() and (lib_dir / "library.db-wal").stat().st_size:
            raise SystemExit("the write-ahead log was not folded into library.db")
        if OUT.exists():
            shutil.rmtree(OUT)
        (OUT / "library").mkdir(parents=True)
        shutil.copytree(photo_dir, OUT / "photos")
        shutil.copyfile(lib_dir / "library.db", OUT / "library" / "library.db")
        (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
