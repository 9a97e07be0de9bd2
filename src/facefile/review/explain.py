"""What to ask the user first, and why a face sits where it does.

Distances are read here as a *similarity* ``1 - distance / 1.5`` clipped to
``[0, 1]``, to rank questions: with facefile's models two faces of one
person usually score above :data:`SAME_PERSON_SIMILARITY` (0.6, a distance of 0.6) and two people usually
below 0.5. What a user is shown is the calibrated chance of being the same
person instead (:mod:`facefile.cluster.calibration`, wired in
:mod:`facefile.review`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.average_linkage import AverageLinkageParams
from facefile.cluster.base import Grouping, GroupingInput
from facefile.cluster.graph import edge_list, pair_distance

SIMILARITY_SCALE = 1.5
SAME_PERSON_SIMILARITY = 0.6
"""Faces of one person usually score above this."""


def similarity(distance: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Descriptor distance -> similarity in ``[0, 1]`` (1 = identical)."""
    return np.clip(1.0 - np.asarray(distance, dtype=np.float64) / SIMILARITY_SCALE, 0.0, 1.0)


@dataclass(frozen=True)
class Question:
    """One question for the user, in rows and cluster labels.

    :func:`facefile.review.review_items` turns it into the
    :class:`facefile.types.ReviewItem` the user sees (face and person ids,
    the sentence).

    Attributes:
        kind: ``"assignment"`` (is ``row`` really in ``label``?),
            ``"unassigned"`` (is ``row`` in ``label``?) or ``"merge"`` (are
            ``label`` and ``other_label`` one person?).
        row: the face asked about (``-1`` for a merge).
        label: its cluster, or the cluster proposed.
        other_label: the runner-up cluster (assignment) or the other cluster
            (merge); ``-1`` when there is none.
        similarity: mean similarity behind the question, ``[0, 1]``.
        priority: roughly how many face labels one answer may fix.
        example_rows: a few faces to show, nearest first.
    """

    kind: str
    row: int
    label: int
    other_label: int
    similarity: float
    priority: float
    example_rows: tuple[int, ...]


def _graph_means(data: GroupingInput, labels: NDArray[np.int64], p: AverageLinkageParams):
    full = np.asarray(data.embeddings, dtype=np.float32)
    upper = data.views.get("upper")
    usable = np.isfinite(full).all(axis=1)
    src, dst, dist, _ = edge_list(
        full, upper, int(p.n_neighbors), p.upper_margin, usable, p.upper_weight, int(p.density_k)
    )
    return np.r_[src, dst], np.r_[dst, src], np.r_[dist, dist].astype(np.float64)


def review(
    data: GroupingInput,
    grouping: Grouping,
    limit: int = 20,
    params: AverageLinkageParams | None = None,
) -> list[Question]:
    """The questions whose answers fix the most errors, most useful first.

    Uncertain assignments weigh ``1 - confidence``; a likely merge of two
    clusters weighs its closeness times the smaller cluster's size (a yes
    fixes every pair between them); an unassigned face close to a cluster
    weighs its closeness. User-placed faces are never asked about.

    Args:
        data: the grouped faces.
        grouping: the clusterer's output for ``data``.
        limit: most questions returned.
        params: the clusterer's settings (for the merge threshold).

    Returns:
        Up to ``limit`` :class:`Question`, highest priority first.
    """
    p = params or AverageLinkageParams()
    labels = np.asarray(grouping.labels, dtype=np.int64)
    if labels.size == 0:
        return []
    u, v, d = _graph_means(data, labels, p)
    items: list[Question] = []
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, np.int64)
    # mean distance from each face to each cluster it has edges to
    sel = labels[v] >= 0
    key = u[sel] * (sizes.size + 1) + labels[v[sel]]
    uniq, inv = np.unique(key, return_inverse=True)
    means = np.bincount(inv, weights=d[sel]) / np.bincount(inv)
    face, lab = uniq // (sizes.size + 1), uniq % (sizes.size + 1)
    near = p.threshold + 0.15
    order = np.lexsort((lab, means, face))
    face, lab, means = face[order], lab[order], means[order]
    starts = np.flatnonzero(np.r_[True, face[1:] != face[:-1]])
    ends = np.r_[starts[1:], face.size]
    conf = np.asarray(grouping.confidence)
    # only faces worth asking about reach the Python loop
    worth = (labels[face[starts]] >= 0) & (conf[face[starts]] < 0.9)
    worth |= (labels[face[starts]] < 0) & (means[starts] <= near)
    worth &= data.user_person[face[starts]] < 0
    for s0, e0 in zip(starts[worth], ends[worth], strict=True):
        f, fl, fm = int(face[s0]), lab[s0:e0], means[s0:e0]
        if labels[f] >= 0:
            others, own = fl[fl != labels[f]], fm[fl == labels[f]]
            items.append(
                Question(
                    "assignment",
                    f,
                    int(labels[f]),
                    int(others[0]) if others.size else -1,
                    float(similarity(own[0] if own.size else p.threshold)),
                    1.0 - float(conf[f]),
                    (f,),
                )
            )
        else:
            closeness = float(np.clip((near - fm[0]) / 0.15, 0.0, 1.0))
            items.append(Question("unassigned", f, int(fl[0]), -1, float(similarity(fm[0])), closeness, (f,)))
    items.extend(_merge_items(u, v, d, labels, sizes, p.threshold, near, limit))
    items.sort(key=lambda it: (-it.priority, it.kind, it.row, it.label))
    return items[:limit]


