"""The default clusterer: constrained average linkage on a two-view kNN graph.

1. Faces smaller than ``min_face_px`` or without a descriptor stay ``-1``.
2. A kNN graph joins each face to its ``n_neighbors`` nearest faces in the
   "full" view and, where present, in the "upper" view (lower half of the chip
   greyed out). An edge's distance is ``min(mix, upper + upper_margin)`` with
   ``mix = (1 - upper_weight) * full + upper_weight * upper``: a masked face
   is still recognised by the part of the face that shows. A view that an
   occluder has collapsed (dark glasses make all upper views alike) is found
   by its density relative to the other view and stretched, and loses its
   weight (:func:`facefile.cluster.graph.view_scales`, ``density_k``).
3. Faces of at least ``min_link_quality``, and without a mask or a hand
   over their lower half or one side (occlusion score under 0.5, where the
   library knows it), are agglomerated under the constraints
   (:mod:`facefile.cluster.agglomerate`): the graph proposes neighbouring
   clusters, and a pair merges while the exact root mean square full-view
   distance over all its face pairs is at most ``threshold``
   (``exact_linkage``; otherwise the mean two-view distance of the graph
   edges between them). Where either cluster holds a face whose full view
   looks occluded (a mask), the exact RMS upper-view distance plus
   ``upper_rms_margin`` may stand in for the full-view one. Low-quality
   faces are left out of this step, so they can never link two people.
   A cover (dark glasses, a mask) moves every descriptor of a person the
   same way, so a person's covered faces gather in a group of their own,
   just beyond ``threshold`` from the uncovered ones. A face counts as
   covered from an occlusion score of 0.5 (``GroupingInput.occlusion``,
   where the library knows it) or when its upper view collapsed by
   ``glasses_collapse`` (glasses the eyes score missed). Two groups may
   merge up to ``threshold + cover_bonus * |c_a - c_b| - cover_penalty *
   min(c_a, c_b)``, ``c`` being each group's covered share: a covered
   group meets an uncovered one with the full allowance, and two covered
   groups must be a little closer (the same cover makes strangers look
   alike). A group of exactly two faces needs them within
   ``pair_threshold`` of each other (with the same cover terms): one
   distance is weaker evidence than a group's mean.
4. Each low-quality face, and each face still alone, then joins the cluster
   whose members it is closest to on average, if that mean distance is at
   most ``attach_threshold``, it beats the next cluster by ``attach_margin``
   and no constraint forbids it. A joiner that looks masked may be judged by
   its upper view (``join_by_view``). A clear face still alone (one that
   may link) must also be within the linking bar of the whole cluster (root
   mean square full-view distance at most ``threshold``, plus the cover
   allowance): the looser mean rule is for faces that may not link, and
   let in faces of people seen once. Low-quality faces (masked or
   half-covered faces get a low quality, :func:`facefile.analyze.quality.occlusion`)
   still left may then pair with a clean face that is alone
   (``join_singletons``). Faces still alone are ``-1``.
"""

