"""Constrained average-linkage agglomeration on a sparse graph.

The graph proposes which clusters may merge. Two clusters are as far apart
as either the exact root mean square distance over *all* their pairs
(``exact=True``, from per-cluster sums in ``O(d)``, never an ``n x n``
matrix), or the mean distance of the graph edges between them. Each round,
every cluster finds its nearest allowed neighbour and all mutual-nearest pairs
under the threshold merge at once. For average linkage, merging reciprocal
nearest neighbours gives the same result as merging the closest pair one at a
time, but costs one vectorised pass over the edges per round instead of a
Python loop per merge, so a few million edges take seconds.

A merge is allowed when no cannot-link pair would end up inside one cluster
and the two clusters do not hold different user persons.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _aggregate(
    a: NDArray[np.int64], b: NDArray[np.int64], s: NDArray[np.float64], c: NDArray[np.float64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Sum parallel edges between the same two clusters; drop loops."""
    keep = a != b
    a, b, s, c = a[keep], b[keep], s[keep], c[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo * n + hi
    uniq, inverse = np.unique(keys, return_inverse=True)
    return (
        uniq // n,
        uniq % n,
        np.bincount(inverse, weights=s, minlength=uniq.size),
        np.bincount(inverse, weights=c, minlength=uniq.size),
    )


def _rms(sums, sq, cnt, a, b, fallback, chunk: int = 1 << 18):
    """Exact root mean square distance between clusters ``a[i]`` and ``b[i]``."""
    out = fallback.copy()
    for s0 in range(0, a.size, chunk):
        ia, ib = a[s0 : s0 + chunk], b[s0 : s0 + chunk]
        ca, cb = cnt[ia], cnt[ib]
        known = (ca > 0) & (cb > 0)
        ca, cb = np.maximum(ca, 1), np.maximum(cb, 1)
        dot = np.einsum("ij,ij->i", sums[ia].astype(np.float64), sums[ib].astype(np.float64))
        msd = sq[ia] / ca + sq[ib] / cb - 2.0 * dot / (ca * cb)
        out[s0 : s0 + chunk] = np.where(known, np.sqrt(np.maximum(msd, 0.0)), fallback[s0 : s0 + chunk])
    return out


def _pair_keys(pairs: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    if pairs.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    keys = lo[lo != hi] * n + hi[lo != hi]
    return np.unique(keys)


def average_linkage(
    init_labels: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    dist: NDArray[np.float32],
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    threshold: float,
    points: NDArray[np.float32] | None = None,
    max_rms: float = np.inf,
    exact: bool = False,
    upper_points: NDArray[np.float32] | None = None,
    upper_margin: float = np.inf,
    upper_gate: NDArray[np.bool_] | None = None,
) -> NDArray[np.int64]:
    """Merge clusters while their mean edge distance is at most ``threshold``.

    Args:
        init_labels: ``int64 (n,)`` starting cluster per row (must-link groups).
        src, dst: ``int64 (e,)`` rows joined by an edge (either direction;
            duplicates are averaged in).
        dist: ``float32 (e,)`` edge distances.
        cannot: ``int64 (m, 2)`` rows that must never share a cluster.
        owner_of_row: ``int64 (n,)`` user person per row, ``-1`` for none.
        threshold: the largest mean distance at which two clusters merge.
        points: ``float32 (n, d)`` descriptors for the exact check (NaN rows
            are left out of it); ``None`` skips the check.
        max_rms: two clusters never merge when the root mean square distance
            over *all* their pairs of ``points`` exceeds this. The graph only
            holds near pairs, so a crowd of faces that an occluder makes
            alike (everyone in dark glasses) looks like one person through
            it; the exact mean, from per-cluster sums in ``O(d)``, does not.
        exact: judge each candidate pair by that exact root mean square
            distance of ``points`` over all pairs (the graph only proposes
            candidates) instead of the mean over graph edges.
        upper_points: ``float32 (n, d)`` upper-view descriptors, NaN rows
            where a face has none or it collapsed; with ``exact``, a pair
            also merges when the exact RMS upper-view distance over its pairs
            of such faces plus ``upper_margin`` is at most ``threshold``.

    A cannot-link pair inside one person would otherwise leave that person
    in two halves that the ban keeps apart. So when two clusters under the
    threshold are kept apart only by cannot-link pairs that all involve one
    face of one side, that face (the one farther from the other side; never
    a user-placed face) is left out, alone and no longer linking, and the
    rest merge. Two people kept apart by several faces stay apart.

    Returns:
        ``int64 (n,)`` cluster per row, numbered ``0..k-1``.
    """
    kw = dict(
        points=points,
        max_rms=max_rms,
        exact=exact,
        upper_points=upper_points,
        upper_margin=upper_margin,
        upper_gate=upper_gate,
    )
    cannot = cannot.astype(np.int64).reshape(-1, 2)
    labels, blocked = _merge(init_labels, src, dst, dist, cannot, owner_of_row, threshold, **kw)
    left_out = np.zeros(labels.size, dtype=bool)
    for _ in range(_MAX_EJECT_ROUNDS):
        out = _leave_out(labels, blocked, cannot, owner_of_row, points)
        if out.size == 0:
            break
        left_out[out] = True
        labels = labels.copy()
        labels[out] = labels.max() + 1 + np.arange(out.size)
        # a left-out face links nothing, so it cannot pull its old half back
        keep = ~left_out[src] & ~left_out[dst]
        labels, blocked = _merge(
            labels, src[keep], dst[keep], dist[keep], cannot, owner_of_row, threshold, **kw
        )
    return labels


_MAX_EJECT_ROUNDS = 8
"""Rounds of leaving one conflicting face out; each round handles many clusters."""


def _leave_out(
    labels: NDArray[np.int64],
    blocked: NDArray[np.int64],
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    points: NDArray[np.float32] | None,
) -> NDArray[np.int64]:
    """Faces whose cannot-link pairs alone keep two near clusters apart.

    Args:
        blocked: ``int64 (m, 2)`` cluster pairs under the threshold that a
            ban kept apart, nearest first.

    Returns:
        ``int64 (j,)`` rows to leave out, at most one per cluster pair and
        each cluster in one pair only.
    """
    if blocked.size == 0 or cannot.size == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = np.bincount(labels)
    n = np.int64(sizes.size)
    la, lb = labels[cannot[:, 0]], labels[cannot[:, 1]]
    # cannot pairs grouped by the cluster pair they join: one search per blocked pair
    keys = np.minimum(la, lb) * n + np.maximum(la, lb)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    used: set[int] = set()
    out: list[int] = []
    for p, q in blocked.tolist():
        if p in used or q in used:
            continue
        key = min(p, q) * n + max(p, q)
        hit = order[np.searchsorted(keys, key, "left") : np.searchsorted(keys, key, "right")]
        if hit.size == 0:
            continue  # kept apart by max_rms, not by a constraint
        rows = cannot[hit]
        side_p = np.unique(np.where(la[hit] == p, rows[:, 0], rows[:, 1]))
        side_q = np.unique(np.where(la[hit] == p, rows[:, 1], rows[:, 0]))
        options = [
            (int(side[0]), other)
            for side, own, other in ((side_p, p, q), (side_q, q, p))
            if side.size == 1 and sizes[own] > 1 and owner_of_row[side[0]] < 0
        ]
        if not options:
            continue
        if len(options) == 2 and points is not None:
            far = [_rms_to(points, labels, row, other) for row, other in options]
            options = [options[int(np.argmax(far))]]
        out.append(options[0][0])
        used.update((p, q))
    return np.asarray(out, dtype=np.int64)


def _rms_to(points: NDArray[np.float32], labels: NDArray[np.int64], row: int, lab: int) -> float:
    members = points[labels == lab]
    members = members[np.isfinite(members).all(axis=1)]
    if members.size == 0 or not np.isfinite(points[row]).all():
        return 0.0
    return float(np.sqrt(((members - points[row]) ** 2).sum(axis=1).mean()))


def _merge(
    init_labels: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    dist: NDArray[np.float32],
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    threshold: float,
    points: NDArray[np.float32] | None,
    max_rms: float,
    exact: bool,
    upper_points: NDArray[np.float32] | None,
    upper_margin: float,
    upper_gate: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The merge rounds of :func:`average_linkage`.

    Returns:
        ``(labels, blocked)``: ``int64 (n,)`` clusters numbered ``0..k-1``,
        and ``int64 (m, 2)`` pairs of them under the threshold that a ban
        (a constraint or ``max_rms``) kept apart at the end, nearest first.
    """
    _, labels = np.unique(init_labels, return_inverse=True)
    labels = labels.astype(np.int64)
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    owner = np.full(n_clusters, -1, dtype=np.int64)
    placed = owner_of_row >= 0
    owner[labels[placed]] = owner_of_row[placed]
    a, b, s, c = _aggregate(labels[src], labels[dst], dist.astype(np.float64), np.ones(src.size), n_clusters)
    ban = cannot.astype(np.int64).reshape(-1, 2)
    ban = np.stack([labels[ban[:, 0]], labels[ban[:, 1]]], axis=1) if ban.size else ban
    check = points is not None and (np.isfinite(max_rms) or exact)
    use_upper = check and exact and upper_points is not None and np.isfinite(upper_margin)
    if use_upper:
        ok_u = np.isfinite(upper_points).all(axis=1)
        xu = np.where(ok_u[:, None], upper_points, 0.0).astype(np.float32)
        sums_u = np.zeros((n_clusters, xu.shape[1]), dtype=np.float32)
        np.add.at(sums_u, labels, xu)
        sq_u = np.bincount(labels, weights=(xu * xu).sum(axis=1, dtype=np.float64), minlength=n_clusters)
        del xu
        cnt_u = np.bincount(labels, weights=ok_u.astype(np.float64), minlength=n_clusters)
        gate = np.ones(labels.size) if upper_gate is None else upper_gate.astype(np.float64)
        gated = np.bincount(labels, weights=gate, minlength=n_clusters)
    if check:
        finite = np.isfinite(points).all(axis=1)
        # float32 sums: half the memory at 1M faces; products are taken in float64
        x0 = np.where(finite[:, None], points, 0.0).astype(np.float32)
        sums = np.zeros((n_clusters, x0.shape[1]), dtype=np.float32)
        np.add.at(sums, labels, x0)  # once; later merges add two rows
        sq = np.bincount(labels, weights=(x0 * x0).sum(axis=1, dtype=np.float64), minlength=n_clusters)
        del x0
        cnt = np.bincount(labels, weights=finite.astype(np.float64), minlength=n_clusters)
    while a.size:
        avg = _rms(sums, sq, cnt, a, b, s / c) if exact and check else s / c
        if use_upper:
            far = np.full(a.size, np.inf)
            rms_u = _rms(sums_u, sq_u, cnt_u, a, b, far) + upper_margin
            avg = np.where((gated[a] > 0) | (gated[b] > 0), np.minimum(avg, rms_u), avg)
        keys = a * n_clusters + b
        banned = np.isin(keys, _pair_keys(ban, n_clusters))
        ok = (avg <= threshold) & ((owner[a] < 0) | (owner[b] < 0) | (owner[a] == owner[b]))
        if not (ok & ~banned).any():
            near = np.flatnonzero(ok & banned)
            near = near[np.argsort(avg[near], kind="stable")]
            return labels, np.stack([a[near], b[near]], axis=1)
        ok &= ~banned
        u = np.concatenate([a[ok], b[ok]])
        v = np.concatenate([b[ok], a[ok]])
        w = np.concatenate([avg[ok], avg[ok]])
        order = np.lexsort((v, w, u))
        u, v = u[order], v[order]
        first = np.r_[True, u[1:] != u[:-1]]
        best = np.full(n_clusters, -1, dtype=np.int64)
        best[u[first]] = v[first]
        x = np.flatnonzero(best >= 0)
        mutual = x[(best[best[x]] == x) & (x < best[x])]
        if mutual.size == 0:  # cannot happen for a strict minimum; guards against ties
            return labels, _NO_PAIRS
        if check:
            p_, q_ = mutual, best[mutual]
            known = (cnt[p_] > 0) & (cnt[q_] > 0)
            den = np.where(known, cnt[p_] * cnt[q_], 1.0)
            msd = sq[p_] / np.maximum(cnt[p_], 1) + sq[q_] / np.maximum(cnt[q_], 1)
            msd -= 2.0 * np.einsum("ij,ij->i", sums[p_].astype(np.float64), sums[q_].astype(np.float64)) / den
            vetoed = known & (msd > max_rms**2)
            if vetoed.any():
                ban = np.concatenate([ban.reshape(-1, 2), np.stack([p_[vetoed], q_[vetoed]], axis=1)])
                mutual = mutual[~vetoed]
                if mutual.size == 0:
                    continue
        target = np.arange(n_clusters, dtype=np.int64)
        target[best[mutual]] = mutual
        owner[mutual] = np.maximum(owner[mutual], owner[best[mutual]])
        uniq, remap = np.unique(target, return_inverse=True)
        remap = remap.astype(np.int64)
        owner = owner[uniq]
        if use_upper:
            for arr in (sums_u, sq_u, cnt_u, gated):
                arr[mutual] += arr[best[mutual]]
            sums_u, sq_u, cnt_u, gated = sums_u[uniq], sq_u[uniq], cnt_u[uniq], gated[uniq]
        if check:
            for arr in (sums, sq, cnt):
                arr[mutual] += arr[best[mutual]]
            sums, sq, cnt = sums[uniq], sq[uniq], cnt[uniq]
        labels = remap[labels]
        n_clusters = uniq.size
        a, b, s, c = _aggregate(remap[a], remap[b], s, c, n_clusters)
        ban = remap[ban] if ban.size else ban
    return labels, _NO_PAIRS


_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)
