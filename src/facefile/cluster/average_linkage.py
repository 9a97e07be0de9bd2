"""The default clusterer: constrained average linkage whose bar follows the density of strangers.

1. Faces smaller than ``min_face_px`` or without a descriptor stay ``-1``.
2. A kNN graph joins each face to its ``n_neighbors`` nearest in the "full"
   view and in the "upper" view (lower half of the chip greyed out); an
   edge's distance is ``min(mix, upper + upper_margin)`` (:mod:`.graph`), so
   a masked face is still recognised by what shows.
3. Faces that may link (:func:`may_link`: not among the collection's poorest,
   no mask or hand over the lower face) are agglomerated under the user's
   decisions and the photo rule (:mod:`.agglomerate`): two groups merge
   while the exact root mean square full-view distance over all their pairs
   is within their bar (for a group holding a masked face, the upper view's
   plus ``upper_rms_margin`` may stand in). The bar is ``threshold`` plus the
   mean of each face's :func:`bar_offset`: up to ``density_weight`` more
   where few other groups lie near a face (a small album, a person seen
   often), nothing where ``density_max`` or more do (a crowded archive).
   Covers (masks, dark glasses) move the bar by :func:`.agglomerate.cover_limit`.
   A group of exactly two faces needs them within ``pair_threshold``.
4. Groups smaller than ``min_cluster_size`` are undone; each face still alone
   then joins the group nearest it by the one join rule (:func:`.graph.join`,
   shared with the incremental placement), and a face that may not link may
   pair with a clear face left alone.

Every rule here was measured on the mean over real collections (BENCHMARKS.md,
"One default across collections"); rules that did not pay were removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.agglomerate import average_linkage, cover_limit, distinct
from facefile.cluster.base import Grouping, GroupingInput
from facefile.cluster.constraints import cannot_link_pairs, must_link_labels
from facefile.cluster.graph import _directed, edge_list, join, label_confidence
from facefile.errors import ConfigError

_CANDIDATE_SLACK = 0.15
"""With exact linkage, graph edges longer than ``threshold`` + this propose nothing."""
_UPPER_COLLAPSE = 1.1
"""Faces whose upper view collapsed past this stretch are judged by the full view only."""
_LOWER_OCCLUDED = 1.0
"""Faces whose full view is stretched at all (likely masked) unlock the upper-view rule."""
COVERED = 0.5
"""Occlusion score from which a face counts as covered (1% of clean faces reach it)."""


@dataclass(frozen=True)
class AverageLinkageParams:
    """Settings of :class:`AverageLinkageClusterer` (units: descriptor distance).

    Distances are between stored vectors; each model's vectors are scaled so
    that a distance means the same share of strangers (see
    ``facefile.embed.onnx_face.ARCFACE_DISTANCE_SCALE``). ``threshold`` and
    the ``density_*`` settings were chosen on MobileFaceNet by the mean BCubed
    F over lfw-dev (a seeded 2,000-photo subset and the whole), celeb17 and
    rmfrd-dev, and checked with rmfrd-dev held out (BENCHMARKS.md).
    """

    threshold: float = 0.5
    upper_margin: float = 0.08
    upper_weight: float = 0.4
    density_k: int = 10
    max_rms: float = 0.65
    upper_rms_margin: float = 0.1
    n_neighbors: int = 30
    min_face_px: float = 16.0
    min_link_quality: float = 0.3
    attach_threshold: float = 0.52
    attach_margin: float = 0.02
    min_cluster_size: int = 2
    cover_bonus: float = 0.04
    pair_threshold: float = 0.45
    glasses_collapse: float = 1.08
    cover_penalty: float = 0.04
    poor_share: float = 0.25
    density_weight: float = 0.1
    density_max: float = 10.0
    density_radius: float = 0.67

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value and its range."""
        defaults = AverageLinkageParams()
        for name, (lo, hi, integer) in _RANGES.items():
            value = getattr(self, name)
            if not lo <= value <= hi or (integer and int(value) != value):
                kind = "an integer" if integer else "a value"
                raise ConfigError(
                    f"Clusterer setting {name}={value!r} is out of range; use {kind} in [{lo}, {hi}] "
                    f"(default {getattr(defaults, name)!r})."
                )


