"""Grouping, wired: faces from the store -> clusterer -> stable people -> store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facefile.analyze.tracks import co_occurring
from facefile.cluster import create_clusterer
from facefile.cluster.base import GroupingInput
from facefile.cluster.identity import assign_person_ids
from facefile.cluster.incremental import assign_new
from facefile.config import Settings
from facefile.people_index import GroupingNeighbours, PeopleIndex
from facefile.store.db import FaceMatrix, Store
from facefile.store.edits import add_assignments, write_grouping
from facefile.store.videos import video_spans


@dataclass(frozen=True)
class GroupSummary:
    faces: int
    faces_assigned: int
    people: int
    new_people: int


def load_grouping_input(store: Store, settings: Settings) -> tuple[FaceMatrix, GroupingInput]:
    """Every groupable face of the library with the user's decisions, as clusterer input."""
    model_id = settings.analyze.model_id
    views = tuple(v for v in settings.analyze.views if v != "full")
    m = store.face_matrix(model_id, views)
    row_of = {int(fid): i for i, fid in enumerate(m.face_ids)}
    not_person: list[tuple[int, int]] = []
    cannot_link: list[tuple[int, int]] = []
    for kind, face_id, person_id, other in store.constraints():
        if face_id not in row_of:
            continue
        if kind == "not_person" and person_id is not None:
            not_person.append((row_of[face_id], int(person_id)))
        elif kind == "cannot_link" and other is not None and other in row_of:
            cannot_link.append((row_of[face_id], row_of[other]))
    photo_ids, video_pairs = _video_rules(store, m.face_ids, m.photo_ids, row_of)
    cannot_link += video_pairs
    user_person = np.where(m.is_user, m.person, -1).astype(np.int64)
    data = GroupingInput(
        face_ids=m.face_ids,
        embeddings=m.embeddings,
        quality=m.quality,
        size_px=m.size_px,
        photo_ids=photo_ids,
        user_person=user_person,
        previous_person=m.person.astype(np.int64),
        not_person=not_person,
        cannot_link=cannot_link,
        views=m.views,
        occlusion=m.occlusion,
        named_people=frozenset(p.id for p in store.people(include_hidden=True) if p.name),
        neighbours=StoreNeighbours(store, model_id, m) if store.dialect == "postgresql" else None,
    )
    return m, data


def _video_rules(
    store: Store, face_ids: NDArray[np.int64], photo_ids: NDArray[np.int64], row_of: dict[int, int]
) -> tuple[NDArray[np.int64], list[tuple[int, int]]]:
    """The photo rule for videos: ``(photo ids, cannot-link row pairs)``.

    The faces of one video are tracks at different times, which may be one
    person, so each gets a photo id of its own (``-face id``: never a real
    one); two tracks of one video seen at the same time are a cannot-link
    pair, as two faces of one photo are.
    """
    spans = video_spans(store)
    if not spans:
        return photo_ids, []
    out = photo_ids.copy()
    by_video: dict[int, list[tuple[int, float, float]]] = {}
    for face_id, video_id, t_start, t_end in spans:
        row = row_of.get(face_id)
        if row is not None:
            out[row] = -int(face_ids[row])
            by_video.setdefault(video_id, []).append((row, t_start, t_end))
    pairs = [pair for tracks in by_video.values() for pair in co_occurring(tracks)]
    return out, pairs


class StoreNeighbours:
    """Nearest faces by the store's vector index (PostgreSQL's HNSW), as rows of a face matrix."""

    def __init__(self, store: Store, model_id: str, m: FaceMatrix) -> None:
        self.store = store
        self.model_id = model_id
        self.face_ids = m.face_ids  # ascending: face_matrix orders by id
        self.vectors = m.embeddings

    def nearest(self, rows: NDArray[np.int64], k: int) -> list[NDArray[np.int64]]:
        found = self.store.nearest_faces(self.model_id, self.vectors[rows], k) or []
        out = []
        for ids in found:
            pos = np.searchsorted(self.face_ids, ids)
            pos = np.minimum(pos, max(self.face_ids.size - 1, 0))
            # faces the matrix leaves out (excluded, another model's) are not rows
            out.append(pos[self.face_ids[pos] == ids].astype(np.int64))
        return out


