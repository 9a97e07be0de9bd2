"""The user's decisions and the photo rule, as must-link clusters and cannot-link pairs."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.base import GroupingInput


def must_link_labels(user_person: NDArray[np.int64]) -> NDArray[np.int64]:
    """Initial cluster per row: rows the user put in one person start together.

    Args:
        user_person: ``int64 (n,)``, ``-1`` where the user said nothing.

    Returns:
        ``int64 (n,)``: every row with ``user_person == p >= 0`` gets the
        smallest row number of that person; every other row its own number.
    """
    n = user_person.shape[0]
    labels = np.arange(n, dtype=np.int64)
    placed = np.flatnonzero(user_person >= 0)
    if placed.size:
        _, first, inverse = np.unique(user_person[placed], return_index=True, return_inverse=True)
        labels[placed] = placed[first][inverse]
    return labels


def cannot_link_pairs(data: GroupingInput, rows: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """Row pairs that must never share a cluster.

    Gathers: every two faces of one photo; the user's ``cannot_link`` pairs;
    for each ``not_person`` ``(row, person)``, the row against every other row
    the user placed in ``person`` or that had ``person`` before.

    Args:
        data: the faces and decisions.
        rows: only pairs touching these rows are needed (``None``: all);
            keeps incremental runs on large libraries cheap.

    Returns:
        ``int64 (m, 2)`` row pairs, each ``i < j``, no duplicates.
    """
    parts: list[NDArray[np.int64]] = [np.zeros((0, 2), dtype=np.int64)]
    if rows is None:
        parts.append(_same_photo_pairs(data.photo_ids))
    else:
        near = np.flatnonzero(np.isin(data.photo_ids, np.unique(data.photo_ids[rows])))
        pairs = near[_same_photo_pairs(data.photo_ids[near])]
        touch = np.zeros(data.n_faces, dtype=bool)
        touch[rows] = True
        parts.append(pairs[touch[pairs[:, 0]] | touch[pairs[:, 1]]])
    if data.cannot_link:
        parts.append(np.asarray(data.cannot_link, dtype=np.int64).reshape(-1, 2))
    for row, person in data.not_person:
        others = np.flatnonzero((data.user_person == person) | (data.previous_person == person))
        others = others[others != row]
        if others.size:
            parts.append(np.stack([np.full(others.size, row, dtype=np.int64), others], axis=1))
    pairs = np.concatenate(parts, axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0) if pairs.size else pairs


def _same_photo_pairs(photo_ids: NDArray[np.int64]) -> NDArray[np.int64]:
    order = np.argsort(photo_ids, kind="stable")
    sorted_ids = photo_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, sorted_ids.size])
    out = []
    for s, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=False):
        rows = order[s : s + size]
        a, b = np.triu_indices(size, k=1)
        out.append(np.stack([rows[a], rows[b]], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(out, axis=0).astype(np.int64)
