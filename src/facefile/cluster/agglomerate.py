"""Constrained average-linkage agglomeration on a sparse graph.

The graph proposes which groups may merge; two groups are as far apart as
the exact root mean square distance over all their pairs. A merge is
allowed when no cannot-link pair would end up inside one group and the two
groups do not hold different user persons.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _aggregate(
    a: NDArray[np.int64], b: NDArray[np.int64], n: int, *weights: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[NDArray[np.float64]]]:
    """Sum parallel edges between the same two clusters; drop loops.

    Returns:
        ``(lo, hi, sums)``: each distinct pair once, ``lo < hi``, sorted, and
        each of ``weights`` summed over the edges of the pair.
    """
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
    sums = [np.bincount(inverse, weights=w[keep], minlength=uniq.size) for w in weights]
    return uniq // n, uniq % n, sums


def _bounds(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    parts: list[NDArray[np.float64]],
    cnt: NDArray[np.float64],
    cnt_u: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Lower bounds of the full (and upper) view RMS of merged pairs.

    The squared RMS between two clusters is the count-weighted mean of the
    squared RMS between their parts; ``parts`` holds that weighted sum over
    the parts that were pairs before (the others, never seen, count as 0).

    Returns:
        ``(full, upper)``; ``upper`` is ``inf`` where either cluster has no
        upper view (as the exact value is), ``None`` without ``cnt_u``.
    """
    rf = np.sqrt(parts[0] / (cnt[a] * cnt[b]))
    if cnt_u is None:
        return rf, None
    w = cnt_u[a] * cnt_u[b]
    ru = np.full(a.size, np.inf)
    has = w > 0
    ru[has] = np.sqrt(parts[1][has] / w[has])
    return rf, ru


_BOUND_SLACK = 1e-4
"""Squared distance by which a merged pair's lower bound must clear the
squared threshold before its exact RMS is skipped. The float32 cluster sums
make the computed RMS differ from the weighted mean of its parts by about
1e-7, so a skipped pair is always one that the exact value would also keep
from merging: the labels are those of computing every pair."""


def _rms(sums, sq, cnt, a, b, fallback, chunk: int = 1 << 15):
    """Exact root mean square distance between clusters ``a[i]`` and ``b[i]``.

    ``fallback`` (or NaN when ``None``) where either cluster has no finite
    points. Chunks of 32k pairs bound the ``float64`` temporaries to ~100 MB.
    """
    out = np.full(a.size, np.nan) if fallback is None else fallback.astype(np.float64, copy=True)
    for s0 in range(0, a.size, chunk):
        ia, ib = a[s0 : s0 + chunk], b[s0 : s0 + chunk]
        ca, cb = cnt[ia], cnt[ib]
        known = (ca > 0) & (cb > 0)
        ca, cb = np.maximum(ca, 1), np.maximum(cb, 1)
        dot = np.einsum("ij,ij->i", sums[ia].astype(np.float64), sums[ib].astype(np.float64))
        msd = sq[ia] / ca + sq[ib] / cb - 2.0 * dot / (ca * cb)
        out[s0 : s0 + chunk] = np.where(known, np.sqrt(np.maximum(msd, 0.0)), out[s0 : s0 + chunk])
    return out


