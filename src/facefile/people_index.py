"""Which person a face, or a group of faces, most likely is: the library's faces behind the calibration.

:mod:`facefile.cluster.calibration` turns a face's nearest faces into one
calibrated chance per candidate person; this module finds those nearest
faces (exact for a few queries, the grouping's own search for all faces) and
asks. The web pages, ``review``, ``why`` and the stored confidence all ask
through :class:`PeopleIndex`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.calibration import (
    NEIGHBOURS,
    Match,
    candidates,
    crowd,
    left_apart,
    padding,
    rank,
    score,
)

QUERY_FACES = 8
"""A person's best faces that stand for it when it asks who else it could be."""


def best_faces(
    people: NDArray[np.int64], quality: NDArray[np.floating], person: int, k: int = QUERY_FACES
) -> NDArray[np.int64]:
    """Rows of ``person``'s ``k`` faces of highest quality (ties in row order)."""
    own = np.flatnonzero(people == person)
    return own[np.argsort(-quality[own], kind="stable")[:k]]


def chance_of(found: list[Match], person: int) -> float:
    """``person``'s chance among ``found`` (:meth:`PeopleIndex.group`, ``faces``); 0 when out of reach."""
    return next((m.probability for m in found if m.person == person), 0.0)


class PeopleIndex:
    """The library's faces and people, asked which person a face or a group is.

    Args:
        vectors: ``float32 (n, d)`` descriptors (normalised here); NaN rows
            are never neighbours.
        people: ``int64 (n,)`` person of each face, ``-1`` for none (each such
            face is a candidate of its own, as a one-face stranger).
    """

    def __init__(self, vectors: NDArray[np.floating], people: NDArray[np.int64]) -> None:
        x = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        self.x = np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0))
        people = np.asarray(people, dtype=np.int64)
        self.people = np.where(people >= 0, people, -2 - np.arange(people.size))
        ids, sizes = np.unique(self.people, return_counts=True)
        self._ids, self._sizes = np.r_[ids, np.iinfo(np.int64).max], np.r_[sizes, 1]

    def _size_of(self, person: NDArray[np.int64]) -> NDArray[np.int64]:
        where = np.searchsorted(self._ids, person)
        return np.where(self._ids[where] == person, self._sizes[where], 1)

    def _near(
        self,
        rows: NDArray[np.int64] | None,
        base_rows: NDArray[np.int64] | None = None,
        near: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """``(q, NEIGHBOURS)`` similarities (NaN: none) and people of each query's nearest other faces."""
        from facefile.cluster.knn import knn_graph, knn_query

        if near is not None:
            idx, dist = near
        elif rows is None:
            idx, dist = knn_graph(self.x, NEIGHBOURS)
        else:
            idx, dist = knn_query(self.x, self.x[rows], NEIGHBOURS + 1, base_rows=base_rows)
            idx = np.where(idx == rows[:, None], -1, idx)
            keep = np.argsort(idx < 0, axis=1, kind="stable")[:, :NEIGHBOURS]  # itself out, 30 left
            idx, dist = np.take_along_axis(idx, keep, 1), np.take_along_axis(dist, keep, 1)
        sims = 1.0 - dist.astype(np.float64) ** 2 / 2.0
        sims[idx < 0] = np.nan
        return sims, self.people[np.maximum(idx, 0)]

    def faces(self, rows: NDArray[np.int64] | None = None) -> list[list[Match]]:
        """Candidates of each face (all when ``rows`` is None; exact search otherwise), best first."""
        picked = None if rows is None else np.asarray(rows, dtype=np.int64)
        sims, nb = self._near(picked)
        q, p, ev = candidates(sims, nb)
        return rank(q, p, ev, crowd(q, ev, padding(sims)))

    def confidence(
        self,
        rows: NDArray[np.int64] | None = None,
        near: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
    ) -> NDArray[np.float32]:
        """``float32 (q,)``: each face's chance of being its person (all faces when ``rows`` is None).

        For a face in no person, or alone in its person, the chance that it is
        none of the people within reach. Vectorised: fit for a million faces.
        ``near``: the faces' nearest rows and Euclidean distances, as
        :func:`knn.knn_graph` returns them, if a caller already has them (the
        search is most of the cost: about 40 s for 100k faces on 2 busy cores).
        """
        picked = None if rows is None else np.asarray(rows, dtype=np.int64)
        sims, nb = self._near(picked, near=near)
        own = self.people if picked is None else self.people[picked]
        q, p, ev = candidates(sims, nb)
        _, prob = score(q, ev, crowd(q, ev, padding(sims)))
        mine = p == own[q]
        result, other = np.zeros(own.size), np.zeros(own.size)
        result[q[mine]] = prob[mine]
        np.maximum.at(other, q[~mine & (p >= 0)], prob[~mine & (p >= 0)])
        alone = (own < 0) | (self._size_of(own) <= 1)
        return np.where(alone, 1.0 - other, result).astype(np.float32)

    def group(self, rows: NDArray[np.int64], exclude: tuple[int, ...] = ()) -> list[Match]:
        """Candidates for several faces together (one person), most likely first.

        Each candidate's evidence, and the crowd, is its mean over the faces;
        the faces' own people and ``exclude`` are not candidates.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        banned = np.r_[self.people[rows], np.asarray(exclude, dtype=np.int64)]
        sims, nb = self._near(rows, np.flatnonzero(~np.isin(self.people, banned)))
        q, p, ev = candidates(sims, nb)
        if p.size == 0:
            return []
        persons, inv = np.unique(p, return_inverse=True)
        pad = padding(sims)
        total = np.bincount(inv, weights=ev - pad[q], minlength=persons.size) + pad.sum()
        crowds = np.array([crowd(q, ev, pad).mean()])
        return rank(np.zeros(persons.size, np.int64), persons, total / rows.size, crowds)[0]

    def merge_chance(
        self, rows_a: NDArray[np.int64], a: int, rows_b: NDArray[np.int64], b: int, there: float | None = None
    ) -> float:
        """Chance that people ``a`` and ``b``, left apart by the grouper, are one person.

        Each asks about the other with its best faces (``rows_a``, ``rows_b``;
        :meth:`group`); the less sure of the two, through
        :func:`~facefile.cluster.calibration.left_apart`. Asking both ways
        keeps a look-alike of one of a big person's faces from passing: on
        facefile's grouping of the three dev collections, the merges above
        50% were right 8 in 42 asked one way (uncorrected), 4 in 4 this way
        (BENCHMARKS.md, section 8).

        ``there``: ``a``'s chance of being ``b`` where the caller already asked.

        Returns:
            the chance, in ``[0, 1]``; near 0 when neither reaches the other.
        """
        there = chance_of(self.group(rows_a), b) if there is None else there
        back = chance_of(self.group(rows_b), a) if there > 0 else 0.0
        return float(left_apart(min(there, back)))


class GroupingNeighbours:
    """The grouping's own nearest-face search, kept for :meth:`PeopleIndex.confidence`.

    Pass an instance as ``GroupingInput.on_neighbours``: it keeps each
    face's :data:`NEIGHBOURS` nearest as the clusterer's search finds them,
    so a full regroup searches once, not twice (the search is most of the
    confidence step's cost).
    """

    def __init__(self, n: int) -> None:
        self.idx = np.full((n, NEIGHBOURS), -1, dtype=np.int64)
        self.dist = np.full((n, NEIGHBOURS), np.inf, dtype=np.float32)
        self.searched = np.zeros(n, dtype=bool)
        self.width: int | None = None

    def __call__(self, rows: NDArray[np.int64], nb: NDArray[np.int64], dist: NDArray[np.float32]) -> None:
        w = min(nb.shape[1], NEIGHBOURS)
        self.width = w if self.width is None else min(self.width, w)
        self.idx[rows, :w], self.dist[rows, :w] = nb[:, :w], dist[:, :w]
        self.searched[rows] = True

    def near(self, vectors: NDArray[np.floating]) -> tuple[NDArray[np.int64], NDArray[np.float32]] | None:
        """The table :class:`PeopleIndex` would search for ``vectors``, or ``None`` where it differs.

        The same only when the clusterer searched every face with a vector
        (none left out, say as too small), at least :data:`NEIGHBOURS` deep,
        and every vector has one length (as a model's unit vectors scaled by
        one factor do): then its distances divided by that length are the
        unit vectors' distances and the neighbours the same.
        """
        x = np.asarray(vectors, dtype=np.float32)
        finite = np.isfinite(x).all(axis=1)
        if self.width is None or not np.array_equal(self.searched, finite):
            return None
        if self.width < min(NEIGHBOURS, int(finite.sum()) - 1):
            return None
        norms = np.linalg.norm(x[finite], axis=1)
        length = float(np.median(norms))
        if length <= 0 or np.abs(norms - length).max() > 1e-5 * length:
            return None
        return self.idx, self.dist / np.float32(length)