def regroup(store: Store, settings: Settings, *, is_full: bool = True) -> GroupSummary:
    """Group the library's faces under the user's constraints.

    A full regroup reconsiders every face: user-placed faces (moved,
    merged, or held by a person when it was named) keep their person, and a
    person whose confirmed faces the model splits stays one person; other
    people keep their ids while most of their faces stay together; new
    people get new ids. With ``is_full=False`` and a library
    above ``group.incremental_above`` faces, only faces added since the last
    grouping are placed (into existing people, or new ones among themselves),
    which costs seconds instead of minutes on a million faces.
    """
    m, data = load_grouping_input(store, settings)
    n = len(m.face_ids)
    if n == 0:
        write_grouping(store, {}, [])
        return GroupSummary(0, 0, 0, 0)
    not_person = data.not_person
    grouped_through = int(store.get_meta("grouped_through_face_id") or 0)
    newest = int(m.face_ids.max())
    if not is_full and grouped_through and n > settings.group.incremental_above:
        is_new = m.face_ids > grouped_through
        result = assign_new(data, is_new, store.next_person_id())
        changed = np.flatnonzero(is_new | ((m.person < 0) & (result.person_ids >= 0)))
        conf = dict(zip(changed.tolist(), _confidence(m.embeddings, result.person_ids, changed), strict=True))
        added = {
            int(m.face_ids[i]): (int(result.person_ids[i]), float(conf[i]))
            for i in changed
            if result.person_ids[i] >= 0 and not m.is_user[i]
        }
        add_assignments(store, added, result.new_people, grouped_through=newest)
        assigned = int(np.count_nonzero(result.person_ids >= 0))
        people = len({int(p) for p in result.person_ids if p >= 0})
        return GroupSummary(n, assigned, people, len(result.new_people))
    clusterer = create_clusterer(settings.group.clusterer)
    searched = GroupingNeighbours(n)
    grouping = clusterer.fit_predict(dataclasses.replace(data, on_neighbours=searched))
    person_ids, new_people = assign_person_ids(
        grouping.labels,
        data.previous_person,
        data.user_person,
        store.next_person_id(),
        not_person=not_person,
        photo_ids=data.photo_ids,
    )
    conf = _confidence(m.embeddings, person_ids, None, searched.near(m.embeddings))
    assignment = {
        int(m.face_ids[i]): (int(person_ids[i]), float(conf[i]))
        for i in range(n)
        if person_ids[i] >= 0 and not m.is_user[i]
    }
    write_grouping(store, assignment, new_people, grouped_through=newest)
    assigned = int(np.count_nonzero(person_ids >= 0))
    people = len({int(p) for p in person_ids if p >= 0})
    return GroupSummary(n, assigned, people, len(new_people))


def _confidence(
    embeddings: NDArray[np.float32],
    person_ids: NDArray[np.int64],
    rows: NDArray[np.int64] | None,
    near: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
) -> NDArray[np.float32]:
    """The stored confidence: each face's calibrated chance of being its person.

    The clusterer's own confidence is left aside so that every number a user
    sees (here, ``faces --json``, ``why``, the web pages) is the same
    calibrated estimate (:mod:`facefile.cluster.calibration`). ``near``: the
    grouping's own search of every face's nearest (:class:`GroupingNeighbours`),
    used instead of a second search.
    """
    if rows is not None and rows.size == 0:
        return np.zeros(0, np.float32)
    return PeopleIndex(embeddings, np.asarray(person_ids, dtype=np.int64)).confidence(rows, near=near)
