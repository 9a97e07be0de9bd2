"""Constrained average-linkage agglomeration on a sparse graph.

The graph proposes which clusters may merge; two clusters are as far apart as
the exact root mean square distance over all their pairs, computed in
``O(d)`` from per-cluster sums. A merge is allowed when no cannot-link pair
would end up inside one cluster and the two clusters do not hold different user
persons.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_BOUND_SLACK = 1e-4
"""Squared distance by which a merged pair's lower bound must clear the
squared threshold before its exact RMS is skipped. The float32 cluster sums
make the computed RMS differ from the weighted mean of its parts by about
1e-7, so a skipped pair is always one that the exact value would also keep
from merging: the labels are those of computing every pair."""
_MAX_EJECT_ROUNDS = 8
"""Rounds of leaving one conflicting face out; each round handles many clusters."""
_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)


def distinct(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorted distinct values, as ``np.unique(keys)`` gives them.

    numpy 2.4's ``np.unique`` without ``return_*`` flags takes a hash-table
    path that is about 100 times slower than sorting on millions of large
    integer keys (25 s against 0.2 s for 20M).
    """
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def cover_limit(
    threshold: NDArray[np.float64] | float,
    share_a: NDArray[np.float64] | float,
    share_b: NDArray[np.float64] | float,
    cover_bonus: float,
    cover_penalty: float,
) -> NDArray[np.float64]:
    """The distance up to which two clusters with covered shares ``share_a`` and ``share_b`` may meet.

    ``threshold + cover_bonus * |a - b| - cover_penalty * min(a, b)``: a
    cover moves every descriptor of a person the same way, so a covered
    cluster and an uncovered one of the same person sit a little beyond the
    threshold; and the same cover makes strangers look alike, so two
    covered clusters need to be a little closer.
    """
    a, b = np.asarray(share_a, dtype=np.float64), np.asarray(share_b, dtype=np.float64)
    return threshold + cover_bonus * np.abs(a - b) - cover_penalty * np.minimum(a, b)


