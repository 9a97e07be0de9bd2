"""The clusterer interface: embeddings and constraints in, clusters out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class NeighbourSearch(Protocol):
    """Nearest faces by an index outside the process (a database's), in rows of a :class:`GroupingInput`."""

    def nearest(self, rows: NDArray[np.int64], k: int) -> list[NDArray[np.int64]]:
        """For each of ``rows``, up to ``k`` rows nearest it in the full view (itself included)."""
        ...


@dataclass(frozen=True)
class GroupingInput:
    """Faces to group, one row each, and what the user has decided about them.

    Attributes:
        face_ids: ``int64 (n,)`` database ids, for tie-breaking and reporting.
        embeddings: ``float32 (n, d)`` "full" descriptors in the model's space.
        views: extra descriptors per view name (e.g. ``"upper"``), each
            ``float32 (n, d)``; rows with no such view are all-NaN.
        quality: ``float32 (n,)`` combined quality in ``[0, 1]``.
        size_px: ``float32 (n,)`` face size in original pixels.
        photo_ids: ``int64 (n,)``; two faces of one photo are never one person.
        user_person: ``int64 (n,)`` the person the user placed the face in,
            ``-1`` where the user said nothing. Faces with the same value must
            share a cluster; faces with different values must not.
        not_person: ``(row, person_id)`` pairs: "this face is not this person".
        cannot_link: ``(row, row)`` pairs that must not share a cluster.
        previous_person: ``int64 (n,)`` the person a face had before this
            regrouping (automatic or user), ``-1`` if none; lets a clusterer
            keep people stable.
        occlusion: ``float32 (n, 3)`` how likely the lower face, the eyes and
            one side of each face are covered (0-1,
            :func:`facefile.analyze.quality.occlusion`), or ``None`` if unknown.
        named_people: ids (as in ``previous_person``) of the people the
            user gave a name. A name says the user looked at the person, so
            a clusterer should not split them on a weak rule (average
            linkage keeps a named pair that ``pair_threshold`` would undo).
        neighbours: the library's own nearest-face index (PostgreSQL's
            HNSW), used instead of an in-process search where one is given;
            ``None`` in a subset (its rows are renumbered).
        on_step: called as ``on_step(step, seconds)`` when the clusterer
            finishes a named step (average linkage: ``"graph"``, the
            neighbour graph), so a caller can time a step or read memory
            after it without reaching into the clusterer; ``None`` by default.
        on_neighbours: hears each chunk of the full view's nearest-neighbour
            search as ``(rows, nb, dist)`` (as :func:`knn.knn_graph` fills
            its table: every searched row's nearest others, before any cut),
            so a caller that needs each face's nearest faces (the stored
            confidence) need not search again; ``None`` in a subset.
    """

    face_ids: NDArray[np.int64]
    embeddings: NDArray[np.float32]
    quality: NDArray[np.float32]
    size_px: NDArray[np.float32]
    photo_ids: NDArray[np.int64]
    user_person: NDArray[np.int64]
    previous_person: NDArray[np.int64]
    not_person: list[tuple[int, int]] = field(default_factory=list)
    cannot_link: list[tuple[int, int]] = field(default_factory=list)
    views: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    occlusion: NDArray[np.float32] | None = None
    named_people: frozenset[int] = frozenset()
    neighbours: NeighbourSearch | None = None
    on_step: Callable[[str, float], None] | None = None
    on_neighbours: Callable[[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]], None] | None = None

    @property
    def n_faces(self) -> int:
        return int(self.embeddings.shape[0])

    def subset(self, rows: NDArray[np.int64]) -> GroupingInput:
        """The faces ``rows`` only: every per-face array sliced alike, constraints renumbered."""
        pos = {int(r): i for i, r in enumerate(rows)}
        return dataclasses.replace(
            self,
            face_ids=self.face_ids[rows],
            embeddings=self.embeddings[rows],
            quality=self.quality[rows],
            size_px=self.size_px[rows],
            photo_ids=self.photo_ids[rows],
            user_person=self.user_person[rows],
            previous_person=self.previous_person[rows],
            not_person=[(pos[r], q) for r, q in self.not_person if r in pos],
            cannot_link=[(pos[a], pos[b]) for a, b in self.cannot_link if a in pos and b in pos],
            views={k: v[rows] for k, v in self.views.items()},
            occlusion=None if self.occlusion is None else self.occlusion[rows],
            neighbours=None,
            on_neighbours=None,
        )


@dataclass(frozen=True)
class Grouping:
    """Clusters for the rows of a :class:`GroupingInput`.

    Attributes:
        labels: ``int64 (n,)``, cluster label per row, ``-1`` for a face left
            unassigned (too small, too uncertain, or alone).
        confidence: ``float32 (n,)`` in ``[0, 1]``: how sure the clusterer is
            of the row's label (for ``-1``, how sure it is that the face
            belongs to nobody here).
    """

    labels: NDArray[np.int64]
    confidence: NDArray[np.float32]


class Clusterer(Protocol):
    """Groups faces into clusters under the user's constraints.

    ``__init__`` only stores parameters; ``fit_predict`` validates them and
    does the work. Whatever the algorithm, the result must honour: two rows
    of one photo never share a label; rows with the same ``user_person >= 0``
    share a label and rows with different ones do not; ``not_person`` and
    ``cannot_link`` pairs are respected.
    """

    name: str

    def fit_predict(self, data: GroupingInput) -> Grouping: ...