from __future__ import annotations

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
    ``facefile.embed.onnx_face.ARCFACE_DISTANCE_SCALE``). ``threshold``,
    ``attach_threshold`` and ``min_link_quality`` were set on MobileFaceNet
    (bench subset seed 0) and checked on a held-out subset and on the whole
    of lfw-dev (BENCHMARKS.md).
    """

    threshold: float = 0.52
    upper_margin: float = 0.08
    upper_weight: float = 0.4
    density_k: int = 10
    max_rms: float = 0.65
    max_collapse: float = 1.4
    exact_linkage: bool = True
    upper_rms_margin: float = 0.1
    n_neighbors: int = 30
    min_face_px: float = 16.0
    min_link_quality: float = 0.3
    attach_threshold: float = 0.52
    attach_margin: float = 0.02
    min_cluster_size: int = 2
    join_by_view: bool = True
    join_singletons: bool = True
    cover_bonus: float = 0.04
    pair_threshold: float = 0.45
    glasses_collapse: float = 1.08
    cover_penalty: float = 0.04
    poor_share: float = 0.25
    density_weight: float = 0.0
    density_max: float = 10.0
    density_radius: float = 0.67

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value and the fix."""
        for name in ("threshold", "attach_threshold", "pair_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 2.0:
                raise ConfigError(
                    f"Clusterer setting {name}={value!r} is out of range; use a distance "
                    "in (0, 2), e.g. 0.52 (the default)."
                )
        if not self.upper_margin >= 0.0:
            raise ConfigError(
                f"Clusterer setting upper_margin={self.upper_margin!r} must be >= 0 "
                "(use a large value such as 9 to ignore the upper view)."
            )
        if not 0.0 <= self.upper_weight <= 1.0:
            raise ConfigError(
                f"Clusterer setting upper_weight={self.upper_weight!r} must be in [0, 1] "
                "(0: full view only in the mix, 0.4: the default)."
            )
        if int(self.density_k) != self.density_k or not 0 <= self.density_k <= 100:
            raise ConfigError(
                f"Clusterer setting density_k={self.density_k!r} must be an integer in [0, 100] "
                "(0 turns the view-collapse stretch off)."
            )
        for name in ("max_rms", "upper_rms_margin"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(
                    f"Clusterer setting {name}={getattr(self, name)!r} must be > 0 "
                    "(use a large value such as 9 to turn it off)."
                )
        if not self.max_collapse >= 1.0:
            raise ConfigError(
                f"Clusterer setting max_collapse={self.max_collapse!r} must be >= 1 (1.4 is the default)."
            )
        if not 0.0 <= self.cover_bonus < 0.5:
            raise ConfigError(
                f"Clusterer setting cover_bonus={self.cover_bonus!r} must be in [0, 0.5) "
                "(0 turns the covered-face allowance off; 0.04 is the default)."
            )
        if not 0.0 <= self.attach_margin < 1.0:
            raise ConfigError(f"Clusterer setting attach_margin={self.attach_margin!r} must be in [0, 1).")
        if int(self.n_neighbors) != self.n_neighbors or not 1 <= self.n_neighbors <= 1000:
            raise ConfigError(
                f"Clusterer setting n_neighbors={self.n_neighbors!r} must be an integer in "
                "[1, 1000]; 30 is the default."
            )
        if not self.min_face_px >= 0.0:
            raise ConfigError(f"Clusterer setting min_face_px={self.min_face_px!r} must be >= 0.")
        if not 0.0 <= self.min_link_quality <= 1.0:
            raise ConfigError(
                f"Clusterer setting min_link_quality={self.min_link_quality!r} must be in [0, 1]."
            )
        if int(self.min_cluster_size) != self.min_cluster_size or self.min_cluster_size < 1:
            raise ConfigError(
                f"Clusterer setting min_cluster_size={self.min_cluster_size!r} must be an integer >= 1."
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
    """Constrained two-view average linkage; see the module docstring.

    Args:
        threshold: distance under which two clusters merge (see ``exact_linkage``).
        exact_linkage: judge merges by the exact RMS full-view distance over
            all pairs (default) rather than by the graph's edges.
        max_rms: never merge or join beyond this exact RMS distance.
        max_collapse: faces whose upper view collapsed more than this only join.
        upper_rms_margin: penalty on the exact upper-view distance (masks).
        upper_margin: added to the upper-view distance before it competes
            with the mixed distance.
        upper_weight: share of the upper view in the mixed distance.
        density_k: neighbours that measure view density (0: no stretch).
        n_neighbors: graph neighbours per face and view.
        min_face_px: faces smaller than this stay ``-1``.
        min_link_quality: faces of lower quality only join, never link.
        attach_threshold: mean distance under which a face joins a cluster.
        attach_margin: how much nearer the chosen cluster must be than the next.
        join_by_view: a joining face whose full view looks masked may be
            judged by its upper view, one with collapsed upper view (dark
            glasses) by its full view (only ever shortens a distance).
        join_singletons: a low-quality face may also pair with a clean face
            that is alone (a person with one clear photo).
        min_cluster_size: smaller clusters without user faces become ``-1``.
        cover_bonus: how much farther apart (in descriptor distance) a group
            of covered faces and a group of uncovered faces may be and still
            merge (see the module docstring, step 3).
        pair_threshold: a group of exactly two faces further apart than this
            (full view, with the cover terms) is undone; its faces may still
            join a bigger group.
        glasses_collapse: a face whose upper view collapsed by this much
            (``graph.view_scales``; clean faces stay under 1.04 on the bench)
            counts as covered.
        cover_penalty: how much closer two groups that are both covered
            must be to merge (times the smaller covered share).
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
    src, dst, dist, (full_scale, collapse) = edge_list(
        full,
        upper,
        int(p.n_neighbors),
        p.upper_margin,
        usable,
        p.upper_weight,
        int(p.density_k),
        # far edges propose no merge and sway no join; dropped while searching
        max_dist=max(p.threshold, p.attach_threshold) + _CANDIDATE_SLACK if p.exact_linkage else np.inf,
    )
    cannot = cannot_link_pairs(data)
    init = must_link_labels(data.user_person)
    # a face whose upper view an occluder flattened (dark glasses) may join, not link
    linker &= collapse <= p.max_collapse
    core = linker[src] & linker[dst]
    if p.exact_linkage:
        # edges only propose candidates here; far ones never lead to a merge
        # and would hold most of the memory at a million faces
        core &= dist <= p.threshold + _CANDIDATE_SLACK
    cover = covered_faces(data)
    # an upper view flattened by its occluder: glasses, even where the eyes score missed them
    glassed = collapse >= p.glasses_collapse
    if glassed.any():
        cover = glassed if cover is None else cover | glassed
    upper_points = None if upper is None else np.where((collapse <= _UPPER_COLLAPSE)[:, None], upper, np.nan)

    def link(start: NDArray[np.int64], offset: NDArray[np.float64] | None = None) -> NDArray[np.int64]:
        return average_linkage(
            start, src[core], dst[core], dist[core], cannot, data.user_person, p.threshold, points=full,
            max_rms=p.max_rms, exact=bool(p.exact_linkage), upper_points=upper_points,
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
    # low-quality faces and faces still alone may join a cluster, one at a time
    joiners = np.flatnonzero(usable & (labels < 0))
    join_dist = dist
    if p.join_by_view and upper is not None:
        join_dist = _joiner_distance(full, upper, src, dst, dist, labels < 0, full_scale, collapse, p)

    u, v, d = _directed(src, dst, join_dist)

    def join_step(current: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.int64]:
        is_row = np.zeros(n, dtype=bool)
        is_row[rows] = True
        keep = is_row[u]
        return join(
            current, u[keep], v[keep], d[keep], cannot, p.attach_threshold, p.attach_margin, full, p.max_rms,
            linker, p.threshold, cover, p.cover_bonus, p.cover_penalty,
        )[0]  # fmt: skip

    labels = join_step(labels, joiners)
    if p.join_singletons:
        # a low-quality face may also pair with a clean face that is alone
        # (a person with one clear photo); joiners still never link each other
        alone = np.flatnonzero(linker & (labels < 0))
        solo = labels.copy()
        solo[alone] = labels.max() + 1 + np.arange(alone.size)
        late = np.flatnonzero(usable & ~linker & (labels < 0))
        solo = join_step(solo, late)
        paired = np.bincount(solo[solo >= 0])[solo[alone]] >= 2
        labels[alone[paired]] = solo[alone[paired]]
        labels[late] = np.where(np.isin(solo[late], solo[alone[paired]]), solo[late], labels[late])
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
    thumbnails, where every face is small or soft, still groups); and no
    mask or hand over the lower half or one side (occlusion score under
    :data:`COVERED`, where known). Other faces may join a person, never link.
    """
    q = np.asarray(data.quality, dtype=np.float64)
    poorest = float(np.quantile(q[usable], p.poor_share)) if usable.any() else 0.0
    linker = usable & ((q >= p.min_link_quality) | (q > poorest))
    if data.occlusion is not None:
        linker &= np.asarray(data.occlusion)[:, [0, 2]].max(axis=1) < COVERED
    return linker


def covered_faces(data: GroupingInput) -> NDArray[np.bool_] | None:
    """``bool (n,)``: faces with any occlusion score of :data:`COVERED` or more; ``None`` if unknown."""
    return None if data.occlusion is None else np.asarray(data.occlusion).max(axis=1) >= COVERED


def _joiner_distance(
    full: NDArray[np.float32],
    upper: NDArray[np.float32],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    dist: NDArray[np.float32],
    is_joiner: NDArray[np.bool_],
    full_scale: NDArray[np.float32],
    collapse: NDArray[np.float32],
    p: AverageLinkageParams,
) -> NDArray[np.float32]:
    """Edge distances for the attach step, in the view that still shows the joiner.

    A joiner whose full view looks occluded (``full_scale`` above 1: a mask
    makes all full views alike) may be judged by the upper view alone (upper
    against upper, plus ``upper_margin``); one whose upper view collapsed
    (dark glasses) by the full view alone. Each only ever shortens ``dist``;
    other edges keep it.

    Returns:
        ``float32 (e,)`` aligned with ``src``/``dst``.
    """
    out = dist.copy()
    j = np.where(is_joiner[src], src, np.where(is_joiner[dst], dst, -1))
    has = j >= 0
    if not has.any():
        return out
    e = np.flatnonzero(has)
    jj = j[e]
    masked = (full_scale[jj] > _LOWER_OCCLUDED) & (collapse[jj] <= _UPPER_COLLAPSE)
    glasses = collapse[jj] > _UPPER_COLLAPSE
    a, b = src[e], dst[e]
    d_full = np.linalg.norm(full[a] - full[b], axis=1)
    d_upper = np.linalg.norm(upper[a] - upper[b], axis=1) + p.upper_margin
    d_upper = np.where(np.isfinite(d_upper), d_upper, np.inf)
    new = np.where(masked, np.minimum(out[e], d_upper), np.where(glasses, np.minimum(out[e], d_full), out[e]))
    out[e] = new.astype(np.float32)
    return out