class ViewSums:
    """Per cluster: sum, sum of squared norms and count of the finite rows of one view.

    The sums are ``float32`` (half the memory at 1M faces); products are
    taken in ``float64``. NaN rows count as absent.
    """

    def __init__(self, x: NDArray[np.float32], labels: NDArray[np.int64], n_groups: int) -> None:
        finite = np.isfinite(x).all(axis=1)
        x0 = np.asarray(x if finite.all() else np.where(finite[:, None], x, 0.0), dtype=np.float32)
        self.sums = np.zeros((n_groups, x.shape[1]), dtype=np.float32)
        if n_groups == labels.size:  # one row per cluster (no must-links): a copy, not a scatter-add
            self.sums[labels] = x0
        else:
            np.add.at(self.sums, labels, x0)
        self.sq = np.bincount(labels, weights=(x0 * x0).sum(axis=1, dtype=np.float64), minlength=n_groups)
        self.cnt = np.bincount(labels, weights=finite.astype(np.float64), minlength=n_groups)

    def rms(
        self, a: NDArray[np.int64], b: NDArray[np.int64], fallback: float = np.nan, chunk: int = 1 << 15
    ) -> NDArray[np.float64]:
        """Exact RMS distance between clusters ``a[i]`` and ``b[i]`` (``fallback``: a side has no finite row).

        Chunks of 32k pairs bound the ``float64`` temporaries to ~100 MB.
        """
        out = np.full(a.size, fallback, dtype=np.float64)
        for s0 in range(0, a.size, chunk):
            ia, ib = a[s0 : s0 + chunk], b[s0 : s0 + chunk]
            ca, cb = self.cnt[ia], self.cnt[ib]
            known = (ca > 0) & (cb > 0)
            ca, cb = np.maximum(ca, 1), np.maximum(cb, 1)
            dot = np.einsum("ij,ij->i", self.sums[ia].astype(np.float64), self.sums[ib].astype(np.float64))
            msd = self.sq[ia] / ca + self.sq[ib] / cb - 2.0 * dot / (ca * cb)
            out[s0 : s0 + chunk] = np.where(known, np.sqrt(np.maximum(msd, 0.0)), out[s0 : s0 + chunk])
        return out

    def add(self, into: NDArray[np.int64], gone: NDArray[np.int64]) -> None:
        for arr in (self.sums, self.sq, self.cnt):
            arr[into] += arr[gone]

    def weighted_sq(
        self, a: NDArray[np.int64], b: NDArray[np.int64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``count_a * count_b * r**2`` (0 where a side has no rows, not ``0 * inf``)."""
        w = self.cnt[a] * self.cnt[b]
        return w * np.where(w > 0, r, 0.0) ** 2

    def bound(
        self, a: NDArray[np.int64], b: NDArray[np.int64], parts: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Lower bound of the RMS of merged pairs from the summed :meth:`weighted_sq` of their old parts.

        The squared RMS between two clusters is the count-weighted mean of the
        squared RMS between their parts; parts never seen as pairs count 0.
        ``inf`` where a side has no rows, as the exact value is.
        """
        w = self.cnt[a] * self.cnt[b]
        out = np.full(a.size, np.inf)
        has = w > 0
        out[has] = np.sqrt(parts[has] / w[has])
        return out


def average_linkage(
    init_labels: NDArray[np.int64],
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    threshold: float,
    points: NDArray[np.float32],
    max_rms: float = np.inf,
    upper_points: NDArray[np.float32] | None = None,
    upper_margin: float = np.inf,
    upper_gate: NDArray[np.bool_] | None = None,
    cover: NDArray[np.bool_] | None = None,
    cover_bonus: float = 0.0,
    cover_penalty: float = 0.0,
    offset: NDArray[np.float64] | None = None,
) -> NDArray[np.int64]:
    """Merge clusters while their distance is within their bar.

    Args:
        init_labels: ``int64 (n,)`` starting cluster per row (the user's must-links).
        src, dst: the graph's edges; they only propose candidate pairs, and
            join rows with finite ``points`` only.
        cannot: ``int64 (m, 2)`` rows that must never share a cluster.
        owner_of_row: ``int64 (n,)`` user person per row, ``-1`` for none.
        threshold: the bar.
        points: ``float32 (n, d)``: a pair's distance is the exact root mean
            square over all its face pairs; never merged beyond ``max_rms``
            (the graph only holds near pairs, so a crowd that an occluder
            makes alike would otherwise chain through it).
        upper_points, upper_margin, upper_gate: where a cluster holds a gated
            face (a mask), the upper view's exact RMS plus ``upper_margin``
            may stand in.
        cover, cover_bonus, cover_penalty: covered faces; a pair's bar
            follows its clusters' covered shares (:func:`cover_limit`).
        offset: ``float64 (n,)`` each face's bar offset; a pair's bar rises
            by the mean over its faces.

    A cannot-link pair inside one person would leave that person in two
    halves; when two clusters under the bar are kept apart only by pairs that
    all involve one face of one side, that face (never a user-placed one) is
    left out, alone, and the rest merge.

    Returns:
        ``int64 (n,)`` cluster per row, numbered ``0..k-1``.
    """
    n = init_labels.size
    cannot = cannot.astype(np.int64).reshape(-1, 2)
    cover = np.zeros(n, bool) if cover is None else cover
    offset = np.zeros(n) if offset is None else offset
    args = (points, max_rms, upper_points, upper_margin, upper_gate)
    args += (cover, cover_bonus, cover_penalty, offset)
    labels, blocked = _merge(init_labels, src, dst, cannot, owner_of_row, threshold, *args)
    left_out = np.zeros(n, dtype=bool)
    for _ in range(_MAX_EJECT_ROUNDS):
        out = _leave_out(labels, blocked, cannot, owner_of_row, points)
        if out.size == 0:
            break
        left_out[out] = True
        labels = labels.copy()
        labels[out] = labels.max() + 1 + np.arange(out.size)
        # a left-out face links nothing, so it cannot pull its old half back
        keep = ~left_out[src] & ~left_out[dst]
        labels, blocked = _merge(labels, src[keep], dst[keep], cannot, owner_of_row, threshold, *args)
    return labels


def _leave_out(
    labels: NDArray[np.int64],
    blocked: NDArray[np.int64],
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    points: NDArray[np.float32],
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
        if len(options) == 2:  # the face farther from the other cluster goes
            far = [_rms_to(points, labels, row, other) for row, other in options]
            options = [options[int(np.argmax(far))]]
        if options:
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
    cannot: NDArray[np.int64],
    owner_of_row: NDArray[np.int64],
    threshold: float,
    points: NDArray[np.float32],
    max_rms: float,
    upper_points: NDArray[np.float32] | None,
    upper_margin: float,
    upper_gate: NDArray[np.bool_] | None,
    cover: NDArray[np.bool_],
    cover_bonus: float,
    cover_penalty: float,
    offset: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The merge rounds of :func:`average_linkage`.

    Each round, every cluster finds its nearest allowed partner and all
    mutual-nearest pairs within their bar merge at once (for average
    linkage the same result as merging one pair at a time). A pair's
    distance is computed once and kept until one of its clusters merges;
    clusters keep their first id through the rounds. A pair rebuilt after a
    merge whose lower bound (:meth:`ViewSums.bound`) is already over its bar
    keeps the bound instead of its exact RMS. (Without the cache, recomputing
    every pair each round was 80% of the grouping time at 100k faces.)
    Every edge must join rows with finite ``points``.

    Returns:
        ``(labels, blocked)``: clusters numbered ``0..k-1``, and the pairs
        under their bar that a ban kept apart at the end, nearest first.
    """
    _, labels = np.unique(init_labels, return_inverse=True)
    labels = labels.astype(np.int64)
    k = int(labels.max()) + 1 if labels.size else 0
    owner = np.full(k, -1, dtype=np.int64)
    placed = owner_of_row >= 0
    owner[labels[placed]] = owner_of_row[placed]
    ban = labels[cannot] if cannot.size else cannot
    full = ViewSums(points, labels, k)  # once; later merges add two rows
    upper = None if upper_points is None else ViewSums(upper_points, labels, k)
    gate = np.ones(labels.size) if upper_gate is None else upper_gate.astype(np.float64)
    # per cluster: faces, covered faces, summed bar offsets, gated faces (one column each, contiguous)
    weights = (np.ones(labels.size), cover, offset, gate)
    per = np.asfortranarray(np.stack([np.bincount(labels, weights=w, minlength=k) for w in weights], 1))
    size, covered, offsets, gated = per.T  # views: they follow ``per`` as clusters merge
    # terms that are 0 for every pair are skipped (the same bars, less work at a million faces)
    use_offset, has_owner = bool(offset.any()), bool(placed.any())
    use_cover = bool(cover.any()) and (cover_bonus > 0 or cover_penalty > 0)

    def measure(
        a: NDArray[np.int64], b: NDArray[np.int64], rf: NDArray[np.float64], ru: NDArray[np.float64] | None
    ):
        """``(distance, allowed, bar)``: the upper view may stand in where a side is gated; the bar
        follows the clusters' mean offset and covered shares (:func:`cover_limit`)."""
        avg = rf
        if ru is not None:
            avg = np.where((gated[a] > 0) | (gated[b] > 0), np.minimum(rf, ru + upper_margin), rf)
        bar: NDArray[np.float64] | float = threshold
        if use_offset:
            bar = threshold + (offsets[a] + offsets[b]) / np.maximum(size[a] + size[b], 1)
        if use_cover:
            share_a, share_b = covered[a] / np.maximum(size[a], 1), covered[b] / np.maximum(size[b], 1)
            bar = cover_limit(bar, share_a, share_b, cover_bonus, cover_penalty)
        ok = avg <= bar
        if has_owner:
            ok &= (owner[a] < 0) | (owner[b] < 0) | (owner[a] == owner[b])
        return avg, ok, bar

    a, b = _aggregate(labels[src], labels[dst], k)[:2]
    # per pair, cached: each view's RMS, the distance and whether it may merge
    # (they change only when one of its clusters merges, and then the pair is rebuilt)
    rf = full.rms(a, b)
    ru = None if upper is None else upper.rms(a, b, np.inf)
    avg, ok, _ = measure(a, b, rf, ru)
    # int32 ids: half the memory of int64 at 20M pairs; ``k`` marks a dead slot
    ids = np.int32 if k < np.iinfo(np.int32).max else np.int64
    a, b = a.astype(ids), b.astype(ids)
    parent = np.arange(k, dtype=np.int64)
    touched = np.zeros(k + 1, dtype=bool)
    n_dead = 0
    while a.size > n_dead:
        cand = np.flatnonzero(ok)
        banned = _is_banned(a[cand], b[cand], ban, k)
        if banned.all():
            near = cand[banned]
            near = near[np.lexsort((a[near].astype(np.int64) * k + b[near], avg[near]))]  # nearest first
            return _finish(labels, parent, np.stack([a[near], b[near]], axis=1))
        cand = cand[~banned]
        best = _nearest(a[cand], b[cand], avg[cand], k)
        x = np.flatnonzero(best >= 0)
        mutual = x[(best[best[x]] == x) & (x < best[x])]
        if mutual.size == 0:  # cannot happen for a strict minimum; guards against ties
            return _finish(labels, parent, _NO_PAIRS)
        vetoed = full.rms(mutual, best[mutual]) > max_rms
        if vetoed.any():
            ban = np.concatenate(
                [ban.reshape(-1, 2), np.stack([mutual[vetoed], best[mutual[vetoed]]], axis=1)]
            )
            mutual = mutual[~vetoed]
            if mutual.size == 0:
                continue
        gone = best[mutual]  # each merges into its partner, the smaller id
        # pairs touching a merged cluster are summed into new pairs and
        # measured afresh; all other pairs keep their cached values
        touched[mutual] = touched[gone] = True
        old = np.flatnonzero(touched[a] | touched[b])
        touched[mutual] = touched[gone] = False
        oa, ob = a[old], b[old]
        # count-weighted squared RMS of the old pairs (before the counts grow)
        parts = [full.weighted_sq(oa, ob, rf[old])]
        if upper is not None:
            parts.append(upper.weighted_sq(oa, ob, ru[old]))
            upper.add(mutual, gone)
        full.add(mutual, gone)
        owner[mutual] = np.maximum(owner[mutual], owner[gone])
        per[mutual] += per[gone]
        parent[gone] = mutual
        ban = parent[ban] if ban.size else ban
        na, nb, parts = _aggregate(parent[oa], parent[ob], k, *parts)
        del oa, ob
        new_rf = full.bound(na, nb, parts[0])
        new_ru = None if upper is None else upper.bound(na, nb, parts[1])
        # only pairs whose bound might be under their bar need their exact RMS
        lb, _, t = measure(na, nb, new_rf, new_ru)
        near = np.flatnonzero(lb * lb <= t * t + _BOUND_SLACK)
        new_rf[near] = full.rms(na[near], nb[near])
        if upper is not None:
            new_ru[near] = upper.rms(na[near], nb[near], np.inf)
        # the new pairs (never more than the old) go in the old ones' slots,
        # the slots left over are dead: no copy of the arrays per round
        slot, dead = old[: na.size], old[na.size :]
        a[slot], b[slot], rf[slot] = na, nb, new_rf
        avg[slot], ok[slot], _ = measure(na, nb, new_rf, new_ru)
        a[dead], b[dead], ok[dead] = k, k, False
        if upper is not None:
            ru[slot] = new_ru
        n_dead += dead.size
        if n_dead > a.size // 2:
            live = a != k
            a, b, avg, ok = a[live], b[live], avg[live], ok[live]
            rf, ru = (
                (avg, None) if upper is None else (rf[live], ru[live])
            )  # no upper view: ``rf`` is ``avg``
            n_dead = 0
    return _finish(labels, parent, _NO_PAIRS)


def _aggregate(
    a: NDArray[np.int64], b: NDArray[np.int64], n: int, *weights: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[NDArray[np.float64]]]:
    """Each distinct cluster pair once (``lo < hi``, sorted, no loops), ``weights`` summed over its edges."""
    keep = a != b
    # built in place: at a million faces each temporary is 160 MB
    keys = np.minimum(a, b).astype(np.int64, copy=False)
    keys *= n
    keys += np.maximum(a, b)
    keys = keys[keep]
    if not weights:
        uniq = distinct(keys)
        return uniq // n, uniq % n, []
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq // n, uniq % n, [np.bincount(inverse, weights=w[keep], minlength=uniq.size) for w in weights]


def _is_banned(
    a: NDArray[np.int64], b: NDArray[np.int64], ban: NDArray[np.int64], n: int
) -> NDArray[np.bool_]:
    """Whether each pair ``(a[i] < b[i])`` is one of the banned cluster pairs."""
    lo, hi = ban.min(axis=1, initial=n), ban.max(axis=1, initial=-1)
    banned = distinct(lo[lo != hi] * n + hi[lo != hi])
    if banned.size == 0 or a.size == 0:
        return np.zeros(a.size, dtype=bool)
    keys = a.astype(np.int64) * n + b
    return banned[np.minimum(np.searchsorted(banned, keys), banned.size - 1)] == keys


def _nearest(a: NDArray[np.int64], b: NDArray[np.int64], w: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Each cluster's nearest partner over the pairs, ties to the smaller id; ``-1``: none.

    Two scatter-minimums instead of sorting the pairs: the same answer in
    linear time, which matters while millions of pairs are under the threshold.
    """
    u, v, ww = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])
    low = np.full(n, np.inf)
    np.minimum.at(low, u, ww)
    at_min = ww == low[u]
    best = np.full(n, n, dtype=np.int64)
    np.minimum.at(best, u[at_min], v[at_min])
    return np.where(best == n, -1, best)


def _finish(
    labels: NDArray[np.int64], parent: NDArray[np.int64], blocked: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Follow merges to each cluster's final id and number the clusters ``0..k-1``.

    The survivor of a merge keeps the smaller id, so numbering the final ids
    in order gives the same labels as renumbering after every round.
    """
    root = parent.copy()
    while not np.array_equal(up := root[root], root):
        root = up
    uniq, out = np.unique(root[labels], return_inverse=True)
    blocked = np.searchsorted(uniq, blocked) if blocked.size else blocked
    return out.astype(np.int64), blocked.astype(np.int64)
