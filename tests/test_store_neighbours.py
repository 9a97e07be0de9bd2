"""Nearest faces through the library's own index: PostgreSQL's HNSW, where facefile places new faces.

On SQLite the same look-ups run in-process (faiss); both must place faces alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.fakes import draw_photo
from tests.helpers import open_library, partition


def _scan_in_two_steps(location: str, tmp_path: Path) -> set[frozenset[tuple[str, int]]]:
    photos = tmp_path / "photos"
    for i in range(4):
        draw_photo(photos / f"a{i}.png", [0, 1] if i % 2 else [0])
        draw_photo(photos / f"b{i}.png", [1, 2])
    # a regroup places new faces (not a full regroup) above this many faces
    with open_library(location, **{"group.incremental_above": 0}) as lib:
        lib.scan(photos)
        draw_photo(photos / "later1.png", [0])
        draw_photo(photos / "later2.png", [2, 1])
        s = lib.scan(photos)
        assert s.faces_found == 3
        return partition(lib)


def test_new_faces_are_placed_alike_on_both_engines(library_location: str, tmp_path: Path) -> None:
    got = _scan_in_two_steps(library_location, tmp_path)
    with_faces = {frozenset(n for n, _ in group) for group in got}
    # each new face joined its own person
    assert any({"later1.png", "a0.png"} <= g for g in with_faces)
    assert any({"later2.png", "b0.png", "a1.png"} <= g for g in with_faces)
    assert len(got) == 3


def test_the_postgresql_index_finds_the_nearest_faces(pg_url: str, tmp_path: Path) -> None:
    from facefile.regroup import load_grouping_input

    photos = tmp_path / "photos"
    for i in range(6):
        draw_photo(photos / f"p{i}.png", [i % 3, 3 + i % 2])
    with open_library(pg_url) as lib:
        lib.scan(photos)
        _, data = load_grouping_input(lib.store, lib.settings)
        assert data.neighbours is not None
        rows = np.arange(data.n_faces, dtype=np.int64)
        found = data.neighbours.nearest(rows, 4)
    x = data.embeddings
    for r, got in zip(rows, found, strict=True):
        exact = np.argsort(np.linalg.norm(x - x[r], axis=1), kind="stable")[:4]
        # the same rows, up to ties in distance
        assert np.allclose(
            np.sort(np.linalg.norm(x[got] - x[r], axis=1)), np.linalg.norm(x[exact] - x[r], axis=1)
        )


def test_merge_suggestions_and_unassigned_groups_alike_on_both_engines(pg_url: str, tmp_path: Path) -> None:
    from facefile.web.similar import SimilarityIndex

    photos = tmp_path / "photos"
    for i in range(3):
        draw_photo(photos / f"a{i}.png", [0, 4])  # person 0; face 4 seen with it
        draw_photo(photos / f"b{i}.png", [1])
    draw_photo(photos / "lone1.png", [5])
    draw_photo(photos / "lone2.png", [6, 5])
    out = []
    for location in (tmp_path / "lib", pg_url):
        with open_library(location) as lib:
            lib.scan(photos)
            # split person 0 in two, so a merge is worth suggesting
            a = next(p for p in lib.people() if any(Path(f.photo).name == "a0.png" for f in lib.faces(p.id)))
            part = lib.move([f.id for f in lib.faces(a.id) if Path(f.photo).name == "a2.png"], "new")
            index = SimilarityIndex(lib.store, "fake_squares_v1")
            assert (index.neighbours is not None) == (location == pg_url)
            likely = [pid == a.id for pid, _ in index.likely_same(part.id)]
            photo_of = {f.id: Path(f.photo).name for f in lib.faces()}
            groups = sorted(sorted(photo_of[f] for f in g.face_ids) for g in index.unassigned_groups())
            out.append((likely[:1], groups))
    assert out[0] == out[1]
    assert out[0][0] == [True]
    assert ["lone2.png"] in out[0][1]  # the face seen once waits on the unassigned page
