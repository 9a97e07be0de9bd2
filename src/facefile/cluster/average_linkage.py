"""The default clusterer: constrained average linkage whose bar follows the density of strangers.

1. Faces smaller than ``min_face_px`` or without a descriptor stay ``-1``.
2. A kNN graph joins each face to its ``n_neighbors`` nearest in the "full"
   view and in the "upper" view (lower half of the chip greyed out); an
   edge's distance is ``min(mix, upper + upper_margin)`` (:mod:`.graph`), so
   a masked face is still recognised by what shows.
3. Faces that may link (:func:`may_link`: not among the collection's poorest,
   no mask or hand over the lower face) are agglomerated under the user's
   decisions and the photo rule (:mod:`.agglomerate`): two clusters merge
   while the exact root mean square full-view distance over all their pairs
   is within their bar (for a cluster holding a masked face, the upper view's
   plus ``upper_rms_margin`` may stand in). The bar is ``threshold`` plus the
   mean of each face's :func:`bar_offset`: up to ``density_weight`` more
   where few other clusters lie near a face (a small album, a person seen
   often), nothing where ``density_max`` or more do (a crowded archive).
   Covers (masks, dark glasses) move the bar by :func:`.agglomerate.cover_limit`.
   A cluster of exactly two faces needs them within ``pair_threshold``.
4. Clusters smaller than ``min_cluster_size`` are undone; each face still alone
   then joins the cluster nearest it by the one join rule (:func:`.graph.join`,
   shared with the incremental placement), and a face that may not link may
   pair with a clear face left alone.

Words, in all of :mod:`facefile.cluster`: a *cluster* is this stage's raw
output (a *person* is what the user sees and corrects); a view *collapses*
when an occluder, not the person, makes a face unusually near its
neighbours in it (:func:`.graph.view_scales`); a face is *covered* when an
occlusion score (mask, hand, dark glasses) reaches :data:`COVERED` or its
upper view collapsed past ``glasses_collapse``.

Every rule here was measured on the mean over real collections (BENCHMARKS.md,
"One default across collections"); rules that did not pay were removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.agglomerate import average_linkage, cover_limit, distinct
from facefile.cluster.base import Grouping, GroupingInput
from facefile.cluster.constraints import cannot_link_pairs, must_link_labels
from facefile.cluster.graph import edge_list, join, label_confidence
from facefile.errors import ConfigError

_CANDIDATE_SLACK = 0.15
"""Graph edges longer than ``threshold`` + this propose no merge (the RMS decides, not the edge)."""
_UPPER_COLLAPSE = 1.1
"""Faces whose upper view collapsed past this stretch are judged by the full view only."""
_FULL_COLLAPSE = 1.0
"""Faces whose full view collapsed at all (likely masked) may be measured by the upper view."""
COVERED = 0.5
"""Occlusion score from which a face counts as covered (1% of clean faces reach it)."""


def _setting(default: float, lo: float, hi: float, help: str, *, whole: bool = False) -> Any:
    return field(default=default, metadata={"range": (lo, hi, whole), "help": help})


@dataclass(frozen=True)
class AverageLinkageParams:
    """Settings of :class:`AverageLinkageClusterer`: each field's range (inclusive) and what it does.

    Distances are between stored vectors; each model's vectors are scaled so
    that a distance means the same share of strangers (see
    ``facefile.embed.onnx_face.ARCFACE_DISTANCE_SCALE``). ``threshold`` and
    the ``density_*`` settings were chosen on MobileFaceNet by the mean BCubed
    F over lfw-dev (a seeded 2,000-photo subset and the whole), celeb17 and
    rmfrd-dev, and checked with rmfrd-dev held out (BENCHMARKS.md).
    """

    threshold: float = _setting(0.5, 0.01, 1.99, "the base linking bar")
    upper_margin: float = _setting(0.08, 0.0, np.inf, "edges: the upper view plus this may stand in")
    upper_weight: float = _setting(0.4, 0.0, 1.0, "edges: the upper view's share of the mixed distance")
    density_k: int = _setting(10, 0, 100, "neighbours that measure a view's collapse (0: none)", whole=True)
    max_rms: float = _setting(0.65, 1e-9, np.inf, "no merge or join beyond this RMS distance")
    upper_rms_margin: float = _setting(0.1, 1e-9, np.inf, "merges: upper-view RMS plus this may stand in")
    n_neighbors: int = _setting(30, 1, 1000, "the graph's neighbours per face and view", whole=True)
    min_face_px: float = _setting(16.0, 0.0, np.inf, "smaller faces stay unassigned")
    min_link_quality: float = _setting(0.3, 0.0, 1.0, "poorer faces may join, not link (:func:`may_link`)")
    attach_threshold: float = _setting(0.52, 0.01, 1.99, "the join rule's bar (:func:`.graph.join`)")
    attach_margin: float = _setting(0.02, 0.0, 0.99, "a joiner's nearest cluster beats the next by this")
    min_cluster_size: int = _setting(2, 1, 1e9, "smaller clusters are undone", whole=True)
    cover_bonus: float = _setting(0.04, 0.0, 0.49, "cover terms (:func:`.agglomerate.cover_limit`)")
    pair_threshold: float = _setting(0.45, 0.01, 1.99, "the bar of a cluster of two faces")
    glasses_collapse: float = _setting(
        1.08, 1.0, np.inf, "an upper view collapsed this far counts as covered"
    )
    cover_penalty: float = _setting(0.04, 0.0, 0.49, "cover terms (:func:`.agglomerate.cover_limit`)")
    poor_share: float = _setting(0.25, 0.0, 1.0, "the collection's poorest share (:func:`may_link`)")
    density_weight: float = _setting(0.1, 0.0, 0.3, "the most a face's bar rises (:func:`bar_offset`)")
    density_max: float = _setting(10.0, 1, 1000, "other clusters near a face for no rise", whole=True)
    density_radius: float = _setting(0.67, 0.0, 1.99, "how near another cluster counts")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value and its range."""
        for f in fields(self):
            lo, hi, whole = f.metadata["range"]
            value = getattr(self, f.name)
            if not lo <= value <= hi or (whole and int(value) != value):
                raise ConfigError(
                    f"Clusterer setting {f.name}={value!r} is out of range; use "
                    f"{'an integer' if whole else 'a value'} in [{lo}, {hi}] (default {f.default!r})."
                )


