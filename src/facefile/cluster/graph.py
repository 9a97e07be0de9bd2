"""The two-view face graph and what is read off it: joining and confidence."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from facefile.cluster.agglomerate import ViewSums, cover_limit, distinct
from facefile.cluster.knn import knn_edges

if TYPE_CHECKING:
    from facefile.cluster.average_linkage import AverageLinkageParams

_EDGE_CHUNK = 262_144
_SCALE_SLACK = 1.05
"""Stretch only beyond 5% from the median, where clean faces are not."""
_CLEAN_RATIO = 0.85
"""Floor of the reference ``rho_upper / rho_full`` for upper-view collapse, for
when occluded faces are so many that they pull the median down. Set on
dlib's descriptor, whose clean LFW faces measure 0.85-0.88; MobileFaceNet's
(the default model) measure about 0.95 (median of 200 clean lfw-dev faces,
seed 1; quartiles 0.91-0.99), so with it the floor binds only when most
faces are occluded."""
JOIN_RATIO = 1.0
"""Joiners a cluster may take per member it has."""
_CONF_SCALE = 0.04
"""Distance over which confidence moves from about 0.27 to 0.73."""


def pair_distance(
    full: NDArray[np.float32],
    upper: NDArray[np.float32] | None,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    upper_margin: float,
    upper_weight: float = 0.0,
    scales: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None,
    chunk: int = _EDGE_CHUNK,
) -> NDArray[np.float32]:
    """Two-view distance for row pairs: ``min(mix, upper + upper_margin)``.

    ``mix = (1 - w) * full + w * upper``, ``w`` being ``upper_weight`` shrunk
    by ``stretch ** 2`` where either face's upper view collapsed
    (``scales``, :func:`view_scales`; each view's distance is stretched by
    it). Pairs without an upper view (NaN rows) use ``full``. Pairs are
    taken ``chunk`` at a time to bound memory. Returns ``float32 (e,)``.
    """
    out = np.empty(a.size, dtype=np.float32)
    for s in range(0, a.size, chunk):
        ia, ib = a[s : s + chunk], b[s : s + chunk]
        d = np.linalg.norm(full[ia] - full[ib], axis=1)
        w = upper_weight
        if scales is not None:
            d *= np.sqrt(scales[0][ia] * scales[0][ib])
        if upper is not None:
            du = np.linalg.norm(upper[ia] - upper[ib], axis=1)
            if scales is not None:
                stretch = scales[1][ia] * scales[1][ib]
                du *= np.sqrt(stretch)
                w = upper_weight / stretch**2  # a collapsed view loses its say
            mix = (1.0 - w) * d + w * du
            d = np.where(np.isnan(du), d, np.minimum(mix, du + upper_margin))
        out[s : s + chunk] = d
    return out


def view_scales(
    rho_full: NDArray[np.float32], rho_upper: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Stretch factors ``(full_scale, upper_scale)``, ``>= 1``, that undo a view's collapse.

    An occluder, not the person, then decides the descriptor: dark glasses
    make every upper view alike, masks every full view, so such faces sit
    unusually close to their neighbours in that view. ``r = rho_upper /
    rho_full`` (mean distance to the nearest neighbours in each view) is
    about the same for every clean face; faces more than 5% under
    ``max(median, 0.85)`` get their upper distances stretched by the
    shortfall, faces more than 5% over the median their full distances by
    the excess. Fewer than 20 known ratios: no stretch.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a face with no neighbours: NaN, left out
        r = rho_upper / rho_full
    ok = np.isfinite(r) & (r > 0)
    ones = np.ones(r.shape, dtype=np.float32)
    if ok.sum() < 20:  # too few faces to know what normal is
        return ones, ones
    # the median, floored at _CLEAN_RATIO for the upper view: occluded faces
    # may be half of a collection and pull the median down
    med = float(np.median(r[ok]))
    lo = med
    hi = max(med, _CLEAN_RATIO)
    safe = np.where(ok, r, hi)
    upper_scale = np.maximum(hi / (safe * _SCALE_SLACK), 1.0)
    full_scale = np.maximum(safe / (lo * _SCALE_SLACK), 1.0)
    return full_scale.astype(np.float32), upper_scale.astype(np.float32)


def edge_list(
    full: NDArray[np.float32],
    upper: NDArray[np.float32] | None,
    k: int,
    upper_margin: float,
    usable: NDArray[np.bool_],
    upper_weight: float = 0.0,
    density_k: int = 0,
    max_dist: float = np.inf,
    on_full_chunk: Callable[[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]], None] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
    """Undirected kNN edges over both views, each pair once, ``src < dst``.

    Each usable row is joined to its ``k`` nearest in each view; an edge's
    distance is :func:`pair_distance`. ``max_dist`` is applied while
    searching, so memory follows the kept edges, not ``n * k``.
    ``density_k`` neighbours measure each view's density for
    :func:`view_scales` (0: no stretch). ``on_full_chunk`` hears the full
    view's search (:func:`knn_edges`' ``on_chunk``).

    Returns:
        ``(src, dst, dist, (full_scale, upper_scale))``.
    """
    n = full.shape[0]
    pairs = []
    rho = []
    for view in (full, upper):
        if view is None:
            continue
        x = view if usable.all() else np.where(usable[:, None], view, np.float32(np.nan))
        a, b, _, r = knn_edges(
            x, k, max_dist, density_k=density_k, on_chunk=on_full_chunk if view is full else None
        )
        del x
        if density_k:
            rho.append(r)
        lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
        del a, b
        pairs.append(distinct(lo * n + hi))
        del lo, hi
    keys = distinct(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    del pairs
    src, dst = keys // n, keys % n
    del keys
    ones = np.ones(n, dtype=np.float32)
    scales = view_scales(rho[0], rho[1]) if len(rho) == 2 else (ones, ones)
    dist = pair_distance(full, upper, src, dst, upper_margin, upper_weight, scales)
    if np.isfinite(max_dist):
        keep = dist <= max_dist
        src, dst, dist = src[keep], dst[keep], dist[keep]
    return src, dst, dist, scales


def _cluster_means(
    rows: NDArray[np.int64], labs: NDArray[np.int64], d: NDArray[np.float32], n_labels: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Mean distance from each row to each cluster it has edges to."""
    keys = rows * (n_labels + 1) + labs
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=d, minlength=uniq.size)
    counts = np.bincount(inverse, minlength=uniq.size)
    return uniq // (n_labels + 1), uniq % (n_labels + 1), sums / counts