def _merge_items(u, v, d, labels, sizes, threshold, near, limit) -> list[Question]:
    a, b = labels[u], labels[v]
    sel = (a >= 0) & (b >= 0) & (a < b)
    if not sel.any():
        return []
    n = sizes.size
    uniq, inv = np.unique(a[sel] * n + b[sel], return_inverse=True)
    means = np.bincount(inv, weights=d[sel]) / np.bincount(inv)
    la, lb = uniq // n, uniq % n
    closeness = np.clip((near - means) / (near - threshold + 1e-9), 0.0, 1.0)
    priority = closeness * np.minimum(sizes[la], sizes[lb])
    top = np.flatnonzero(means <= near)
    top = top[np.argsort(-priority[top], kind="stable")[:limit]]
    out = []
    for i in top:
        ex = np.r_[np.flatnonzero(labels == la[i])[:2], np.flatnonzero(labels == lb[i])[:2]]
        out.append(
            Question(
                "merge",
                -1,
                int(la[i]),
                int(lb[i]),
                float(similarity(means[i])),
                float(priority[i]),
                tuple(int(r) for r in ex),
            )
        )
    return out


@dataclass(frozen=True)
class NearFace:
    """Another face (its row and cluster label) and how similar it is.

    The API gives it as a :class:`facefile.types.Neighbour` (face and person ids).
    """

    row: int
    face_id: int
    label: int
    similarity: float


@dataclass(frozen=True)
class Why:
    """Why a face has its label, in numbers a user can check.

    Attributes:
        row, face_id, label, confidence: the face and its grouping.
        nearest_in_person: its most similar faces with the same label.
        person_similarity: mean similarity to those (NaN if none).
        closest_other_label: the most similar other cluster (``-1``: none).
        nearest_in_other: its most similar faces there.
        other_similarity: mean similarity to those (NaN if none).
        same_person_above: faces of one person usually score above this.
        summary: one line, e.g. ``"similarity 0.87 to its person (same
            person usually > 0.60); closest other person 0.41"``.
    """

    row: int
    face_id: int
    label: int
    confidence: float
    nearest_in_person: tuple[NearFace, ...]
    person_similarity: float
    closest_other_label: int
    nearest_in_other: tuple[NearFace, ...]
    other_similarity: float
    same_person_above: float
    summary: str


WHY_CANDIDATES = 200
"""Nearest faces asked of the library's index (PostgreSQL) to find the closest other person."""


def why(
    data: GroupingInput,
    grouping: Grouping,
    row: int,
    n_nearest: int = 3,
    params: AverageLinkageParams | None = None,
) -> Why:
    """Explain the label of face ``row`` by its nearest faces (exact, ``O(n * d)``).

    Args:
        data: the grouped faces; grouping: the clusterer's output for them.
        row: the face to explain.
        n_nearest: faces listed per side.
        params: the clusterer's settings (for the upper-view margin).

    Returns:
        :class:`Why`.
    """
    p = params or AverageLinkageParams()
    labels = np.asarray(grouping.labels, dtype=np.int64)
    n = labels.size
    if data.neighbours is None:
        others_rows = np.arange(n, dtype=np.int64)
    else:  # the library's index finds the other people's nearest faces; its own are all measured
        near = data.neighbours.nearest(np.array([row], dtype=np.int64), WHY_CANDIDATES)[0]
        own_rows = np.flatnonzero(labels == labels[row]) if labels[row] >= 0 else near[:0]
        others_rows = np.unique(np.r_[near, own_rows]).astype(np.int64)
    d = np.full(n, np.inf)
    d[others_rows] = pair_distance(
        np.asarray(data.embeddings, dtype=np.float32),
        data.views.get("upper"),
        np.full(others_rows.size, row, dtype=np.int64),
        others_rows,
        p.upper_margin,
        p.upper_weight,
    ).astype(np.float64)
    d[row] = np.inf
    d = np.where(np.isnan(d), np.inf, d)
    own = np.flatnonzero(labels == labels[row]) if labels[row] >= 0 else np.zeros(0, np.int64)
    own = own[own != row]
    mine = _nearest(data, labels, own, d, n_nearest)
    others = np.flatnonzero((labels >= 0) & (labels != labels[row]) & np.isfinite(d))
    other_label = int(labels[others[np.argmin(d[others])]]) if others.size else -1
    theirs = _nearest(
        data, labels, np.flatnonzero(labels == other_label) if other_label >= 0 else others[:0], d, n_nearest
    )
    ps = float(np.mean([x.similarity for x in mine])) if mine else float("nan")
    os_ = float(np.mean([x.similarity for x in theirs])) if theirs else float("nan")
    if mine:
        text = f"similarity {ps:.2f} to its person (same person usually > {SAME_PERSON_SIMILARITY:.2f})"
    else:
        text = f"no other face of its person (same person usually > {SAME_PERSON_SIMILARITY:.2f})"
    if theirs:
        text += f"; closest other person {os_:.2f}"
    return Why(
        row,
        int(data.face_ids[row]),
        int(labels[row]),
        float(grouping.confidence[row]),
        mine,
        ps,
        other_label,
        theirs,
        os_,
        SAME_PERSON_SIMILARITY,
        text,
    )


def _nearest(data, labels, rows, d, k) -> tuple[NearFace, ...]:
    rows = rows[np.isfinite(d[rows])]
    rows = rows[np.argsort(d[rows], kind="stable")[:k]]
    return tuple(
        NearFace(int(r), int(data.face_ids[r]), int(labels[r]), float(similarity(d[r]))) for r in rows
    )