def validate_input(data: GroupingInput) -> None:
    """Raise :class:`ConfigError` when the arrays of ``data`` disagree in length."""
    n = data.n_faces
    for name in ("face_ids", "quality", "size_px", "photo_ids", "user_person", "previous_person"):
        if getattr(data, name).shape[0] != n:
            raise ConfigError(
                f"GroupingInput.{name} has {getattr(data, name).shape[0]} rows but embeddings "
                f"has {n}; pass one value per face."
            )
    for view, arr in data.views.items():
        if arr.shape != data.embeddings.shape:
            raise ConfigError(
                f"GroupingInput.views[{view!r}] has shape {arr.shape}, expected "
                f"{data.embeddings.shape}; use NaN rows for faces without that view."
            )
    if data.occlusion is not None and np.shape(data.occlusion) != (n, 3):
        raise ConfigError(
            f"GroupingInput.occlusion has shape {np.shape(data.occlusion)}, expected ({n}, 3); "
            "pass None when the scores are unknown."
        )
    for row, other in list(data.cannot_link) + [(r, 0) for r, _ in data.not_person]:
        if not (0 <= row < n and 0 <= other < n):
            raise ConfigError(f"Constraint row ({row}, {other}) is outside 0..{n - 1}.")


class AverageLinkageClusterer:
    """Constrained two-view average linkage (module docstring); settings: :class:`AverageLinkageParams`."""

    name = "average-linkage"

    def __init__(self, **params: float) -> None:
        self.params = params

    def fit_predict(self, data: GroupingInput) -> Grouping:
        """Group ``data``; see :class:`~facefile.cluster.base.Clusterer`.

        Raises:
            ConfigError: a setting is unknown or out of range, or the input
                arrays disagree in length.
        """
        try:
            p = AverageLinkageParams(**self.params)
        except TypeError:
            known = ", ".join(AverageLinkageParams.__dataclass_fields__)
            raise ConfigError(
                f"Unknown clusterer setting in {sorted(self.params)}; known: {known}."
            ) from None
        p.validate()
        validate_input(data)
        return group(data, p)


