"""Stable person ids across regroupings."""

from __future__ import annotations

import dataclasses

import numpy as np

from facefile.cluster import create_clusterer
from facefile.cluster.identity import assign_person_ids
from tests.cluster_synth import synth_faces

NONE = -1


def _ids(labels, prev, user=None, next_id=100, not_person=()):
    labels = np.asarray(labels, dtype=np.int64)
    user = np.full(labels.size, NONE) if user is None else np.asarray(user)
    return assign_person_ids(labels, np.asarray(prev), user, next_id, not_person)


def test_new_clusters_get_new_ids_in_row_order():
    ids, new = _ids([1, 1, 0, -1, 0], [NONE] * 5)
    assert ids.tolist() == [100, 100, 101, -1, 101] and new == [100, 101]


def test_user_person_wins_and_previous_person_is_kept():
    ids, new = _ids([0, 0, 1, 1, 1], [5, 5, 7, 7, NONE], user=[NONE, 9, NONE, NONE, NONE])
    assert ids.tolist() == [9, 9, 7, 7, 7] and new == []


def test_person_keeps_id_only_with_most_of_its_faces():
    # person 7 split 3/2: the larger part keeps 7; a 2/2 split keeps it nowhere
    ids, new = _ids([0, 0, 0, 1, 1], [7] * 5)
    assert ids.tolist() == [7, 7, 7, 100, 100] and new == [100]
    ids, new = _ids([0, 0, 1, 1], [7] * 4)
    assert 7 not in ids.tolist() and new == [100, 101]


def test_an_id_is_never_given_twice_and_not_person_is_respected():
    ids, _ = _ids([0, 0, 1], [3, 3, 4], user=[NONE, NONE, 3])
    assert ids[0] != 3 and ids[2] == 3
    ids, _ = _ids([0, 0], [8, 8], not_person=[(1, 8)])
    assert 8 not in ids.tolist()


def test_regrouping_twice_gives_identical_ids_and_new_faces_keep_them():
    data, truth = synth_faces(n_people=6, per_person=5, spread=0.3, seed=11)
    clusterer = create_clusterer()
    g1 = clusterer.fit_predict(data)
    ids1, new1 = assign_person_ids(g1.labels, data.previous_person, data.user_person, 1)
    again = dataclasses.replace(data, previous_person=ids1)
    g2 = clusterer.fit_predict(again)
    ids2, new2 = assign_person_ids(g2.labels, ids1, data.user_person, 1 + len(new1))
    assert ids2.tolist() == ids1.tolist() and new2 == []
    # add one more face for each person and a newcomer; old faces keep their ids
    more, truth2 = synth_faces(n_people=6, per_person=6, spread=0.3, seed=11)
    prev = np.full(truth2.size, NONE, dtype=np.int64)
    for p in range(6):
        old = ids1[truth == p]
        prev[np.flatnonzero(truth2 == p)[:5]] = old
    more = dataclasses.replace(more, previous_person=prev)
    g3 = clusterer.fit_predict(more)
    ids3, _ = assign_person_ids(g3.labels, prev, more.user_person, 1 + len(new1))
    for p in range(6):
        assert set(ids3[truth2 == p].tolist()) == set(ids1[truth == p].tolist())
