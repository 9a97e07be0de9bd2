"""Adding faces to a grouped library without regrouping it.

Each new face is compared with the library's faces by exact nearest-neighbour
search (both views) and placed by the same join rule as a full grouping
(:func:`facefile.cluster.graph.join`). The new faces left over are grouped
with the library's unassigned faces near them, their bars following the
library's density of strangers (:func:`~facefile.cluster.average_linkage.bar_offset`);
clusters made there become new people. Cost: two flat searches of ``n_new``
queries against the library (seconds for 1,000 faces against 1M) and a
grouping of the leftovers, never a full regroup.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.agglomerate import distinct
from facefile.cluster.average_linkage import (
    AverageLinkageParams,
    bar_offset,
    covered_faces,
    group,
    may_link,
    validate_input,
)
from facefile.cluster.base import GroupingInput
from facefile.cluster.constraints import cannot_link_pairs
from facefile.cluster.graph import confidence, join, pair_distance
from facefile.cluster.identity import assign_person_ids
from facefile.cluster.knn import knn_query
from facefile.errors import ConfigError


@dataclass(frozen=True)
class Assignment:
    """Persons after adding faces.

    Attributes:
        person_ids: ``int64 (n,)`` person per row, ``-1`` for unassigned;
            existing rows keep their ``previous_person``.
        confidence: ``float32 (n,)`` in ``[0, 1]``; existing rows keep 1.0
            when assigned (they were not re-judged).
        new_people: ids handed out for new people, ascending.
        n_joined: new faces that joined an existing person.
    """

    person_ids: NDArray[np.int64]
    confidence: NDArray[np.float32]
    new_people: list[int]
    n_joined: int


def assign_new(
    data: GroupingInput,
    is_new: NDArray[np.bool_],
    next_person_id: int,
    params: AverageLinkageParams | None = None,
    n_neighbors: int = 10,
) -> Assignment:
    """Place the ``is_new`` rows of ``data`` among the existing people.

    Args:
        data: every face of the library; ``previous_person`` holds the
            existing rows' persons (new rows: ``-1``).
        is_new: ``bool (n,)`` the rows just added.
        next_person_id: first id free for a new person.
        params: the clusterer's settings (default: the defaults).
        n_neighbors: nearest existing faces looked at per new face and view.

    Returns:
        :class:`Assignment`.

    Raises:
        ConfigError: bad settings or input arrays of different lengths.
    """
    p = params or AverageLinkageParams()
    p.validate()
    validate_input(data)
    is_new = np.asarray(is_new, dtype=bool)
    if is_new.shape != (data.n_faces,):
        raise ConfigError(f"is_new has shape {is_new.shape}; pass one bool per face ({data.n_faces}).")
    person = np.where(data.user_person >= 0, data.user_person, data.previous_person).astype(np.int64)
    person[is_new & (data.user_person < 0)] = -1
    conf = np.where(person >= 0, 1.0, 0.0).astype(np.float32)
    new_rows = np.flatnonzero(is_new & (data.user_person < 0))
    full = np.asarray(data.embeddings, dtype=np.float32)
    upper = data.views.get("upper")
    usable = np.isfinite(full).all(axis=1) & (data.size_px >= p.min_face_px)
    queries = new_rows[usable[new_rows]]
    cannot = cannot_link_pairs(data, rows=new_rows)
    base_rows = np.flatnonzero(~is_new & (person >= 0) & usable)
    joined = 0
    if queries.size and base_rows.size:
        a, b = _candidates(full, upper, base_rows, queries, n_neighbors, data.neighbours)
        d = pair_distance(full, upper, a, b, p.upper_margin, p.upper_weight)
        was = person.copy()
        bar = np.full(data.n_faces, p.threshold)
        off = _library_offset(data, p, person, queries, usable)
        if off is not None:
            bar[queries] += off
        clear = may_link(data, usable, p)
        person, own, other = join(person, a, b, d, cannot, full, clear, bar, covered_faces(data), p)
        placed = np.flatnonzero(person != was)
        conf[placed] = confidence(own[placed], other[placed], p.attach_threshold)
        joined = placed.size
    new_people = _group_leftovers(data, p, person, conf, new_rows, usable, n_neighbors, next_person_id)
    return Assignment(person, conf, new_people, joined)


_EMPTY = np.zeros(0, dtype=np.int64)


def _candidates(full, upper, base_rows, queries, k, index=None):
    """Query -> base row pairs from both views' nearest neighbours.

    With ``index`` (the library's own, e.g. PostgreSQL's HNSW) the full
    view's neighbours come from it: it returns the nearest of all faces, so
    it is asked for more and those that are not base rows are dropped.
    """
    a_parts, b_parts = [], []
    if index is not None:
        is_base = np.zeros(full.shape[0], dtype=bool)
        is_base[base_rows] = True
        for q, found in zip(queries, index.nearest(queries, 3 * k), strict=True):
            found = found[is_base[found]][:k]
            a_parts.append(np.full(found.size, q, dtype=np.int64))
            b_parts.append(found)
    for view in (full, upper) if index is None else (upper,):
        if view is None:
            continue
        # base_rows instead of view[base_rows]: no 512 MB copy per view at 1M faces
        idx, _ = knn_query(view, view[queries], k, base_rows=base_rows)
        ok = idx >= 0
        a_parts.append(np.repeat(queries, idx.shape[1])[ok.ravel()])
        b_parts.append(idx[ok])
    if not a_parts:
        return _EMPTY, _EMPTY
    keys = distinct(np.concatenate(a_parts) * (int(base_rows.max()) + 1) + np.concatenate(b_parts))
    return keys // (int(base_rows.max()) + 1), keys % (int(base_rows.max()) + 1)


def _group_leftovers(data, p, person, conf, new_rows, usable, k, next_person_id):
    """Cluster unjoined new faces with the unassigned old faces near them."""
    left = new_rows[(person[new_rows] < 0) & usable[new_rows]]
    if left.size == 0:
        return []
    old_free = np.flatnonzero((person < 0) & usable & ~np.isin(np.arange(data.n_faces), new_rows))
    near = _EMPTY
    if old_free.size:
        idx, dist = knn_query(data.embeddings, data.embeddings[left], k, base_rows=old_free)
        near = idx[(idx >= 0) & (dist <= p.threshold + 0.1)]
    rows = np.unique(np.r_[left, near])  # grouped afresh: no previous people
    sub = dataclasses.replace(data.subset(rows), previous_person=np.full(rows.size, -1, dtype=np.int64))
    g = group(sub, p, _library_offset(data, p, person, rows, usable))
    taken = int(max(next_person_id, person.max() + 1))
    ids, new_people = assign_person_ids(g.labels, sub.previous_person, sub.user_person, taken)
    person[rows] = np.where(ids >= 0, ids, person[rows])
    conf[rows] = np.where(ids >= 0, g.confidence, conf[rows])
    return new_people


def _library_offset(data, p, person, rows, usable):
    """The leftovers' bar offsets, with the library's people (and faces alone) as the clusters near them."""
    if p.density_weight <= 0:
        return None
    idx, dist = knn_query(
        data.embeddings, data.embeddings[rows], int(p.n_neighbors) + 1, base_rows=np.flatnonzero(usable)
    )
    found = (idx >= 0) & (dist <= p.density_radius) & (idx != rows[:, None])
    nb = idx[found]
    clusters = np.where(person[nb] >= 0, person[nb], person.max(initial=0) + 1 + nb)
    return bar_offset(
        np.repeat(np.arange(rows.size), found.sum(axis=1)), clusters, np.ones(nb.size, bool), rows.size, p
    )