def group(
    data: GroupingInput, p: AverageLinkageParams, offset: NDArray[np.float64] | None = None
) -> Grouping:
    """Run the algorithm with validated settings ``p`` (``offset``: each face's bar offset, if known)."""
    n = data.n_faces
    if n == 0:
        return Grouping(np.zeros(0, np.int64), np.zeros(0, np.float32))
    full = np.asarray(data.embeddings, dtype=np.float32)
    upper = data.views.get("upper")
    upper = None if upper is None else np.asarray(upper, dtype=np.float32)
    usable = np.isfinite(full).all(axis=1) & (data.size_px >= p.min_face_px)
    is_user = data.user_person >= 0
    linker = may_link(data, usable, p)
    t0 = time.perf_counter()
    # far edges propose no merge and sway no join; dropped while searching
    max_dist = max(p.threshold, p.attach_threshold) + _CANDIDATE_SLACK
    src, dst, dist, (full_scale, collapse) = edge_list(
        full,
        upper,
        int(p.n_neighbors),
        p.upper_margin,
        usable,
        p.upper_weight,
        int(p.density_k),
        max_dist,
        on_full_chunk=data.on_neighbours,
    )
    if data.on_step is not None:
        data.on_step("graph", time.perf_counter() - t0)
    cannot = cannot_link_pairs(data)
    core = linker[src] & linker[dst] & (dist <= p.threshold + _CANDIDATE_SLACK)
    # an upper view flattened by its occluder: glasses, even where the eyes score missed them
    cover = covered_faces(data) | (collapse >= p.glasses_collapse)
    upper_points = None if upper is None else np.where((collapse <= _UPPER_COLLAPSE)[:, None], upper, np.nan)

    def link(start: NDArray[np.int64], offset: NDArray[np.float64] | None = None) -> NDArray[np.int64]:
        return average_linkage(
            start, src[core], dst[core], cannot, data.user_person, p.threshold, full, p.max_rms, upper_points,
            p.upper_rms_margin, full_scale > _FULL_COLLAPSE, cover, p.cover_bonus, p.cover_penalty, offset,
        )  # fmt: skip

    labels = link(must_link_labels(data.user_person))
    if p.density_weight > 0:
        # the bar rises where few other clusters are near: a second round from the first one's clusters
        labels = link(labels, density_offset(labels, src, dst, dist, p) if offset is None else offset)
    labels = _split_loose_pairs(labels, full, is_user, _named_person(data), cover, p)
    sizes = np.bincount(labels, minlength=n)
    owned = np.zeros(labels.max() + 1, dtype=bool)
    owned[labels[is_user]] = True
    kept = (sizes[labels] >= p.min_cluster_size) | owned[labels]
    labels = np.where(kept & (usable | is_user), labels, -1)
    u, v, d = np.r_[src, dst], np.r_[dst, src], np.r_[dist, dist]
    # a clear face alone joins within its own bar, as it would have linked
    clusters = np.where(labels >= 0, labels, n + np.arange(n))  # a face alone is a cluster of its own
    bar = p.threshold + (density_offset(clusters, src, dst, dist, p) if p.density_weight > 0 else 0.0)

    def join_step(current: NDArray[np.int64], rows: NDArray[np.bool_]) -> NDArray[np.int64]:
        keep = rows[u]
        return join(current, u[keep], v[keep], d[keep], cannot, full, linker, bar, cover, p)[0]

    # faces that may not link, and faces still alone, may join a cluster
    labels = join_step(labels, usable & (labels < 0))
    # a face that may not link may also pair with a clear face alone (a person
    # with one clear photo); such faces still never link each other
    alone = np.flatnonzero(linker & (labels < 0))
    solo = labels.copy()
    solo[alone] = labels.max() + 1 + np.arange(alone.size)
    late = usable & ~linker & (labels < 0)
    solo = join_step(solo, late)
    paired = alone[np.bincount(solo[solo >= 0])[solo[alone]] >= 2]
    labels[paired] = solo[paired]
    labels[late] = np.where(np.isin(solo[late], solo[paired]), solo[late], labels[late])
    _, labels_c = np.unique(labels, return_inverse=True)
    labels = np.where(labels >= 0, labels_c - (labels.min() < 0), -1).astype(np.int64)
    conf = label_confidence(labels, src, dst, dist, is_user, p.attach_threshold)
    return Grouping(labels=labels, confidence=conf)


def density_offset(
    labels: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    dist: NDArray[np.float32],
    p: AverageLinkageParams,
) -> NDArray[np.float64]:
    """Each face's bar offset (:func:`bar_offset`) from the other clusters among its graph neighbours."""
    near = dist <= p.density_radius
    u = np.r_[src[near], dst[near]]
    v = np.r_[dst[near], src[near]]
    return bar_offset(u, labels[v], labels[u] != labels[v], labels.size, p)


