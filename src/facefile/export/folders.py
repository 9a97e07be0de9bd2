"""Export: one folder per person, plus ``people.json`` and ``people.csv``.

Originals are only ever read (``copy``) or pointed at (``symlink``, ``link``).
Each file appears under its final name in one atomic rename, so an export
killed at any moment and run again finishes with nothing half-written.
"""

from __future__ import annotations

import csv
import filecmp
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from facefile.errors import ConfigError
from facefile.media.files import display_path
from facefile.store.db import Store
from facefile.store.twins import twins_by_photo
from facefile.types import Person

MODES = ("symlink", "link", "copy")


@dataclass(frozen=True)
class ExportSummary:
    dest: Path
    people: int
    files: int
    missing: int


def folder_names(people: list[Person]) -> dict[int, str]:
    """Safe, unique folder names: the person's name, else its id."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for p in sorted(people, key=lambda p: p.id):
        base = _safe(p.name) if p.name else p.key
        name = base if base.lower() not in taken else f"{base} ({p.key})"
        taken.add(name.lower())
        names[p.id] = name
    return names


def _safe(name: str) -> str:
    cleaned = re.sub(r'[/\\:*?"<>|\x00-\x1f]', "_", name).strip(" .")
    return cleaned[:120] or "_"


def export(store: Store, dest: Path, *, mode: str = "symlink", include_hidden: bool = False) -> ExportSummary:
    """Write ``dest/<name or id>/<photo>`` for every person.

    Args:
        mode: ``symlink`` (default: no space, originals untouched), ``link``
            (hard links; same disk only) or ``copy``.

    Raises:
        ConfigError: unknown mode.
    """
    if mode not in MODES:
        raise ConfigError(f"Unknown export mode {mode!r}; choose one of {', '.join(MODES)} (--mode).")
    dest = dest.expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    people = [p for p in store.people(include_hidden=include_hidden) if p.n_faces > 0]
    names = folder_names(people)
    twins = twins_by_photo(store)
    rows: list[dict[str, object]] = []
    files = missing = 0
    for person in people:
        folder = dest / names[person.id]
        folder.mkdir(exist_ok=True)
        used: dict[str, int] = {}
        for face in store.faces(person_id=person.id):
            photo = store.photo(face.photo_id)
            rows.append(
                {
                    "person": person.key,
                    "name": person.name,
                    "photo": photo.display,
                    "box": [round(v, 1) for v in face.box.to_list()],
                    "twins": twins.get(photo.id, []),
                    # a face of a video: the video is linked like a photo; when the person is seen
                    "video": None if face.span is None else face.span.to_dict(),
                }
            )
            if photo.status != "ok" or not os.path.exists(photo.path):
                missing += 1
                continue
            # a RAW shot with the photo goes beside it: one shot, both files
            for source in (photo.path, *(os.fsencode(t) for t in twins.get(photo.id, []))):
                if not os.path.exists(source):
                    continue
                base = os.path.basename(display_path(source))
                target_name = base if used.get(base, photo.id) == photo.id else f"{photo.id}-{base}"
                used.setdefault(base, photo.id)
                if _place(source, folder / target_name, mode):
                    files += 1
    _write_atomic(dest / "people.json", json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["person", "name", "photo", "box", "twins"])
    for r in rows:
        box = " ".join(map(str, r["box"]))  # type: ignore[call-overload]
        writer.writerow([r["person"], r["name"] or "", r["photo"], box, " ".join(r["twins"])])  # type: ignore[arg-type]
    _write_atomic(dest / "people.csv", buf.getvalue())
    return ExportSummary(dest, len(people), files, missing)


def _place(source: bytes, target: Path, mode: str) -> bool:
    """Create ``target`` from ``source``; ``False`` if it was already there.

    Only a symbolic link is ever replaced. A regular file in the way may be
    one of the user's photos (an export into the photo folders themselves),
    so it is never deleted or overwritten: the new file takes a free name.
    """
    wanted = target
    for n in range(2, 10_000):
        if target.is_symlink():
            if _is_same(target, source):
                return False
            target.unlink()  # removing a link alters no photo
            break
        if not target.exists():
            break
        if _is_same(target, source) or _same_bytes(target, source):
            return False
        target = wanted.with_name(f"{wanted.stem} ({n}){wanted.suffix}")
    tmp = target.with_name(f".{target.name}.facefile-tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    if mode == "symlink":
        os.symlink(source, tmp)
    elif mode == "link":
        os.link(source, tmp)
    else:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return True


def _is_same(target: Path, source: bytes) -> bool:
    try:
        return os.path.samefile(target, source)
    except OSError:
        return False


def _same_bytes(target: Path, source: bytes) -> bool:
    try:
        return filecmp.cmp(target, os.fsdecode(source), shallow=False)
    except OSError:
        return False


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.facefile-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