_RANGES: dict[str, tuple[float, float, bool]] = {
    "threshold": (0.01, 1.99, False),
    "attach_threshold": (0.01, 1.99, False),
    "pair_threshold": (0.01, 1.99, False),
    "upper_margin": (0.0, np.inf, False),
    "upper_weight": (0.0, 1.0, False),
    "density_k": (0, 100, True),
    "max_rms": (1e-9, np.inf, False),
    "upper_rms_margin": (1e-9, np.inf, False),
    "cover_bonus": (0.0, 0.49, False),
    "cover_penalty": (0.0, 0.49, False),
    "attach_margin": (0.0, 0.99, False),
    "n_neighbors": (1, 1000, True),
    "min_face_px": (0.0, np.inf, False),
    "min_link_quality": (0.0, 1.0, False),
    "poor_share": (0.0, 1.0, False),
    "min_cluster_size": (1, 1e9, True),
    "density_weight": (0.0, 0.3, False),
    "density_max": (1, 1000, True),
    "density_radius": (0.0, 1.99, False),
    "glasses_collapse": (1.0, np.inf, False),
}
"""Each setting's allowed range (inclusive) and whether it is a whole number."""


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
    """Constrained two-view average linkage; see the module docstring.

    Settings (keyword arguments, :class:`AverageLinkageParams`; distances in
    descriptor units): ``threshold`` the base linking bar; ``density_weight``,
    ``density_max``, ``density_radius`` how the bar rises where strangers are
    few (:func:`bar_offset`); ``attach_threshold``, ``attach_margin`` the
    join rule; ``pair_threshold`` the bar of a group of two;
    ``cover_bonus``, ``cover_penalty`` the cover terms; ``max_rms`` no merge
    or join beyond it; ``upper_margin``, ``upper_weight``,
    ``upper_rms_margin`` the upper view's say; ``density_k`` neighbours that
    measure a view's collapse (``glasses_collapse``: from it a face counts
    as covered); ``n_neighbors`` the graph's; ``min_face_px``,
    ``min_link_quality``, ``poor_share`` which faces may link;
    ``min_cluster_size`` the smallest group kept.
    """

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
    src, dst, dist, (full_scale, collapse) = edge_list(
        full,
        upper,
        int(p.n_neighbors),
        p.upper_margin,
        usable,
        p.upper_weight,
        int(p.density_k),
        # far edges propose no merge and sway no join; dropped while searching
        max_dist=max(p.threshold, p.attach_threshold) + _CANDIDATE_SLACK,
        on_full_chunk=data.on_neighbours,
    )
    if data.on_step is not None:
        data.on_step("graph", time.perf_counter() - t0)
    cannot = cannot_link_pairs(data)
    init = must_link_labels(data.user_person)
    core = linker[src] & linker[dst] & (dist <= p.threshold + _CANDIDATE_SLACK)
    cover = covered_faces(data)
    # an upper view flattened by its occluder: glasses, even where the eyes score missed them
    glassed = collapse >= p.glasses_collapse
    if glassed.any():
        cover = glassed if cover is None else cover | glassed
    upper_points = None if upper is None else np.where((collapse <= _UPPER_COLLAPSE)[:, None], upper, np.nan)

    def link(start: NDArray[np.int64], offset: NDArray[np.float64] | None = None) -> NDArray[np.int64]:
        return average_linkage(
            start, src[core], dst[core], dist[core], cannot, data.user_person, p.threshold, points=full,
            max_rms=p.max_rms, exact=True, upper_points=upper_points,
            upper_margin=p.upper_rms_margin, upper_gate=full_scale > _LOWER_OCCLUDED, cover=cover,
            cover_bonus=p.cover_bonus, cover_penalty=p.cover_penalty, offset=offset,
        )  # fmt: skip

    labels = link(init)
    if p.density_weight > 0:
        # the bar rises where few other groups are near: a second round from the first one's groups
        labels = link(labels, density_offset(labels, src, dst, dist, p) if offset is None else offset)
    labels = _split_loose_pairs(labels, full, is_user, _named_person(data), cover, p)
    sizes = np.bincount(labels, minlength=n)
    owned = np.zeros(labels.max() + 1, dtype=bool)
    owned[labels[is_user]] = True
    kept = (sizes[labels] >= p.min_cluster_size) | owned[labels]
    labels = np.where(kept & (usable | is_user), labels, -1)
    u, v, d = _directed(src, dst, dist)
    # a clear face alone joins within its own bar, as it would have linked
    groups = np.where(labels >= 0, labels, n + np.arange(n))  # a face alone is a group of its own
    bar = p.threshold + (density_offset(groups, src, dst, dist, p) if p.density_weight > 0 else 0.0)

    def join_step(current: NDArray[np.int64], rows: NDArray[np.bool_]) -> NDArray[np.int64]:
        keep = rows[u]
        return join(
            current, u[keep], v[keep], d[keep], cannot, p.attach_threshold, p.attach_margin, full, p.max_rms,
            linker, bar, cover, p.cover_bonus, p.cover_penalty,
        )[0]  # fmt: skip

    # faces that may not link, and faces still alone, may join a group
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
    """Each face's bar offset (:func:`bar_offset`) from the other groups among its graph neighbours."""
    near = dist <= p.density_radius
    u = np.r_[src[near], dst[near]]
    v = np.r_[dst[near], src[near]]
    return bar_offset(u, labels[v], labels[u] != labels[v], labels.size, p)