def bar_offset(
    rows: NDArray[np.int64],
    clusters: NDArray[np.int64],
    other: NDArray[np.bool_],
    n: int,
    p: AverageLinkageParams,
) -> NDArray[np.float64]:
    """How far each face's linking bar rises above ``threshold``: the density of strangers around it.

    ``rows[i]`` has a neighbour within ``density_radius`` in cluster
    ``clusters[i]`` (``other[i]``: not its own cluster). A face with no other
    cluster near it (a person in a small album, or one seen many times) gets
    ``density_weight`` more; one with ``density_max`` or more other clusters
    near it (a crowded archive) gets nothing. A cluster's bar is the mean over
    its faces.

    Returns:
        ``float64 (n,)``.
    """
    keys = distinct(rows[other].astype(np.int64) * (int(clusters.max(initial=0)) + 1) + clusters[other])
    m = np.bincount(keys // (int(clusters.max(initial=0)) + 1), minlength=n)
    return p.density_weight * (1.0 - np.minimum(m, p.density_max) / p.density_max)


def _split_loose_pairs(
    labels: NDArray[np.int64],
    full: NDArray[np.float32],
    is_user: NDArray[np.bool_],
    named: NDArray[np.int64],
    cover: NDArray[np.bool_],
    p: AverageLinkageParams,
) -> NDArray[np.int64]:
    """Undo the clusters of exactly two faces further apart than ``pair_threshold``.

    A cluster of two rests on one distance; a bigger cluster's root mean square
    averages several, so one chance resemblance moves it less. Near the
    linking ``threshold`` two faces alone are as often strangers as one
    person (dlib bench study: 57 stranger pairs against 43 true ones between
    0.525 and 0.55). With MobileFaceNet, 0.45 (0.07 under the bar) holds
    best as strangers get denser: on the whole of lfw-dev it gains 0.010
    BCubed F on clean faces and 0.015 under masks over 0.5. Covers count as
    in merges (:func:`cover_limit` of the two faces); clusters holding a
    user's decision stay, and so do two faces of one person the user named
    (``named``: the named previous person per face, ``-1`` for none). The two faces may
    still join a bigger cluster or a blurred face.
    """
    n = labels.size
    sizes = np.bincount(labels[labels >= 0])
    owned = np.zeros(sizes.size, dtype=bool)
    owned[labels[is_user & (labels >= 0)]] = True
    two = np.flatnonzero((sizes == 2) & ~owned)
    if two.size == 0:
        return labels
    order = np.argsort(labels, kind="stable")
    first = np.searchsorted(labels[order], two)
    a, b = order[first], order[first + 1]
    bar = cover_limit(p.pair_threshold, cover[a], cover[b], p.cover_bonus, p.cover_penalty)
    loose = np.linalg.norm(full[a] - full[b], axis=1) > bar
    loose &= (named[a] < 0) | (named[a] != named[b])
    out = labels.copy()
    start = max(n, sizes.size)
    free = np.arange(start, start + 2 * int(loose.sum()))  # one new cluster each
    out[np.r_[a[loose], b[loose]]] = free
    return out


def _named_person(data: GroupingInput) -> NDArray[np.int64]:
    """``int64 (n,)``: each face's previous person where the user named it, else ``-1``."""
    prev = np.asarray(data.previous_person, dtype=np.int64)
    if not data.named_people:
        return np.full(prev.shape, -1, dtype=np.int64)
    named = np.isin(prev, np.fromiter(data.named_people, dtype=np.int64))
    return np.where(named, prev, -1)


def may_link(data: GroupingInput, usable: NDArray[np.bool_], p: AverageLinkageParams) -> NDArray[np.bool_]:
    """``bool (n,)``: usable faces clear enough to link two faces or clusters.

    Poor is relative to the collection: a face may link unless its quality
    is under ``min_link_quality`` *and* no better than the poorest
    ``poor_share`` of the usable faces (a scanned album or a folder of
    thumbnails, where every face is small or soft, still clusters; not where
    that share scores 0, taken for non-faces); and no mask or hand over the
    lower half or one side (occlusion score under :data:`COVERED`, where
    known). Other faces may join a person, never link.
    """
    q = np.asarray(data.quality, dtype=np.float64)
    poorest = float(np.quantile(q[usable], p.poor_share)) if usable.any() else 0.0
    # no relief where the poorest share scores 0: those are what the analysis
    # takes for non-faces, and a collection of them is not a soft album
    relieved = (q > poorest) & (poorest > 0)
    linker = usable & ((q >= p.min_link_quality) | relieved)
    if data.occlusion is not None:
        linker &= np.asarray(data.occlusion)[:, [0, 2]].max(axis=1) < COVERED
    return linker


def covered_faces(data: GroupingInput) -> NDArray[np.bool_]:
    """``bool (n,)``: faces with any occlusion score of :data:`COVERED` or more (none where unknown)."""
    if data.occlusion is None:
        return np.zeros(data.n_faces, dtype=bool)
    return np.asarray(data.occlusion).max(axis=1) >= COVERED
