"""Read-only similarity helpers for the web page: likely same people, groups of unassigned faces.

Everything is computed from :meth:`Store.face_matrix` (one read of the
embeddings; on PostgreSQL nearest faces come from the library's HNSW index)
and kept until the library changes; the web app rebuilds a
:class:`SimilarityIndex` when its data version moves. Both pages ask about
what the grouper left apart, where the chance fitted on true people
(:mod:`facefile.cluster.calibration`) says too much. A merge is asked both
ways and shows :meth:`PeopleIndex.merge_chance`, the number ``review``'s
merge questions give too; an unassigned group shows its closest person as a
hint, without a percentage, and is never pre-filled. Measured on facefile's
own grouping of the dev collections (BENCHMARKS.md, section 8, run
``20261208T001154Z``): with the chance fitted on true people, asked one way,
merges proposed above 50% were right 8 of 42 and pre-filled people 17-18% of
the time on lfw-dev and rmfrd-dev (100% on celeb17). Now the person page
proposes 4 merges, all right (rmfrd-dev, held out: every decile of its 4,693
candidates within 0.009), and the unassigned page pre-fills nobody; its
hints are right 17% (lfw-dev), 18% (rmfrd-dev) and 100% (celeb17) of the
time, which no rule fitted on two of them predicted on the third.

TODO(issue 5): this is numpy in a front end; it could move to a stage module
(``facefile/similar.py``) if the CLI wants the same suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facefile.cluster.calibration import (
    PREFILL_ABOVE,
    PREFILL_UNASSIGNED_ABOVE,
    Match,
    left_apart,
)
from facefile.people_index import PeopleIndex, best_faces
from facefile.regroup import StoreNeighbours
from facefile.store.db import Store

GROUP_DISTANCE = 0.5
"""Two unassigned faces this close (and mutual near neighbours) share a group."""
GROUP_NEIGHBOURS = 8
LIKELY_QUERIES = 8
"""A person's (or a group's) best faces that stand for it when asking who it is."""
LIKELY_NEIGHBOURS = 40
HINT_ABOVE = PREFILL_ABOVE
"""An unassigned group's closest person is shown as a hint above this chance (fitted on true people):
where the page pre-filled it before measuring on facefile's own grouping (BENCHMARKS.md, section 8)."""


@dataclass(frozen=True)
class FaceGroup:
    """Unassigned faces that look alike, best quality first."""

    face_ids: tuple[int, ...]


@dataclass(frozen=True)
class LooksLike:
    """The person an unassigned group most likely is.

    Attributes:
        person_id: that person.
        probability: the chance fitted on true people
            (:func:`~facefile.cluster.calibration.probability`); not calibrated
            for what the grouper left unassigned, so the page shows it only
            when pre-filled.
        is_prefilled: above :data:`~facefile.cluster.calibration.PREFILL_UNASSIGNED_ABOVE`
            (never, today): the page proposes them.
    """

    person_id: int
    probability: float
    is_prefilled: bool


class SimilarityIndex:
    """Descriptors and people of all groupable faces.

    Building costs one pass over the embeddings (about ``n * d`` floats);
    each query is one exact search of its few faces against them.
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
        self.people = np.unique(self.person[self.person >= 0])
        self._groups: list[FaceGroup] | None = None
        self._people_index: PeopleIndex | None = None
        self._refused: dict[int, set[int]] = {}  # face id -> people the user said it is not
        for kind, face_id, person_id, _other in store.constraints():
            if kind == "not_person" and person_id is not None:
                self._refused.setdefault(face_id, set()).add(int(person_id))

    def likely_same(self, person_id: int, k: int = 6) -> list[tuple[int, float]]:
        """Up to ``k`` people likely the same as ``person_id``, with the chance they are.

        ``person_id``'s best faces ask who else they could be
        (:meth:`PeopleIndex.group`); people seen in a photo together with
        ``person_id`` cannot be the same and are left out. Each candidate
        asks back with its own best faces, and the less sure of the two
        goes through :func:`~facefile.cluster.calibration.left_apart` (the
        grouper already refused to link them), as
        :meth:`PeopleIndex.merge_chance` does; a merge is proposed only when
        more likely than not (:data:`PREFILL_ABOVE`).

        Returns:
            ``(person_id, probability)``, most likely first.
        """
        own = np.flatnonzero(self.person == person_id)
        if own.size == 0:
            return []
        best = self._best(person_id)
        own_photos = self.photo_ids[own]
        together = set(self.person[np.isin(self.photo_ids, own_photos)].tolist()) - {person_id}
        if self.neighbours is not None:  # only people whose faces the index finds near this one's
            near = np.concatenate([*self.neighbours.nearest(best, LIKELY_NEIGHBOURS), np.zeros(0, np.int64)])
            reach = set(self.person[near].tolist())
            together |= set(self.people.tolist()) - reach
        out = []
        index = self._index()
        for m in index.group(best, exclude=tuple(sorted(together))):
            if m.person < 0 or left_apart(m.probability) <= PREFILL_ABOVE:
                continue  # the chance asked both ways is at most this one
            chance = index.merge_chance(best, person_id, self._best(m.person), m.person, there=m.probability)
            if chance > PREFILL_ABOVE:
                out.append((m.person, chance))
        return sorted(out, key=lambda pc: -pc[1])[:k]

    def _best(self, person_id: int) -> np.ndarray:
        """Rows of the person's :data:`LIKELY_QUERIES` best faces."""
        return best_faces(self.person, self.quality, person_id, LIKELY_QUERIES)

    def looks_like(self, group: FaceGroup) -> LooksLike | None:
        """The person an unassigned group most likely is, if its chance is above :data:`HINT_ABOVE`.

        A hint only: a group is pre-filled only above
        :data:`PREFILL_UNASSIGNED_ABOVE` (never, today). People the user said
        one of its faces is not are left out.
        """
        rows = np.searchsorted(self.face_ids, np.asarray(group.face_ids[:LIKELY_QUERIES], dtype=np.int64))
        refused = set().union(*(self._refused.get(int(f), set()) for f in group.face_ids))
        found = self._index().group(rows, exclude=tuple(sorted(refused)))
        best: Match | None = next((m for m in found if m.person >= 0), None)
        if best is None or best.probability <= HINT_ABOVE:
            return None
        return LooksLike(best.person, best.probability, best.probability > PREFILL_UNASSIGNED_ABOVE)

    def _index(self) -> PeopleIndex:
        if self._people_index is None:
            self._people_index = PeopleIndex(self.vectors, self.person)
        return self._people_index

    def unassigned_groups(self) -> list[FaceGroup]:
        """Unassigned faces grouped by similarity, largest group first.

        Two faces join when each is among the other's nearest neighbours
        within :data:`GROUP_DISTANCE` and they are not in the same photo.
        :meth:`looks_like` says who a group may be.
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
            src = np.repeat(np.arange(n), idx.shape[1])
            dst = idx.ravel()
            ok = (dst >= 0) & (dist.ravel() <= GROUP_DISTANCE)
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
            groups.append(FaceGroup(tuple(int(f) for f in self.face_ids[rows[members]])))
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