def bar_offset(
    rows: NDArray[np.int64],
    groups: NDArray[np.int64],
    other: NDArray[np.bool_],
    n: int,
    p: AverageLinkageParams,
) -> NDArray[np.float64]:
    """How far each face's linking bar rises above ``threshold``: the density of strangers around it.

    ``rows[i]`` has a neighbour within ``density_radius`` in group
    ``groups[i]`` (``other[i]``: not its own group). A face with no other
    group near it (a person in a small album, or one seen many times) gets
    ``density_weight`` more; one with ``density_max`` or more other groups
    near it (a crowded archive) gets nothing. A group's bar is the mean over
    its faces.

    Returns:
        ``float64 (n,)``.
    """
    keys = distinct(rows[other].astype(np.int64) * (int(groups.max(initial=0)) + 1) + groups[other])
    m = np.bincount(keys // (int(groups.max(initial=0)) + 1), minlength=n)
    return p.density_weight * (1.0 - np.minimum(m, p.density_max) / p.density_max)


def _split_loose_pairs(
    labels: NDArray[np.int64],
    full: NDArray[np.float32],
    is_user: NDArray[np.bool_],
    named: NDArray[np.int64],
    cover: NDArray[np.bool_] | None,
    p: AverageLinkageParams,
) -> NDArray[np.int64]:
    """Undo the groups of exactly two faces further apart than ``pair_threshold``.

    A group of two rests on one distance; a bigger group's root mean square
    averages several, so one chance resemblance moves it less. Near the
    linking ``threshold`` two faces alone are as often strangers as one
    person (dlib bench study: 57 stranger pairs against 43 true ones between
    0.525 and 0.55). With MobileFaceNet, 0.45 (0.07 under the bar) holds
    best as strangers get denser: on the whole of lfw-dev it gains 0.010
    BCubed F on clean faces and 0.015 under masks over 0.5. Covers count as
    in merges (:func:`cover_limit` of the two faces); groups holding a
    user's decision stay, and so do two faces of one person the user named
    (``named``: the named previous person per face, ``-1`` for none). The two faces may
    still join a bigger group or a blurred face.
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
    bar: NDArray[np.float64] | float = p.pair_threshold
    if cover is not None:
        bar = cover_limit(p.pair_threshold, cover[a], cover[b], p.cover_bonus, p.cover_penalty)
    loose = np.linalg.norm(full[a] - full[b], axis=1) > bar
    loose &= (named[a] < 0) | (named[a] != named[b])
    out = labels.copy()
    start = max(n, sizes.size)
    free = np.arange(start, start + 2 * int(loose.sum()))  # one new group each
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
    """``bool (n,)``: usable faces clear enough to link two faces or groups.

    Poor is relative to the collection: a face may link unless its quality
    is under ``min_link_quality`` *and* no better than the poorest
    ``poor_share`` of the usable faces (a scanned album or a folder of
    thumbnails, where every face is small or soft, still groups; not where
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


def covered_faces(data: GroupingInput) -> NDArray[np.bool_] | None:
    """``bool (n,)``: faces with any occlusion score of :data:`COVERED` or more; ``None`` if unknown."""
    return None if data.occlusion is None else np.asarray(data.occlusion).max(axis=1) >= COVERED
