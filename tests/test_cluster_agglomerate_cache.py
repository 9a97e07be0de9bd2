"""The cached merge rounds give exactly what recomputing every pair each round gave.

:func:`facefile.cluster.agglomerate._merge` keeps each candidate pair's
distance until one of its clusters merges, and keeps cluster ids stable
through the rounds. ``_reference_merge`` below is the earlier version, which
recomputed every remaining pair's exact RMS in every round and renumbered
the clusters after each; both must agree label for label and on the pairs a
ban kept apart. The engine uses the lower bounds that let far merged pairs
skip their exact RMS; faces without a descriptor (NaN points) have no edges
and count only inside a must-link cluster, as in the product.
"""

from __future__ import annotations

import numpy as np
import pytest

from facefile.cluster import agglomerate
from facefile.cluster.knn import knn_graph
from tests.cluster_synth import synth_faces

_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)


def _ref_aggregate(a, b, s, c, n):
    keep = a != b
    a, b, s, c = a[keep], b[keep], s[keep], c[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    uniq, inverse = np.unique(lo * n + hi, return_inverse=True)
    return (
        uniq // n,
        uniq % n,
        np.bincount(inverse, weights=s, minlength=uniq.size),
        np.bincount(inverse, weights=c, minlength=uniq.size),
    )


def _ref_rms(sums, sq, cnt, a, b, fallback):
    ca, cb = cnt[a], cnt[b]
    known = (ca > 0) & (cb > 0)
    ca, cb = np.maximum(ca, 1), np.maximum(cb, 1)
    dot = np.einsum("ij,ij->i", sums[a].astype(np.float64), sums[b].astype(np.float64))
    msd = sq[a] / ca + sq[b] / cb - 2.0 * dot / (ca * cb)
    return np.where(known, np.sqrt(np.maximum(msd, 0.0)), fallback)


def _ref_pair_keys(pairs, n):
    if pairs.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    return np.unique(lo[lo != hi] * n + hi[lo != hi])


def _ref_totals(x, labels, n_clusters):
    ok = np.isfinite(x).all(axis=1)
    x0 = np.where(ok[:, None], x, 0.0).astype(np.float32)
    sums = np.zeros((n_clusters, x0.shape[1]), dtype=np.float32)
    np.add.at(sums, labels, x0)
    sq = np.bincount(labels, weights=(x0 * x0).sum(axis=1, dtype=np.float64), minlength=n_clusters)
    return sums, sq, np.bincount(labels, weights=ok.astype(np.float64), minlength=n_clusters)


def _reference_merge(
    init_labels,
    src,
    dst,
    dist,
    cannot,
    owner_of_row,
    threshold,
    points,
    max_rms,
    exact,
    upper_points,
    upper_margin,
    upper_gate,
    cover=None,
    cover_bonus=0.0,
    cover_penalty=0.0,
    offset=None,
    rounds=None,
):
    """The merge rounds as they were: every pair measured afresh in every round."""
    _, labels = np.unique(init_labels, return_inverse=True)
    labels = labels.astype(np.int64)
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    owner = np.full(n_clusters, -1, dtype=np.int64)
    placed = owner_of_row >= 0
    owner[labels[placed]] = owner_of_row[placed]
    a, b, s, c = _ref_aggregate(
        labels[src], labels[dst], dist.astype(np.float64), np.ones(src.size), n_clusters
    )
    ban = cannot.astype(np.int64).reshape(-1, 2)
    ban = np.stack([labels[ban[:, 0]], labels[ban[:, 1]]], axis=1) if ban.size else ban
    check = points is not None and (np.isfinite(max_rms) or exact)
    use_upper = check and exact and upper_points is not None and np.isfinite(upper_margin)
    if use_upper:
        sums_u, sq_u, cnt_u = _ref_totals(upper_points, labels, n_clusters)
        gate = np.ones(labels.size) if upper_gate is None else upper_gate.astype(np.float64)
        gated = np.bincount(labels, weights=gate, minlength=n_clusters)
    if check:
        sums, sq, cnt = _ref_totals(points, labels, n_clusters)
    use_cover = cover is not None and (cover_bonus > 0 or cover_penalty > 0)
    cov_n = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    cov = np.zeros(labels.size) if cover is None else cover.astype(np.float64)
    cov_s = np.bincount(labels, weights=cov, minlength=n_clusters)
    off = np.zeros(labels.size) if offset is None else np.asarray(offset, dtype=np.float64)
    off_s = np.bincount(labels, weights=off, minlength=n_clusters)
    while a.size:
        if rounds is not None:
            rounds.append(a.size)
        thr = threshold + (off_s[a] + off_s[b]) / np.maximum(cov_n[a] + cov_n[b], 1)
        if use_cover:
            share = cov_s / np.maximum(cov_n, 1)
            thr = (
                thr
                + cover_bonus * np.abs(share[a] - share[b])
                - cover_penalty * np.minimum(share[a], share[b])
            )
        avg = _ref_rms(sums, sq, cnt, a, b, s / c) if exact and check else s / c
        if use_upper:
            rms_u = _ref_rms(sums_u, sq_u, cnt_u, a, b, np.full(a.size, np.inf)) + upper_margin
            avg = np.where((gated[a] > 0) | (gated[b] > 0), np.minimum(avg, rms_u), avg)
        banned = np.isin(a * n_clusters + b, _ref_pair_keys(ban, n_clusters))
        ok = (avg <= thr) & ((owner[a] < 0) | (owner[b] < 0) | (owner[a] == owner[b]))
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
        if mutual.size == 0:
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
        for arr in (cov_s, cov_n, off_s):
            arr[mutual] += arr[best[mutual]]
        cov_s, cov_n, off_s = cov_s[uniq], cov_n[uniq], off_s[uniq]
        labels = remap[labels]
        n_clusters = uniq.size
        a, b, s, c = _ref_aggregate(remap[a], remap[b], s, c, n_clusters)
        ban = remap[ban] if ban.size else ban
    return labels, _NO_PAIRS


def _merge(
    init,
    src,
    dst,
    _d,
    cannot,
    owner,
    threshold,
    points,
    max_rms,
    _exact,
    up,
    margin,
    gate,
    cover=None,
    bonus=0.0,
    penalty=0.0,
    offset=None,
):
    """The engine under test, called with the reference's arguments."""
    cover = np.zeros(init.size, bool) if cover is None else cover
    offset = np.zeros(init.size) if offset is None else offset
    args = (points, max_rms, up, margin, gate, cover, bonus, penalty, offset)
    return agglomerate._merge(init, src, dst, cannot.reshape(-1, 2), owner, threshold, *args)


def _setup(seed: int, nan_rows: bool = False, owners: bool = False, upper: bool = False):
    """A graph of many people of very different sizes, so merges run over many rounds."""
    rng = np.random.default_rng(seed)
    data, truth = synth_faces(n_people=40, per_person=30, spread=0.42, seed=seed)
    keep = rng.random(truth.size) < np.repeat(rng.uniform(0.05, 1.0, 40), 30)  # sizes 1-30
    x = data.embeddings[keep].copy()
    n = x.shape[0]
    idx, dist = knn_graph(x, 12)
    src = np.repeat(np.arange(n), idx.shape[1])
    dst, d = idx.ravel(), dist.ravel()
    ok = dst >= 0
    src, dst, d = src[ok], dst[ok], d[ok].astype(np.float32)
    init = np.arange(n, dtype=np.int64)
    init[1::17] = init[0::17][: init[1::17].size]  # a few must-link pairs
    owner = np.full(n, -1, dtype=np.int64)
    if owners:
        owner[rng.choice(n, 12, replace=False)] = rng.integers(0, 4, 12)
    points = x.copy()
    if nan_rows:
        points[rng.choice(n, 8, replace=False)] = np.nan
        # as in the product: a face without a descriptor has no edges (it may share a must-link group)
        fin = np.isfinite(points).all(axis=1)
        src, dst, d = src[fin[src] & fin[dst]], dst[fin[src] & fin[dst]], d[fin[src] & fin[dst]]
    cannot = rng.choice(n, size=(6, 2), replace=False).astype(np.int64)
    up = None
    gate = None
    if upper:
        up = (x + rng.normal(scale=0.02, size=x.shape)).astype(np.float32)
        up[rng.choice(n, 10, replace=False)] = np.nan
        gate = rng.random(n) < 0.2
    return init, src, dst, d, cannot, owner, points, up, gate


@pytest.mark.parametrize(
    ("seed", "exact", "max_rms", "nan_rows", "owners", "upper", "covers"),
    [
        (1, True, 0.65, False, False, False, False),
        (2, True, 0.5, True, True, False, False),
        (3, True, np.inf, False, True, True, False),
        (4, True, 0.6, True, False, False, False),
        (5, True, 0.62, True, True, True, False),
        (7, True, 0.6, False, True, True, False),
        (8, True, 0.65, False, False, False, True),
        (9, True, 0.62, True, True, True, True),
    ],
)
def test_cached_merge_matches_recomputing_every_round(
    seed, exact, max_rms, nan_rows, owners, upper, covers
) -> None:
    init, src, dst, d, cannot, owner, points, up, gate = _setup(seed, nan_rows, owners, upper)
    cover = None
    if covers:
        # half the faces behind one cover that moves their descriptors alike, so
        # pairs' thresholds differ and change as clusters merge
        rng = np.random.default_rng(seed)
        cover = rng.random(init.size) < 0.5
        shift = rng.normal(size=points.shape[1])
        points = points.copy()
        points[cover] += (0.35 * shift / np.linalg.norm(shift)).astype(np.float32)
    args = (
        init,
        src,
        dst,
        d,
        cannot,
        owner,
        0.55,
        points,
        max_rms,
        exact,
        up,
        0.1 if upper else np.inf,
        gate,
        cover,
        0.05 if covers else 0.0,
        0.1 if covers else 0.0,
    )
    rounds: list[int] = []
    want_labels, want_blocked = _reference_merge(*args, rounds=rounds)
    if covers:  # the allowance and the penalty each decide some merges here
        assert not np.array_equal(_reference_merge(*args[:-2], 0.0, 0.1)[0], want_labels)
        assert not np.array_equal(_reference_merge(*args[:-2], 0.05, 0.0)[0], want_labels)
    got_labels, got_blocked = _merge(*args)
    assert len(rounds) >= 8  # merges over many rounds, so cached values are reused
    assert np.unique(want_labels).size < want_labels.size / 2
    np.testing.assert_array_equal(got_labels, want_labels)
    np.testing.assert_array_equal(got_blocked, want_blocked.reshape(-1, 2))


def test_leaving_faces_out_is_unchanged_by_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    init, src, dst, _, _, owner, points, _, _ = _setup(6, owners=True)
    # cannot-links inside dense people, so faces are left out over several rounds
    rows = np.flatnonzero(np.bincount(init) > 0)
    cannot = np.stack([rows[:40:2], rows[1:41:2]], axis=1)
    got = agglomerate.average_linkage(init, src, dst, cannot, owner, 0.55, points, 0.65)

    def reference(init, src, dst, cannot, owner, threshold, points, max_rms, *_, **__):
        d = np.linalg.norm(points[src] - points[dst], axis=1).astype(np.float32)
        return _reference_merge(
            init, src, dst, d, cannot, owner, threshold, points, max_rms, True, None, np.inf, None
        )

    monkeypatch.setattr(agglomerate, "_merge", reference)
    want = agglomerate.average_linkage(init, src, dst, cannot, owner, 0.55, points, 0.65)
    np.testing.assert_array_equal(got, want)


def test_per_face_bars_match_recomputing_every_round() -> None:
    """Faces' own bar offsets (the density of strangers): a pair's bar is the mean over its faces."""
    init, src, dst, d, cannot, owner, points, _, _ = _setup(11, owners=True)
    offset = np.random.default_rng(11).uniform(0.0, 0.15, init.size)
    args = (init, src, dst, d, cannot, owner, 0.4, points, 0.7, True, None, np.inf, None)
    want, want_blocked = _reference_merge(*args, offset=offset)
    assert not np.array_equal(_reference_merge(*args)[0], want)  # the offsets decide some merges
    got, got_blocked = _merge(*args, offset=offset)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_blocked, want_blocked.reshape(-1, 2))
