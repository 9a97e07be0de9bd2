"""Small builders shared by pipeline, CLI and export tests."""

from __future__ import annotations

from pathlib import Path

import facefile
from tests.fakes import FAKE_SETTINGS, draw_photo

# photo name -> identities in it (left to right)
SMALL_SET: dict[str, list[int]] = {
    "a1.png": [0],
    "a2.png": [0],
    "a3.png": [0, 1],
    "b1.png": [1],
    "b2.png": [1, 2],
    "c1.png": [2],
    "c2.png": [2],
    "d1.png": [3],
    "group.png": [0, 1, 2, 3],
}


def make_photos(folder: Path, layout: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    layout = layout or SMALL_SET
    for name, ids in layout.items():
        draw_photo(folder / name, ids, size=(max(640, 40 + 150 * len(ids)), 480))
    return layout


def open_library(location: str | Path, **overrides: object) -> facefile.Library:
    """A library with the fake backends, at a folder or a ``postgresql://`` URL (``library_location``)."""
    return facefile.Library(location, settings={**FAKE_SETTINGS, **overrides})


def local_dir(location: str | Path) -> Path:
    """The library's local folder: itself (SQLite), or where a PostgreSQL library keeps crops and settings."""
    from facefile.api import library_location

    return library_location(location).local_dir


def partition(lib: facefile.Library) -> set[frozenset[tuple[str, int]]]:
    """People as sets of (photo name, left edge): comparable across libraries."""
    groups: dict[int, set[tuple[str, int]]] = {}
    for f in lib.faces():
        if f.person_id is not None:
            groups.setdefault(f.person_id, set()).add((Path(f.photo).name, round(f.box.left)))
    return {frozenset(g) for g in groups.values()}


def truth(layout: dict[str, list[int]]) -> set[frozenset[tuple[str, int]]]:
    groups: dict[int, set[tuple[str, int]]] = {}
    for name, ids in layout.items():
        for i, k in enumerate(ids):
            groups.setdefault(k, set()).add((name, 20 + i * 150))
    return {frozenset(g) for g in groups.values()}
