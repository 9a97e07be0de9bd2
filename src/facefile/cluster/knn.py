"""Nearest neighbours for grouping: exact for small sets, a faiss IVF index at scale.

Distances are Euclidean, in the embedding model's own units (dlib: same person
usually closer than 0.6). Rows that are all-NaN (a view the face lacks) are
left out of the index and get no neighbours.
"""

from __future__ import annotations

import faiss
import numpy as np
from numpy.typing import NDArray

EXACT_MAX_N = 20_000
"""Above this many indexed rows the graph is built with an approximate index."""


def _finite_rows(x: NDArray[np.float32]) -> NDArray[np.int64]:
    return np.flatnonzero(np.isfinite(x).all(axis=1)).astype(np.int64)


IVF_PROBE = 8
"""Inverted lists searched per query; with ``4 * sqrt(n)`` lists this finds
nearly all same-person neighbours (faces of one person share a list) at a
cost of ``IVF_PROBE * sqrt(n) / 4`` distance evaluations per query."""


def _make_index(base: NDArray[np.float32], exact_max_n: int) -> faiss.Index:
    n, d = base.shape
    if n <= exact_max_n:
        index = faiss.IndexFlatL2(d)
    else:
        # IVF trains in seconds where HNSW takes many minutes to build at 1M rows
        n_lists = int(np.clip(4 * np.sqrt(n), 64, 16384))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, n_lists)
        index.cp.niter = 10  # coarse lists need not be optimal, only balanced
        index.cp.min_points_per_centroid = 16
        rng = np.random.default_rng(0)
        sample = base[np.sort(rng.choice(n, size=min(n, 20 * n_lists), replace=False))]
        index.train(sample)
        index.nprobe = IVF_PROBE
    index.add(base)
    return index


def knn_graph(
    x: NDArray[np.float32], k: int, *, exact_max_n: int = EXACT_MAX_N
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` nearest other rows of every row.

    Args:
        x: ``float32 (n, d)`` embeddings; all-NaN rows are skipped.
        k: neighbours per row (fewer where there are fewer rows).
        exact_max_n: up to this many rows the search is exact (faiss flat);
            above it, a faiss IVF index is used (approximate, memory
            ``O(n * d)``, never an ``n x n`` matrix).

    Returns:
        ``(idx, dist)``: ``int64 (n, k)`` row numbers (``-1`` where missing)
        and ``float32 (n, k)`` Euclidean distances (``inf`` where missing),
        nearest first, never the row itself.
    """
    n = x.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    rows = _finite_rows(x)
    if rows.size < 2 or k < 1:
        return idx, dist
    base = np.ascontiguousarray(x[rows], dtype=np.float32)
    kk = min(k + 1, rows.size)
    index = _make_index(base, exact_max_n)
    d2, nb = index.search(base, kk)
    nb_rows = np.where(nb >= 0, rows[np.clip(nb, 0, None)], -1)
    is_self = nb_rows == rows[:, None]
    # drop the row itself (or the farthest hit when self was not returned)
    keep = ~is_self
    keep[keep.sum(axis=1) > kk - 1, kk - 1] = False
    nb_rows = nb_rows[keep].reshape(rows.size, kk - 1)
    d2 = d2[keep].reshape(rows.size, kk - 1)
    m = min(k, kk - 1)
    idx[rows, :m] = nb_rows[:, :m]
    dist[rows, :m] = np.sqrt(np.maximum(d2[:, :m], 0.0))
    dist[idx < 0] = np.inf
    return idx, dist


def knn_query(
    base: NDArray[np.float32], queries: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` nearest ``base`` rows of each query row, by exact search.

    Exact flat search costs ``n_queries * n_base * d`` multiply-adds; with BLAS
    1,000 queries against 1M base rows take a few seconds, so no index has to
    be kept between calls.

    Args:
        base: ``float32 (n, d)``; all-NaN rows are never returned.
        queries: ``float32 (m, d)``; all-NaN rows get no neighbours.
        k: neighbours per query.

    Returns:
        ``(idx, dist)``: ``int64 (m, k)`` base rows (``-1`` where missing) and
        ``float32 (m, k)`` Euclidean distances (``inf`` where missing).
    """
    m = queries.shape[0]
    idx = np.full((m, k), -1, dtype=np.int64)
    dist = np.full((m, k), np.inf, dtype=np.float32)
    brows = _finite_rows(base)
    qrows = _finite_rows(queries)
    if brows.size == 0 or qrows.size == 0 or k < 1:
        return idx, dist
    index = faiss.IndexFlatL2(base.shape[1])
    # avoid a second copy of a large base when every row is usable
    index.add(np.ascontiguousarray(base if brows.size == base.shape[0] else base[brows], dtype=np.float32))
    kk = min(k, brows.size)
    d2, nb = index.search(np.ascontiguousarray(queries[qrows], dtype=np.float32), kk)
    idx[qrows, :kk] = np.where(nb >= 0, brows[np.clip(nb, 0, None)], -1)
    dist[qrows, :kk] = np.sqrt(np.maximum(d2, 0.0))
    dist[idx < 0] = np.inf
    return idx, dist
