"""Read-only similarity helpers for the web page: likely same people, groups of unassigned faces.

Everything is computed from :meth:`Store.face_matrix` (one read of the
embeddings; on PostgreSQL nearest faces come from the library's HNSW index)
and kept until the library changes; the web app rebuilds a
:class:`SimilarityIndex` when its data version moves. Similarity is the
measure ``review`` and ``why`` use (:func:`facefile.cluster.explain.similarity`
of the Euclidean descriptor distance, in ``[0, 1]``), so the page and the
command line speak of the same numbers.

TODO(issue 5): this is numpy in a front end; it could move to a stage module
(``facefile/similar.py``) if the CLI wants the same suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facefile.cluster.explain import SAME_PERSON_SIMILARITY, similarity
from facefile.regroup import StoreNeighbours
from facefile.store.db import Store

GROUP_SIMILARITY = float(similarity(0.5))
"""Two unassigned faces this similar (and mutual near neighbours) share a group."""
GROUP_NEIGHBOURS = 8
LIKELY_QUERIES = 8
"""A person's best faces whose nearest faces (PostgreSQL's index) propose merge candidates."""
LIKELY_NEIGHBOURS = 40


@dataclass(frozen=True)
class FaceGroup:
    """Unassigned faces that look alike, best quality first."""

    face_ids: tuple[int, ...]
    closest_person: int | None
    closest_similarity: float | None


class SimilarityIndex:
    """Centroids of people and descriptors of all groupable faces.

    Building costs one pass over the embeddings (about ``n * d`` floats);
    queries are cheap.
    """

    def __init__(self, store: Store, model_id: str) -> None:
        m = store.face_matrix(model_id)
        # PostgreSQL: nearest faces come from the library's HNSW index
        self.neighbours = StoreNeighbours(store, model_id, m) if store.dialect == "postgresql" else None
        self.face_ids = m.face_ids
        self.person = m.person
        self.photo_ids = m.photo_ids
        self.quality = m.quality
        self.vectors = m.embeddings.astype(np.float32, copy=False)  # raw descriptors
        assigned = np.flatnonzero(self.person >= 0)
        order = assigned[np.argsort(self.person[assigned], kind="stable")]
        self.people, starts = np.unique(self.person[order], return_index=True)
        if order.size:
            sums = np.add.reduceat(self.vectors[order], starts, axis=0)
            counts = np.diff(np.r_[starts, order.size])
            self.centroids = sums / counts[:, None]
        else:
            self.centroids = np.zeros(
                (0, self.vectors.shape[1] if self.vectors.ndim == 2 else 128), np.float32
            )
        self._groups: list[FaceGroup] | None = None
        self._refused: dict[int, set[int]] = {}  # face id -> people the user said it is not
        for kind, face_id, person_id, _other in store.constraints():
            if kind == "not_person" and person_id is not None:
                self._refused.setdefault(face_id, set()).add(int(person_id))

    def likely_same(self, person_id: int, k: int = 6, min_similarity: float = 0.5) -> list[tuple[int, float]]:
        """The ``k`` people whose mean face is closest to ``person_id``'s.

        People who appear in a photo together with ``person_id`` are left
        out: they cannot be the same person, and a merge would be refused.

        Returns:
            ``(person_id, similarity)``, most similar first.
        """
        where = np.searchsorted(self.people, person_id)
        if where >= self.people.size or self.people[where] != person_id:
            return []
        sims = similarity(np.linalg.norm(self.centroids - self.centroids[where], axis=1))
        sims[where] = -2.0
        if self.neighbours is not None:  # only people whose faces the index finds near this one's
            own = np.flatnonzero(self.person == person_id)
            best = own[np.argsort(-self.quality[own], kind="stable")[:LIKELY_QUERIES]]
            near = np.concatenate([*self.neighbours.nearest(best, LIKELY_NEIGHBOURS), np.zeros(0, np.int64)])
            sims[~np.isin(self.people, self.person[near])] = -2.0
        own_photos = self.photo_ids[self.person == person_id]
        together = set(self.person[np.isin(self.photo_ids, own_photos)].tolist())
        out: list[tuple[int, float]] = []
        for i in np.argsort(-sims)[: k + len(together) + 1]:
            pid = int(self.people[i])
            if sims[i] < min_similarity:
                break
            if pid in together:
                continue
            out.append((pid, float(sims[i])))
            if len(out) == k:
                break
        return out

    def unassigned_groups(self) -> list[FaceGroup]:
        """Unassigned faces grouped by similarity, largest group first.

        Two faces join when each is among the other's nearest neighbours with
        similarity at least :data:`GROUP_SIMILARITY` and they are not in
        the same photo. Each group names the person its mean is closest to
        when that is at least :data:`SAME_PERSON_SIMILARITY` and the user has not
        said one of its faces is not that person.
        """
        if self._groups is None:
            self._groups = self._build_groups()
        return self._groups

    def _build_groups(self) -> list[FaceGroup]:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        from facefile.cluster.knn import knn_graph

        rows = np.flatnonzero(self.person < 0)
        if rows.size == 0:
            return []
        x = np.ascontiguousarray(self.vectors[rows])
        n = rows.size
        labels = np.arange(n)
        if n > 1:
            k = min(GROUP_NEIGHBOURS, n - 1)
            idx, dist = knn_graph(x, k) if self.neighbours is None else self._index_graph(rows, k)
            sim = similarity(dist.astype(np.float64))
            src = np.repeat(np.arange(n), idx.shape[1])
            dst = idx.ravel()
            ok = (dst >= 0) & (sim.ravel() >= GROUP_SIMILARITY)
            src, dst = src[ok], dst[ok]
            ok = self.photo_ids[rows[src]] != self.photo_ids[rows[dst]]
            src, dst = src[ok], dst[ok]
            # keep mutual edges only: chains through one odd face stay apart
            mutual = np.isin(dst * n + src, src * n + dst)
            graph = coo_matrix((np.ones(int(mutual.sum())), (src[mutual], dst[mutual])), shape=(n, n))
            _, labels = connected_components(graph, directed=False)
        groups: list[FaceGroup] = []
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        for members in np.split(order, bounds):
            members = members[np.argsort(-self.quality[rows[members]], kind="stable")]
            mean = x[members].mean(axis=0)
            closest, best = None, None
            refused = set().union(*(self._refused.get(int(f), set()) for f in self.face_ids[rows[members]]))
            if self.people.size:
                sims = similarity(np.linalg.norm(self.centroids - mean, axis=1))
                sims[np.isin(self.people, list(refused))] = -2.0
                j = int(np.argmax(sims))
                if sims[j] >= SAME_PERSON_SIMILARITY:
                    closest, best = int(self.people[j]), float(sims[j])
            groups.append(FaceGroup(tuple(int(f) for f in self.face_ids[rows[members]]), closest, best))
        groups.sort(key=lambda g: (-len(g.face_ids), g.face_ids[0]))
        return groups

    def _index_graph(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``knn_graph``'s ``(idx, dist)`` among ``rows`` (as positions in it), by the library's index."""
        assert self.neighbours is not None
        pos = np.full(self.face_ids.size, -1, dtype=np.int64)
        pos[rows] = np.arange(rows.size)
        idx = np.full((rows.size, k), -1, dtype=np.int64)
        dist = np.full((rows.size, k), np.inf, dtype=np.float32)
        for i, found in enumerate(self.neighbours.nearest(rows, 3 * k + 1)):
            found = found[(pos[found] >= 0) & (found != rows[i])][:k]
            idx[i, : found.size] = pos[found]
            dist[i, : found.size] = np.linalg.norm(self.vectors[found] - self.vectors[rows[i]], axis=1)
        return idx, dist
