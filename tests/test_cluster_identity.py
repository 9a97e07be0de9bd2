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


def test_confirmed_faces_in_two_clusters_stay_one_person():
    # the user put rows 0, 2 and 4 in person 5 (a name, a move); the model splits them in
    # two clusters and leaves row 4 alone: all stay person 5, with their clusters' faces
    ids, new = _ids([0, 0, 1, 1, -1], [5, 5, 5, 5, 5], user=[5, NONE, 5, NONE, 5])
    assert ids.tolist() == [5, 5, 5, 5, 5] and new == []


def test_one_confirmed_face_does_not_take_the_name_from_the_others():
    # person 5 was named holding rows 0-2 (confirmed) and the user moved row 3 in;
    # the model cannot link row 3: the rest keep person 5 and no new person takes them
    ids, new = _ids([0, 0, 0, 1], [5, 5, 5, 5], user=[5, 5, 5, 5])
    assert ids.tolist() == [5, 5, 5, 5] and new == []


def test_each_confirmed_face_keeps_its_person_in_a_mixed_cluster():
    ids, _ = _ids([0, 0, 0], [NONE] * 3, user=[5, 5, 6])
    assert ids.tolist() == [5, 5, 6]


def test_a_face_never_gets_a_person_it_refused():
    # a clusterer put row 1 with the user's person 7 although the user said "not 7"
    ids, _ = _ids([0, 0], [NONE, NONE], user=[7, NONE], not_person=[(1, 7)])
    assert ids.tolist() == [7, NONE]


def test_a_person_over_two_clusters_keeps_one_face_per_photo():
    labels = np.array([0, 0, 1, 1], dtype=np.int64)
    user = np.array([5, NONE, 5, NONE], dtype=np.int64)
    photos = np.array([10, 11, 12, 11], dtype=np.int64)  # rows 1 and 3 share photo 11
    ids, _ = assign_person_ids(labels, np.full(4, NONE), user, 100, photo_ids=photos)
    assert ids.tolist() == [5, 5, 5, NONE]
