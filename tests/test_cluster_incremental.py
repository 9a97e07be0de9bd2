"""Adding faces to a grouped library: join known people, group the rest."""

from __future__ import annotations

import dataclasses

import numpy as np

from facefile.cluster import create_clusterer
from facefile.cluster.average_linkage import AverageLinkageParams
from facefile.cluster.identity import assign_person_ids
from facefile.cluster.incremental import assign_new
from tests.cluster_synth import glasses_faces, lookalike_stranger, synth_faces


def _library(seed: int = 21):
    """8 people x 7 faces; the last 2 faces of people 0-5 and all of 6-7 are new."""
    data, truth = synth_faces(n_people=8, per_person=7, spread=0.35, seed=seed)
    slot = np.tile(np.arange(7), 8)
    is_new = (slot >= 5) | (truth >= 6)
    old = np.flatnonzero(~is_new)
    sub = data.subset(old)
    g = create_clusterer().fit_predict(sub)
    ids, new = assign_person_ids(g.labels, sub.previous_person, sub.user_person, 1)
    prev = np.full(truth.size, -1, dtype=np.int64)
    prev[old] = ids
    return dataclasses.replace(data, previous_person=prev), truth, is_new, 1 + len(new)


def test_new_faces_join_their_people_and_newcomers_become_new_people():
    data, truth, is_new, next_id = _library()
    out = assign_new(data, is_new, next_id)
    assert np.array_equal(out.person_ids[~is_new], data.previous_person[~is_new])
    for p in range(6):
        assert len(set(out.person_ids[truth == p].tolist())) == 1
    assert out.n_joined == 12
    newcomers = [set(out.person_ids[truth == p].tolist()) for p in (6, 7)]
    assert all(len(s) == 1 for s in newcomers) and newcomers[0] != newcomers[1]
    assert set().union(*newcomers) == set(out.new_people)
    assert min(out.new_people) >= next_id
    assert np.all((out.confidence >= 0) & (out.confidence <= 1))


def test_new_face_never_joins_a_person_already_in_its_photo():
    data, truth, is_new, next_id = _library()
    new_of_0 = np.flatnonzero(is_new & (truth == 0))[0]
    old_of_0 = np.flatnonzero(~is_new & (truth == 0))[0]
    photos = data.photo_ids.copy()
    photos[new_of_0] = photos[old_of_0]
    out = assign_new(dataclasses.replace(data, photo_ids=photos), is_new, next_id)
    assert out.person_ids[new_of_0] != out.person_ids[old_of_0]
    out = assign_new(
        dataclasses.replace(data, not_person=[(int(new_of_0), int(data.previous_person[old_of_0]))]),
        is_new,
        next_id,
    )
    assert out.person_ids[new_of_0] != out.person_ids[old_of_0]


def test_a_new_face_in_dark_glasses_joins_its_person_within_the_cover_allowance():
    data = glasses_faces(shift=0.5, gap=0.52)
    keep = np.r_[np.arange(7), 12]  # person 0 uncovered, one of them in glasses, a stranger in glasses
    previous = np.r_[np.full(6, 5), -1, -1].astype(np.int64)  # person 5: the six uncovered faces
    data = dataclasses.replace(data.subset(keep), previous_person=previous)
    is_new = np.r_[np.zeros(6, bool), True, True]
    e = data.embeddings
    assert 0.55 < np.linalg.norm(e[6] - e[:6], axis=1).mean() < 0.59  # beyond attach_threshold alone
    at_055 = AverageLinkageParams(
        threshold=0.55, attach_threshold=0.55
    )  # the bar this drawing is laid around
    out = assign_new(data, is_new, next_person_id=9, params=at_055)
    assert out.person_ids[6] == 5 and out.person_ids[7] != 5
    blind = assign_new(dataclasses.replace(data, occlusion=None), is_new, next_person_id=9, params=at_055)
    assert blind.person_ids[6] != 5


def test_a_new_clear_face_joins_only_within_the_linking_bar():
    data, truth = lookalike_stranger()
    old = np.flatnonzero(truth < 3)
    previous = np.r_[truth[old] + 1, -1].astype(np.int64)  # persons 1-3 as grouped; the stranger is new
    data = dataclasses.replace(data, previous_person=previous)
    is_new = truth == 3
    out = assign_new(data, is_new, next_person_id=4)
    assert out.person_ids[-1] != 1 and out.n_joined == 0
    blurred = data.quality.copy()
    blurred[-1] = 0.2
    out = assign_new(dataclasses.replace(data, quality=blurred), is_new, next_person_id=4)
    assert out.person_ids[-1] == 1 and out.n_joined == 1