def distinct(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorted distinct values, as ``np.unique(keys)`` gives them.

    numpy 2.4's ``np.unique`` without ``return_*`` flags takes a hash-table
    path that is about 100 times slower than sorting on millions of large
    integer keys (25 s against 0.2 s for 20M).
    """
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def _pair_keys(pairs: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    if pairs.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    keys = lo[lo != hi] * n + hi[lo != hi]
    return distinct(keys)


def cover_limit(
    threshold: float,
    share_a: NDArray[np.float64] | float,
    share_b: NDArray[np.float64] | float,
    cover_bonus: float,
    cover_penalty: float = 0.0,
) -> NDArray[np.float64] | float:
    """The distance up to which two groups with covered shares ``share_a`` and ``share_b`` may meet.

    ``threshold + cover_bonus * |a - b| - cover_penalty * min(a, b)``: a
    cover moves every descriptor of a person the same way, so a covered
    group and an uncovered one of the same person sit a little beyond the
    threshold; and the same cover makes strangers look alike, so two
    covered groups need to be a little closer.
    """
    a, b = np.asarray(share_a, dtype=np.float64), np.asarray(share_b, dtype=np.float64)
    return threshold + cover_bonus * np.abs(a - b) - cover_penalty * np.minimum(a, b)


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
    cover: NDArray[np.bool_] | None = None,
    cover_bonus: float = 0.0,
    cover_penalty: float = 0.0,
    offset: NDArray[np.float64] | None = None,
) -> NDArray[np.int64]:
    """Merge groups while their distance is within their bar.

    Args:
        init_labels: ``int64 (n,)`` starting group per row (the user's must-links).
        src, dst, dist: the graph's edges; they only propose candidate pairs
            (with ``exact=False`` their mean is the distance).
        cannot: ``int64 (m, 2)`` rows that must never share a group.
        owner_of_row: ``int64 (n,)`` user person per row, ``-1`` for none.
        threshold: the bar.
        points: ``float32 (n, d)``: a pair's distance is the exact root mean
            square over all its face pairs (``exact``), from per-group sums in
            ``O(d)``; never merged beyond ``max_rms`` (the graph only holds
            near pairs, so a crowd that an occluder makes alike would
            otherwise chain through it).
        upper_points, upper_margin, upper_gate: where a group holds a gated
            face (a mask), the upper view's exact RMS plus ``upper_margin``
            may stand in.
        cover, cover_bonus, cover_penalty: covered faces; a pair's bar
            follows its groups' covered shares (:func:`cover_limit`).
        offset: ``float64 (n,)`` each face's bar offset; a pair's bar rises
            by the mean over its faces.

    A cannot-link pair inside one person would leave that person in two
    halves; when two groups under the bar are kept apart only by pairs that
    all involve one face of one side, that face (never a user-placed one) is
    left out, alone, and the rest merge.

    Returns:
        ``int64 (n,)`` group per row, numbered ``0..k-1``.
    """
    kw = dict(
        points=points,
        max_rms=max_rms,
        exact=exact,
        upper_points=upper_points,
        upper_margin=upper_margin,
        upper_gate=upper_gate,
        cover=cover,
        cover_bonus=cover_bonus,
        cover_penalty=cover_penalty,
        offset=offset,
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
    cover: NDArray[np.bool_] | None = None,
    cover_bonus: float = 0.0,
    cover_penalty: float = 0.0,
    offset: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The merge rounds of :func:`average_linkage`.

    Each round, every group finds its nearest allowed partner and all
    mutual-nearest pairs within their bar merge at once (for average
    linkage the same result as merging one pair at a time). A pair's
    distance is computed once and kept until one of its groups merges;
    groups keep their first id through the rounds. A pair rebuilt after a
    merge whose lower bound (:func:`_bounds`) is already over its bar keeps
    the bound instead of its exact RMS. (Without the cache, recomputing
    every pair each round was 80% of the grouping time at 100k faces.)

    Returns:
        ``(labels, blocked)``: groups numbered ``0..k-1``, and the pairs
        under their bar that a ban kept apart at the end, nearest first.
    """
    _, labels = np.unique(init_labels, return_inverse=True)
    labels = labels.astype(np.int64)
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    owner = np.full(n_clusters, -1, dtype=np.int64)
    placed = owner_of_row >= 0
    owner[labels[placed]] = owner_of_row[placed]
    has_owner = bool(placed.any())
    ban = cannot.astype(np.int64).reshape(-1, 2)
    ban = np.stack([labels[ban[:, 0]], labels[ban[:, 1]]], axis=1) if ban.size else ban
    check = points is not None and (np.isfinite(max_rms) or exact)
    use_upper = check and exact and upper_points is not None and np.isfinite(upper_margin)
    if use_upper:
        sums_u, sq_u, cnt_u = _view_totals(upper_points, labels, n_clusters)
        gate = np.ones(labels.size) if upper_gate is None else upper_gate.astype(np.float64)
        gated = np.bincount(labels, weights=gate, minlength=n_clusters)
    if check:
        sums, sq, cnt = _view_totals(points, labels, n_clusters)  # once; later merges add two rows
    exact_rms = exact and check
    # covered faces per cluster: a pair's threshold follows its covered shares (cover_limit)
    use_cover = cover is not None and (cover_bonus > 0 or cover_penalty > 0)
    cov_n = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    if use_cover:
        cov_s = np.bincount(labels, weights=np.asarray(cover, dtype=np.float64), minlength=n_clusters)
    use_off = offset is not None
    if use_off:
        off_s = np.bincount(labels, weights=np.asarray(offset, dtype=np.float64), minlength=n_clusters)

    def limit(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> NDArray[np.float64] | float:
        """Each pair's merge threshold."""
        base: NDArray[np.float64] | float = threshold
        if use_off:
            base = threshold + (off_s[ia] + off_s[ib]) / np.maximum(cov_n[ia] + cov_n[ib], 1)
        if not use_cover:
            return base
        share_a = cov_s[ia] / np.maximum(cov_n[ia], 1)
        share_b = cov_s[ib] / np.maximum(cov_n[ib], 1)
        return cover_limit(base, share_a, share_b, cover_bonus, cover_penalty)

    # the graph's mean edge distance is only read where the exact RMS is
    # unknown (a cluster without finite points), so skip its sums when none is
    need_mean = not exact_rms or bool((cnt == 0).any())
    # far pairs may hold a lower bound instead of their exact RMS (see _BOUND_SLACK)
    bounded = not need_mean
    a, b, sw = _aggregate(
        labels[src],
        labels[dst],
        n_clusters,
        *((dist.astype(np.float64), np.ones(src.size)) if need_mean else ()),
    )
    s, c = sw if need_mean else (None, None)
    del sw

    def distances(ia: NDArray[np.int64], ib: NDArray[np.int64], mean: NDArray[np.float64] | None):
        """``(full, upper)``: exact RMS of each view where known (``upper``: ``None`` if unused)."""
        rf = _rms(sums, sq, cnt, ia, ib, mean) if exact_rms else mean
        ru = _rms(sums_u, sq_u, cnt_u, ia, ib, np.full(ia.size, np.inf)) if use_upper else None
        return rf, ru

    def combine(ia: NDArray[np.int64], ib: NDArray[np.int64], rf, ru) -> NDArray[np.float64]:
        """Pair distance as the merge rule reads it: the upper view may stand in where gated."""
        if not use_upper:
            return rf
        return np.where((gated[ia] > 0) | (gated[ib] > 0), np.minimum(rf, ru + upper_margin), rf)

    def allowed(ia: NDArray[np.int64], ib: NDArray[np.int64], avg: NDArray[np.float64]) -> NDArray[np.bool_]:
        ok = avg <= limit(ia, ib)
        if has_owner:
            ok &= (owner[ia] < 0) | (owner[ib] < 0) | (owner[ia] == owner[ib])
        return ok

    # per pair, cached: each view's RMS, the distance and whether it may merge
    # (they change only when one of its clusters merges, and then the pair is rebuilt)
    rf, ru = distances(a, b, None if s is None else s / c)
    avg = combine(a, b, rf, ru)
    ok = allowed(a, b, avg)
    # int32 ids: half the memory of int64 at 20M pairs; ``n_clusters`` marks a dead slot
    ids = np.int32 if n_clusters < np.iinfo(np.int32).max else np.int64
    a, b = a.astype(ids), b.astype(ids)
    parent = np.arange(n_clusters, dtype=np.int64)
    touched = np.zeros(n_clusters + 1, dtype=bool)
    n_dead = 0
    while a.size > n_dead:
        cand = np.flatnonzero(ok)
        banned = _is_banned(a[cand], b[cand], ban, n_clusters)
        if banned.all():
            near = cand[banned]
            keys = a[near].astype(np.int64) * n_clusters + b[near]
            near = near[np.lexsort((keys, avg[near]))]  # nearest first, ties by pair
            return _finish(labels, parent, np.stack([a[near], b[near]], axis=1))
        cand = cand[~banned]
        best = _nearest(a[cand], b[cand], avg[cand], n_clusters)
        x = np.flatnonzero(best >= 0)
        mutual = x[(best[best[x]] == x) & (x < best[x])]
        if mutual.size == 0:  # cannot happen for a strict minimum; guards against ties
            return _finish(labels, parent, _NO_PAIRS)
        if check:
            p_, q_ = mutual, best[mutual]
            vetoed = _rms(sums, sq, cnt, p_, q_, None) > max_rms  # NaN (no finite points): no veto
            if vetoed.any():
                ban = np.concatenate([ban.reshape(-1, 2), np.stack([p_[vetoed], q_[vetoed]], axis=1)])
                mutual = mutual[~vetoed]
                if mutual.size == 0:
                    continue
        gone = best[mutual]  # each merges into its partner, the smaller id
        # pairs touching a merged cluster are summed into new pairs and
        # measured afresh; all other pairs keep their cached values
        touched[mutual] = True
        touched[gone] = True
        old = np.flatnonzero(touched[a] | touched[b])
        touched[mutual] = False
        touched[gone] = False
        oa, ob = a[old], b[old]
        parts: list[NDArray[np.float64]] = []
        if bounded:
            # count-weighted squared RMS of the old pairs (before the counts grow)
            parts.append(cnt[oa] * cnt[ob] * rf[old] ** 2)
            if use_upper:
                w = cnt_u[oa] * cnt_u[ob]
                parts.append(w * np.where(w > 0, ru[old], 0.0) ** 2)  # 0, not 0 * inf
        elif s is not None and c is not None:
            parts += [s[old], c[old]]
        owner[mutual] = np.maximum(owner[mutual], owner[gone])
        if use_upper:
            for arr in (sums_u, sq_u, cnt_u, gated):
                arr[mutual] += arr[gone]
        if check:
            for arr in (sums, sq, cnt):
                arr[mutual] += arr[gone]
        cov_n[mutual] += cov_n[gone]
        if use_cover:
            cov_s[mutual] += cov_s[gone]
        if use_off:
            off_s[mutual] += off_s[gone]
        parent[gone] = mutual
        ban = parent[ban] if ban.size else ban
        na, nb, parts = _aggregate(parent[oa], parent[ob], n_clusters, *parts)
        del oa, ob
        if bounded:
            new_rf, new_ru = _bounds(na, nb, parts, cnt, cnt_u if use_upper else None)
            # only pairs that might be under the threshold need their exact RMS
            lb = combine(na, nb, new_rf, new_ru)
            t = limit(na, nb)
            near = np.flatnonzero(lb * lb <= t * t + _BOUND_SLACK)
            exact_f, exact_u = distances(na[near], nb[near], None)
            new_rf[near] = exact_f
            if use_upper:
                new_ru[near] = exact_u
        else:
            new_rf, new_ru = distances(na, nb, parts[0] / parts[1] if parts else None)
        new_avg = combine(na, nb, new_rf, new_ru)
        # the new pairs (never more than the old) go in the old ones' slots,
        # the slots left over are dead: no copy of the arrays per round
        slot, dead = old[: na.size], old[na.size :]
        a[slot], b[slot], avg[slot], ok[slot] = na, nb, new_avg, allowed(na, nb, new_avg)
        a[dead], b[dead], ok[dead] = n_clusters, n_clusters, False
        if use_upper:  # else ``rf`` is ``avg``
            rf[slot], ru[slot] = new_rf, new_ru
        if s is not None and c is not None:
            s[slot], c[slot] = parts
        n_dead += dead.size
        if n_dead > a.size // 2:
            live = a != n_clusters
            a, b, avg, ok = a[live], b[live], avg[live], ok[live]
            rf, ru = (rf[live], ru[live]) if use_upper else (avg, None)
            if s is not None and c is not None:
                s, c = s[live], c[live]
            n_dead = 0
    return _finish(labels, parent, _NO_PAIRS)


def _view_totals(
    x: NDArray[np.float32], labels: NDArray[np.int64], n_clusters: int
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float64]]:
    """Per cluster: sum, sum of squared norms and count of the finite rows of ``x``.

    The sums are ``float32`` (half the memory at 1M faces); products are
    taken in ``float64``. NaN rows count as absent.
    """
    finite = np.isfinite(x).all(axis=1)
    x0 = np.asarray(x if finite.all() else np.where(finite[:, None], x, 0.0), dtype=np.float32)
    sums = _cluster_sums(x0, labels, n_clusters)
    sq = np.bincount(labels, weights=(x0 * x0).sum(axis=1, dtype=np.float64), minlength=n_clusters)
    cnt = np.bincount(labels, weights=finite.astype(np.float64), minlength=n_clusters)
    return sums, sq, cnt


def _cluster_sums(x: NDArray[np.float32], labels: NDArray[np.int64], n_clusters: int) -> NDArray[np.float32]:
    """``float32 (n_clusters, d)`` sum of the rows of each cluster."""
    sums = np.zeros((n_clusters, x.shape[1]), dtype=np.float32)
    if n_clusters == labels.size:  # one row per cluster (no must-links): a copy, not a scatter-add
        sums[labels] = x
    else:
        np.add.at(sums, labels, x)
    return sums


def _is_banned(
    a: NDArray[np.int64], b: NDArray[np.int64], ban: NDArray[np.int64], n: int
) -> NDArray[np.bool_]:
    """Whether each pair ``(a[i] < b[i])`` is one of the banned cluster pairs."""
    banned = _pair_keys(ban, n)
    if banned.size == 0 or a.size == 0:
        return np.zeros(a.size, dtype=bool)
    keys = a.astype(np.int64) * n + b
    pos = np.minimum(np.searchsorted(banned, keys), banned.size - 1)
    return banned[pos] == keys


def _nearest(a: NDArray[np.int64], b: NDArray[np.int64], w: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Each cluster's nearest partner over the pairs, ties to the smaller id; ``-1``: none.

    Two scatter-minimums instead of sorting the pairs: the same answer in
    linear time, which matters while millions of pairs are under the threshold.
    """
    u = np.concatenate([a, b])
    v = np.concatenate([b, a])
    ww = np.concatenate([w, w])
    low = np.full(n, np.inf)
    np.minimum.at(low, u, ww)
    at_min = ww == low[u]
    best = np.full(n, n, dtype=np.int64)
    np.minimum.at(best, u[at_min], v[at_min])
    best[best == n] = -1
    return best


def _finish(
    labels: NDArray[np.int64], parent: NDArray[np.int64], blocked: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Follow merges to each cluster's final id and number the clusters ``0..k-1``.

    The survivor of a merge keeps the smaller id, so numbering the final ids
    in order gives the same labels as renumbering after every round.
    """
    root = parent.copy()
    while True:
        up = root[root]
        if np.array_equal(up, root):
            break
        root = up
    uniq, out = np.unique(root[labels], return_inverse=True)
    blocked = np.searchsorted(uniq, blocked) if blocked.size else blocked
    return out.astype(np.int64), blocked.astype(np.int64)


_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)
