"""Stable person ids for fresh cluster labels.

Rules, in order:

1. A cluster holding faces the user placed takes that user's person.
2. Otherwise it keeps the person most of its previously assigned faces had,
   if that person keeps more than half of its faces in this cluster, no
   other cluster took it, and no face of the cluster was marked "not this
   person". A person id therefore survives while most of its faces stay
   together and is never given to two clusters.
3. Every other cluster gets a new id, counting up from ``next_person_id``,
   in the order of each cluster's first row, so the same input gives the
   same ids.
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
) -> tuple[NDArray[np.int64], list[int]]:
    """Map cluster labels to person ids (see the module docstring).

    Args:
        labels: ``int64 (n,)`` cluster per row, ``-1`` for unassigned.
        previous_person: ``int64 (n,)`` person each row had, ``-1`` for none.
        user_person: ``int64 (n,)`` person the user placed the row in, or ``-1``.
        next_person_id: the first id free for a new person.
        not_person: ``(row, person_id)`` pairs; a cluster holding such a row
            never takes that person's id.

    Returns:
        ``(person_ids, new_people)``: ``int64 (n,)`` person per row (``-1``
        where the label is ``-1``), and the new ids handed out, ascending.
    """
    labels = np.asarray(labels, dtype=np.int64)
    previous_person = np.asarray(previous_person, dtype=np.int64)
    user_person = np.asarray(user_person, dtype=np.int64)
    person_ids = np.full(labels.shape[0], -1, dtype=np.int64)
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
    # 1. user persons first, so rule 2 cannot take them
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
        person_ids[members[c]] = person_of[c]
    return person_ids, new_people
