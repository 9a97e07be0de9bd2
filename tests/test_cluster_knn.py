"""Chunked nearest-neighbour search and the memory-bounded edge list."""

from __future__ import annotations

import numpy as np

from facefile.cluster.graph import edge_list
from facefile.cluster.knn import knn_edges, knn_graph, knn_query
from tests.cluster_synth import synth_faces


def _brute(base: np.ndarray, queries: np.ndarray, k: int, skip_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours by numpy, in float64: ``(idx (m, k), dist (m, k))``."""
    d = np.linalg.norm(queries[:, None, :].astype(np.float64) - base[None, :, :], axis=2)
    d[~np.isfinite(d)] = np.inf
    if skip_self:
        np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


def _faces(n_people: int = 30, per_person: int = 6, seed: int = 3) -> np.ndarray:
    data, _ = synth_faces(n_people=n_people, per_person=per_person, spread=0.35, seed=seed)
    return data.embeddings


def test_chunked_graph_matches_exact_search() -> None:
    x = _faces()
    x[7] = np.nan  # a face without this view
    idx, dist = knn_graph(x, 5, chunk_rows=16)
    ok = np.isfinite(x).all(axis=1)
    ref_idx, ref_dist = _brute(x[ok], x[ok], 5, skip_self=True)
    rows = np.flatnonzero(ok)
    np.testing.assert_array_equal(idx[ok], rows[ref_idx])
    np.testing.assert_allclose(dist[ok], ref_dist, atol=1e-4)
    assert (idx[7] == -1).all() and np.isinf(dist[7]).all()
    assert not (idx[ok] == rows[:, None]).any()  # never the row itself


def test_edges_keep_every_neighbour_under_the_cut_and_nothing_else() -> None:
    x = _faces()
    idx, dist = knn_graph(x, 8)
    cut = float(np.median(dist))
    src, dst, d, rho = knn_edges(x, 8, cut, density_k=4, chunk_rows=32)
    assert src.dtype == dst.dtype == np.int32
    assert (d <= cut).all() and src.size > 0
    short = dist <= cut
    want = set(zip(np.nonzero(short)[0].tolist(), idx[short].tolist(), strict=True))
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == want
    # density is measured before the cut
    np.testing.assert_allclose(rho, dist[:, :4].mean(axis=1), rtol=1e-6)


def test_ivf_path_finds_nearly_all_exact_neighbours() -> None:
    x = _faces(n_people=200, per_person=5, seed=4)
    exact, _ = knn_graph(x, 4)
    approx, _ = knn_graph(x, 4, exact_max_n=100, chunk_rows=128)
    recall = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(exact, approx, strict=True)])
    assert recall > 0.95


def test_query_in_blocks_matches_exact_search_over_chosen_rows() -> None:
    base = _faces()
    base[[3, 50]] = np.nan
    queries = _faces(seed=9)[:20]
    queries[5] = np.nan
    rows = np.arange(0, base.shape[0], 2)  # every other row; row 50 is NaN
    idx, dist = knn_query(base, queries, 6, base_rows=rows, chunk_rows=7)
    ok_rows = rows[np.isfinite(base[rows]).all(axis=1)]
    ref_idx, ref_dist = _brute(base[ok_rows], np.delete(queries, 5, axis=0), 6, skip_self=False)
    np.testing.assert_array_equal(np.delete(idx, 5, axis=0), ok_rows[ref_idx])
    np.testing.assert_allclose(np.delete(dist, 5, axis=0), ref_dist, atol=1e-4)
    assert (idx[5] == -1).all() and np.isinf(dist[5]).all()
    # fewer base rows than k: the rest stays missing
    idx, dist = knn_query(base, queries[:2], 6, base_rows=np.array([0, 1]))
    assert (idx[:, :2] >= 0).all() and (idx[:, 2:] == -1).all() and np.isinf(dist[:, 2:]).all()


def test_edge_list_cut_keeps_exactly_the_short_edges() -> None:
    data, _ = synth_faces(n_people=30, per_person=6, spread=0.35, seed=5)
    full = data.embeddings
    rng = np.random.default_rng(0)
    upper = (full + rng.normal(size=full.shape).astype(np.float32) * 0.02).astype(np.float32)
    usable = np.ones(full.shape[0], dtype=bool)
    usable[:3] = False
    s0, d0, w0, sc0 = edge_list(full, upper, 10, 0.08, usable, 0.5, 5)
    s1, d1, w1, sc1 = edge_list(full, upper, 10, 0.08, usable, 0.5, 5, max_dist=0.45)
    assert (w1 <= 0.45).all() and w1.size < w0.size
    short = w0 <= 0.45
    np.testing.assert_array_equal(s1, s0[short])
    np.testing.assert_array_equal(d1, d0[short])
    np.testing.assert_allclose(w1, w0[short])
    np.testing.assert_allclose(sc1[0], sc0[0])
    assert not np.isin(np.r_[s1, d1], np.arange(3)).any()


def test_ivf_path_reports_exact_distances_in_any_dimension() -> None:
    # even dimensions scan 4-bit codes and re-rank by exact distance; odd ones scan full vectors
    for dim in (128, 33):
        data, _ = synth_faces(n_people=200, per_person=5, dim=dim, spread=0.35, seed=5)
        x = data.embeddings
        exact, _ = knn_graph(x, 4)
        approx, dist = knn_graph(x, 4, exact_max_n=100, chunk_rows=128)
        found = approx >= 0
        assert found.all()
        ref = np.linalg.norm(x[:, None, :].astype(np.float64) - x[approx], axis=2)
        np.testing.assert_allclose(dist, ref, atol=1e-4)
        assert (np.diff(dist, axis=1) >= 0).all()  # nearest first
        recall = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(exact, approx, strict=True)])
        assert recall > 0.95
