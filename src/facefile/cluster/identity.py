"""Stable person ids for fresh cluster labels.

Rules, in order:

1. The user's word first. A face the user placed (moved, merged, or held by
   a person when the user named it) keeps that person, whatever its cluster.
   A cluster holding such faces takes the person most of them were placed
   in; a person whose confirmed faces lie in several clusters takes each of
   them, so the faces the user confirmed for one name stay one person even
   where the model cannot link them, and no single confirmed face can take
   the name away from the rest.
2. Otherwise a cluster keeps the person most of its previously assigned
   faces had, if that person keeps more than half of its faces in this
   cluster, no other cluster took it, and no face of the cluster was marked
   "not this person". A person id therefore survives while most of its
   faces stay together and is never given to two clusters by this rule.
3. Every other cluster gets a new id, counting up from ``next_person_id``,
   in the order of each cluster's first row, so the same input gives the
   same ids.

Whatever the rule, a face never gets a person it was marked "not this
person" for, and, where ``photo_ids`` are given, a person that rule 1 spread
over several clusters never holds two faces of one photo (the later
cluster's face is left unassigned).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray


def _majority(values: NDArray[np.int64]) -> tuple[int, int]:
    """The most common value (ties: the smallest) and its count."""
    uniq, counts = np.unique(values, return_counts=True)
    best = int(np.argmax(counts))
    return int(uniq[best]), int(counts[best])


def assign_person_ids(
    labels: NDArray[np.int64],
    previous_person: NDArray[np.int64],
    user_person: NDArray[np.int64],
    next_person_id: int,
    not_person: Iterable[tuple[int, int]] = (),
    photo_ids: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], list[int]]:
    """Map cluster labels to person ids (see the module docstring).

    Args:
        labels: ``int64 (n,)`` cluster per row, ``-1`` for unassigned.
        previous_person: ``int64 (n,)`` person each row had, ``-1`` for none.
        user_person: ``int64 (n,)`` person the user placed the row in, or ``-1``.
        next_person_id: the first id free for a new person.
        not_person: ``(row, person_id)`` pairs; a cluster holding such a row
            never takes that person's id by rule 2, and the row never gets it.
        photo_ids: ``int64 (n,)`` photo per row, or ``None``; with them, a
            person spread over several clusters by rule 1 keeps at most one
            face per photo.

    Returns:
        ``(person_ids, new_people)``: ``int64 (n,)`` person per row (``-1``
        where the label is ``-1`` and the user placed nothing), and the new
        ids handed out, ascending.
    """
    labels = np.asarray(labels, dtype=np.int64)
    previous_person = np.asarray(previous_person, dtype=np.int64)
    user_person = np.asarray(user_person, dtype=np.int64)
    person_ids = np.where(user_person >= 0, user_person, -1).astype(np.int64)
    assigned = np.flatnonzero(labels >= 0)
    if assigned.size == 0:
        return person_ids, []
    refused: dict[int, set[int]] = {}
    for row, person in not_person:
        refused.setdefault(int(row), set()).add(int(person))
    order = np.argsort(labels[assigned], kind="stable")
    rows_sorted = assigned[order]
    labs = labels[rows_sorted]
    starts = np.flatnonzero(np.r_[True, labs[1:] != labs[:-1]])
    members = np.split(rows_sorted, starts[1:])
    prev_counts = dict(
        zip(*np.unique(previous_person[previous_person >= 0], return_counts=True), strict=False)
    )
    taken: set[int] = set()
    person_of: list[int] = [-1] * len(members)
    # 1. the user's persons first, so rule 2 cannot take them; one person may take several clusters
    for c, rows in enumerate(members):
        placed = user_person[rows]
        placed = placed[placed >= 0]
        if placed.size:
            person_of[c] = _majority(placed)[0]
            taken.add(person_of[c])
    # 2. previous persons, largest share first
    claims = []
    for c, rows in enumerate(members):
        if person_of[c] >= 0:
            continue
        prev = previous_person[rows]
        prev = prev[prev >= 0]
        if prev.size == 0:
            continue
        person, count = _majority(prev)
        if 2 * count > prev_counts.get(person, 0):
            claims.append((-count, int(rows.min()), c, person))
    for _, _, c, person in sorted(claims):
        if person in taken or any(person in refused.get(int(r), ()) for r in members[c]):
            continue
        person_of[c] = person
        taken.add(person)
    # 3. new ids in order of each cluster's first row
    new_people: list[int] = []
    next_id = int(next_person_id)
    for c in sorted(range(len(members)), key=lambda c: int(members[c].min())):
        if person_of[c] < 0:
            while next_id in taken:
                next_id += 1
            person_of[c] = next_id
            taken.add(next_id)
            new_people.append(next_id)
    cluster_of = np.full(labels.shape[0], -1, dtype=np.int64)
    cluster_of[rows_sorted] = np.cumsum(np.r_[True, labs[1:] != labs[:-1]]) - 1
    is_auto = (cluster_of >= 0) & (user_person < 0)
    person_ids[is_auto] = np.asarray(person_of, dtype=np.int64)[cluster_of[is_auto]]
    for row, persons in refused.items():
        if is_auto[row] and int(person_ids[row]) in persons:
            person_ids[row] = -1
    if photo_ids is not None:
        _one_face_per_photo(person_ids, user_person, cluster_of, np.asarray(photo_ids, dtype=np.int64))
    return person_ids, new_people


def _one_face_per_photo(
    person_ids: NDArray[np.int64],
    user_person: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    photo_ids: NDArray[np.int64],
) -> None:
    """Unassign, in place, the automatic faces that would give a person two faces of one photo.

    Only a person whose confirmed faces lie in more than one cluster can
    (a clusterer keeps one photo's faces apart within a cluster). The
    user's faces stay; of the others, the first row of each photo stays.
    """
    placed = np.flatnonzero(user_person >= 0)
    if placed.size == 0:
        return
    pairs = np.unique(np.stack([user_person[placed], cluster_of[placed]], axis=1), axis=0)
    persons, counts = np.unique(pairs[:, 0], return_counts=True)
    for person in persons[counts > 1]:
        rows = np.flatnonzero(person_ids == person)
        rows = rows[np.lexsort((rows, user_person[rows] < 0))]  # the user's faces first
        seen: set[int] = set()
        for row in rows:
            photo = int(photo_ids[row])
            if photo in seen and user_person[row] < 0:
                person_ids[row] = -1
            seen.add(photo)
