"""A full regroup stores each face's calibrated confidence from the grouping's own neighbour search.

On a library of real lfw-dev photos: the stored confidence equals what a
second search of every face's nearest faces gives (within float error), and
the second search is kept where the grouping's search differs from it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

import facefile
from facefile.cluster import create_clusterer
from facefile.people_index import GroupingNeighbours, PeopleIndex
from facefile.regroup import load_grouping_input

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> facefile.Library:
    """A scanned library: 8 people with 5 photos each and 8 people seen once."""
    people = sorted(d for d in lfw_dir.iterdir() if d.is_dir())
    many = [d for d in people if len(list(d.glob("*.jpg"))) >= 5][:8]
    once = [d for d in people if len(list(d.glob("*.jpg"))) == 1][:8]
    root = tmp_path_factory.mktemp("regroup_confidence")
    for person in many + once:
        for src in sorted(person.glob("*.jpg"))[:5]:
            (root / "photos" / person.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / "photos" / person.name / src.name)
    lib = facefile.Library(root / "lib")
    lib.scan(root / "photos")
    lib.regroup()
    yield lib
    lib.close()


def _people_and_vectors(lib: facefile.Library) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, _ = load_grouping_input(lib.store, lib.settings)
    person = {f.id: f.person_id for f in lib.faces()}
    people = np.array([-1 if person[int(i)] is None else person[int(i)] for i in m.face_ids], np.int64)
    return m.face_ids, m.embeddings, people


def test_stored_confidence_is_what_a_second_search_gives(library: facefile.Library) -> None:
    face_ids, vectors, people = _people_and_vectors(library)
    stored = {f.id: f.confidence for f in library.faces()}
    assigned = people >= 0
    assert assigned.sum() >= 30 and len({int(p) for p in people[assigned]}) >= 8
    want = PeopleIndex(vectors, people).confidence()  # its own search of every face's nearest
    got = np.array([stored[int(i)] for i in face_ids[assigned]])
    np.testing.assert_allclose(got, want[assigned], atol=1e-5)
    assert (got > 0.5).mean() > 0.8  # the people found are mostly sure of their faces


def test_the_grouping_search_stands_in_for_the_second_one(library: facefile.Library) -> None:
    m, data = load_grouping_input(library.store, library.settings)
    searched = GroupingNeighbours(m.face_ids.size)
    labels = create_clusterer().fit_predict(dataclasses.replace(data, on_neighbours=searched)).labels
    near = searched.near(m.embeddings)
    assert near is not None  # every face searched, unit vectors of one length: no second search
    index = PeopleIndex(m.embeddings, labels)
    np.testing.assert_allclose(index.confidence(near=near), index.confidence(), atol=1e-5)


def test_a_face_the_grouping_left_out_keeps_the_second_search(library: facefile.Library) -> None:
    m, data = load_grouping_input(library.store, library.settings)
    size = data.size_px.copy()
    size[0] = 4.0  # too small to group: the grouping's search leaves it out, the confidence's does not
    searched = GroupingNeighbours(m.face_ids.size)
    create_clusterer().fit_predict(dataclasses.replace(data, size_px=size, on_neighbours=searched))
    assert searched.near(m.embeddings) is None
    # vectors of different lengths (dlib's): the grouping's distances are not the unit vectors'
    full = GroupingNeighbours(m.face_ids.size)
    create_clusterer().fit_predict(dataclasses.replace(data, on_neighbours=full))
    stretched = m.embeddings * np.linspace(0.5, 1.5, m.face_ids.size, dtype=np.float32)[:, None]
    assert full.near(stretched) is None