def join(
    labels: NDArray[np.int64],
    u: NDArray[np.int64],
    v: NDArray[np.int64],
    d: NDArray[np.float32],
    cannot: NDArray[np.int64],
    points: NDArray[np.float32],
    clear: NDArray[np.bool_],
    link_threshold: float | NDArray[np.float64],
    cover: NDArray[np.bool_],
    p: AverageLinkageParams,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The one join rule: each face alone joins the cluster nearest it, judged by the clusters as they were.

    Used by the full grouping (faces that may not link, and faces still
    alone) and by the incremental placement (new faces), so both place a
    face alike. Face ``u[i]`` (label ``-1``) looks at cluster ``labels[v[i]]``
    at distance ``d[i]``; it joins the cluster with the least mean distance
    when that mean is within ``p.attach_threshold`` (with the cover terms
    of :func:`join_limit`), beats the next cluster by ``p.attach_margin``,
    its root mean square distance to all the cluster's ``points`` is within
    ``p.max_rms`` (and, for a ``clear`` face, one that could have linked,
    within its own ``link_threshold`` with the cover terms: the looser mean
    rule is for faces that may not link), and no ``cannot`` pair forbids it.
    Only faces labelled before the call count as members, so joiners never
    pull each other in; a cluster takes at most :data:`JOIN_RATIO` joiners per
    member.

    Returns:
        ``(labels, own, other)``: the new labels, and per row the mean
        distance to the chosen (or nearest) cluster and to the next one
        (``inf`` where none), for :func:`confidence`.
    """
    n = labels.size
    out = labels.copy()
    own, other = np.full(n, np.inf), np.full(n, np.inf)
    sel = (labels[u] < 0) & (labels[v] >= 0)
    if not sel.any():
        return out, own, other
    n_labels = int(labels.max()) + 1
    rows, labs, means = _cluster_means(u[sel], labels[v[sel]], d[sel], n_labels)
    order = np.lexsort((means, rows))
    rows, labs, means = rows[order], labs[order], means[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    has_second = np.r_[first[1:], rows.size] > first + 1
    second = np.where(has_second, means[np.minimum(first + 1, rows.size - 1)], np.inf)
    own[rows[first]], other[rows[first]] = means[first], second
    limit = join_limit(p.attach_threshold, cover, labels, rows[first], labs[first], p)
    cand = first[(means[first] <= limit) & (second - means[first] >= p.attach_margin)]
    if cand.size:
        bar = np.full(cand.size, p.max_rms, dtype=np.float64)
        link_bar = join_limit(
            np.broadcast_to(link_threshold, (n,))[rows[cand]], cover, labels, rows[cand], labs[cand], p
        )
        bar = np.where(clear[rows[cand]], np.minimum(bar, link_bar), bar)
        cand = cand[rms_to_cluster(points, labels, rows[cand], labs[cand]) <= bar]
    cand = cand[np.argsort(means[cand], kind="stable")]
    partners = _partner_lists(cannot, n)
    # a cluster takes at most as many joiners as it has members, so a seed of
    # two look-alikes cannot swallow a crowd of covered strangers
    room = np.bincount(labels[labels >= 0], minlength=n_labels).astype(np.float64) * JOIN_RATIO
    for i in cand:
        row, lab = int(rows[i]), int(labs[i])
        if room[lab] >= 1 and not np.any(out[partners.get(row, _EMPTY)] == lab):
            out[row] = lab
            room[lab] -= 1
    return out, own, other


_EMPTY = np.zeros(0, dtype=np.int64)


def join_limit(
    threshold: float | NDArray[np.float64],
    cover: NDArray[np.bool_],
    labels: NDArray[np.int64],
    rows: NDArray[np.int64],
    labs: NDArray[np.int64],
    p: AverageLinkageParams,
) -> NDArray[np.float64]:
    """The mean distance up to which face ``rows[i]`` may join cluster ``labs[i]``.

    :func:`~facefile.cluster.agglomerate.cover_limit` of the face (covered or
    not) and the cluster's covered share among its members (``labels >= 0``).
    """
    member = labels >= 0
    n = int(max(labels.max(initial=-1), labs.max(initial=-1))) + 1
    size = np.bincount(labels[member], minlength=n)
    share = np.bincount(labels[member], weights=cover[member].astype(np.float64), minlength=n)
    share /= np.maximum(size, 1)
    return cover_limit(threshold, cover[rows].astype(np.float64), share[labs], p.cover_bonus, p.cover_penalty)


def rms_to_cluster(
    points: NDArray[np.float32], labels: NDArray[np.int64], rows: NDArray[np.int64], labs: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Root mean square distance from each ``rows[i]`` to all members of ``labs[i]``.

    The merge rounds' exact RMS, reading only the members of the clusters in
    ``labs``; NaN where a side has no finite point.
    """
    wanted = np.unique(labs)
    member = np.flatnonzero(np.isin(labels, wanted))
    group_of = np.r_[np.searchsorted(wanted, labels[member]), wanted.size + np.arange(rows.size)]
    sums = ViewSums(np.concatenate([points[member], points[rows]]), group_of, wanted.size + rows.size)
    return sums.rms(np.searchsorted(wanted, labs), wanted.size + np.arange(rows.size))


def _partner_lists(cannot: NDArray[np.int64], n: int) -> dict[int, NDArray[np.int64]]:
    if cannot.size == 0:
        return {}
    a, b = np.r_[cannot[:, 0], cannot[:, 1]], np.r_[cannot[:, 1], cannot[:, 0]]
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    return dict(zip(a[starts].tolist(), np.split(b, starts[1:]), strict=True))


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def confidence(own: NDArray[np.float64], other: NDArray[np.float64], threshold: float) -> NDArray[np.float64]:
    """How sure a face's cluster is, from its mean distance to it (``own``) and to the next (``other``).

    Sure when ``own`` is well under ``threshold`` and well under ``other``;
    the one formula for the full grouping and the incremental placement.
    """
    other = np.minimum(other, threshold + 4 * _CONF_SCALE)
    return _sigmoid((other - own) / _CONF_SCALE) * _sigmoid((threshold + _CONF_SCALE - own) / _CONF_SCALE)


def label_confidence(
    labels: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    dist: NDArray[np.float32],
    is_user: NDArray[np.bool_],
    threshold: float,
) -> NDArray[np.float32]:
    """How sure each label is, in ``[0, 1]``: :func:`confidence` from each face's
    mean distance to its own cluster and to the next; a face alone is sure
    when even its nearest face is far; user-placed faces are certain.
    """
    n = labels.size
    own = np.full(n, np.nan)
    other = np.full(n, np.inf)
    nearest = np.full(n, np.inf)
    if src.size:
        u, v, d = np.r_[src, dst], np.r_[dst, src], np.r_[dist, dist]
        np.minimum.at(nearest, u, d)
        sel = labels[v] >= 0
        n_labels = int(max(labels.max(), 0)) + 1
        rows, labs, means = _cluster_means(u[sel], labels[v[sel]], d[sel], n_labels)
        is_own = labs == labels[rows]
        own[rows[is_own]] = means[is_own]
        np.minimum.at(other, rows[~is_own], means[~is_own])
    conf = confidence(np.where(np.isnan(own), threshold, own), other, threshold)
    alone = _sigmoid((np.minimum(nearest, 2.0) - threshold) / _CONF_SCALE)
    conf = np.where(labels >= 0, conf, alone)
    conf = np.where(is_user & (labels >= 0), 1.0, conf)
    return np.clip(conf, 0.0, 1.0).astype(np.float32)
