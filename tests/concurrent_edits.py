"""A user editing a library while scans run, as a process of its own (``tests/test_concurrency_postgres.py``).

``python -m tests.concurrent_edits LIBRARY TAG LOG STOP`` names people and
moves faces through :class:`facefile.Library`, as the web page does, until
the file ``STOP`` appears (and at least ``MIN_EDITS`` times). Each edit that
returned is one JSON line in ``LOG``; the test checks every one is kept.
The edits of two such processes never touch the same person or face: each
takes every other one (``TAG`` ``even`` or ``odd``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from facefile.api import Library
from facefile.errors import ConstraintError, NotFoundError
from tests.fakes import FAKE_SETTINGS

MIN_EDITS = 8


def main(location: str, tag: str, log: Path, stop: Path) -> None:
    with Library(location, settings=FAKE_SETTINGS, create=False) as lib:
        parity = 0 if tag == "even" else 1
        people = [p.id for p in lib.people()][parity::2]
        # faces alone in their photo: moving one to a new person never clashes with a photo-mate
        faces = [f for f in lib.faces() if len(lib.store.face_boxes(f.photo_id)) == 1][parity::2]
        i = 0
        with log.open("a") as out:
            while i < MIN_EDITS or not stop.exists():
                try:
                    if i % 2 == 0:
                        pid = people[(i // 2) % len(people)]
                        name = f"{tag} {i}"
                        lib.name(pid, name)
                        entry = {"edit": "name", "person": pid, "name": name}
                    else:
                        face = faces[(i // 2) % len(faces)].id
                        entry = {"edit": "move", "face": face, "person": lib.move(face, "new").id}
                except (NotFoundError, ConstraintError) as exc:  # refused (its person regrouped away)
                    entry = {"edit": "refused", "why": str(exc)}
                out.write(json.dumps(entry) + "\n")
                out.flush()
                i += 1
                time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
