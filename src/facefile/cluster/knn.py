"""Nearest neighbours for grouping: exact for small sets, a faiss IVF index at scale.

Distances are Euclidean in the stored vectors' units. All-NaN rows (a view
the face lacks) get no neighbours. Queries run in chunks, and
:func:`knn_edges` keeps only the edges under a cut, so memory at a million
faces stays near the size of the descriptors (measurements: BENCHMARKS.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import faiss


@cache
def _faiss() -> Any:
    """faiss, imported on first use (not when facefile is imported: it takes a tenth of a second).

    Idle OpenMP threads sleep instead of spinning: on a machine where other
    processes hold the cores, spinning threads made faiss's many short parallel
    steps (k-means training, per-chunk searches) up to 40 times slower (2-core
    machine under load: 1.3 s against 41 s to train the 100k index). The
    variable is read once, when the OpenMP runtime loads; a value the user set
    is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss


EXACT_MAX_N = 20_000
"""Above this many indexed rows the graph is built with an approximate index."""

CHUNK_ROWS = 16_384
"""Query rows per search call: bounds the temporary results whatever the collection size."""

IVF_PROBE = 8
"""Inverted lists searched per query, of ``4 * sqrt(n)``: finds 0.72 of the exact 30 nearest
at 100k synthetic faces, 0.53 at 1M (16 probes: 0.61, 25 s more per million queries)."""

REFINE_FACTOR = 8
"""Candidates per wanted neighbour re-ranked by exact distance after the 4-bit codes."""

QUERY_BASE_CHUNK = 131_072
"""Base rows per block in :func:`knn_query`: no copy of a large library."""

SMALL_SEARCH_FLOPS = 5e11
"""Searches under this many multiply-adds run on one thread (spinning threads cost more)."""


def _finite_rows(x: NDArray[np.float32]) -> NDArray[np.int64]:
    return np.flatnonzero(np.isfinite(x).all(axis=1)).astype(np.int64)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def faiss_threads(n_threads: int) -> Iterator[None]:
    """Run faiss with ``n_threads`` OpenMP threads inside the block, then restore."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, int(n_threads)))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _make_index(base: NDArray[np.float32], exact_max_n: int) -> faiss.Index:
    faiss = _faiss()
    n, d = base.shape
    if n <= exact_max_n:
        index = faiss.IndexFlatL2(d)
        index.add(base)
        return index
    # IVF trains in seconds where HNSW takes many minutes to build at 1M rows
    n_lists = int(np.clip(4 * np.sqrt(n), 64, 16384))
    quantizer = faiss.IndexFlatL2(d)
    if d % 2:  # 4-bit codes take two dimensions each
        ivf = index = faiss.IndexIVFFlat(quantizer, d, n_lists)
    else:
        # the lists hold 4-bit codes scanned with SIMD lookups, and the best
        # REFINE_FACTOR * k of each query are re-ranked by exact distance:
        # the same neighbours as scanning full vectors, 5 times faster at 1M
        ivf = faiss.IndexIVFPQFastScan(quantizer, d, n_lists, d // 2, 4)
        index = faiss.IndexRefineFlat(ivf)  # keeps its own copy of the rows, as IVFFlat's lists did
        index.k_factor = REFINE_FACTOR
    ivf.cp.niter = 10  # coarse lists need not be optimal, only balanced
    ivf.cp.min_points_per_centroid = 16
    ivf.nprobe = IVF_PROBE
    rng = np.random.default_rng(0)
    index.train(base[np.sort(rng.choice(n, size=min(n, 20 * n_lists), replace=False))])
    index.add(base)
    return index


def _search_chunks(
    x: NDArray[np.float32], k: int, exact_max_n: int, chunk_rows: int
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    """Yield ``(rows, nb, dist)`` per chunk of query rows.

    ``rows``: ``int64 (c,)`` row numbers of ``x``; ``nb``: ``int64 (c, m)``
    neighbour rows (``-1`` where missing), never the row itself; ``dist``:
    ``float32 (c, m)`` Euclidean, nearest first; ``m = min(k, n_finite - 1)``.
    """
    rows = _finite_rows(x)
    if rows.size < 2 or k < 1:
        return
    # no copy of a large matrix when every row is usable (the common case)
    base = np.ascontiguousarray(x if rows.size == x.shape[0] else x[rows], dtype=np.float32)
    kk = min(k + 1, rows.size)
    m = min(k, kk - 1)
    with faiss_threads(available_cores()):
        index = _make_index(base, exact_max_n)
        for s in range(0, rows.size, chunk_rows):
            q = base[s : s + chunk_rows]
            d2, nb = index.search(q, kk)
            nb_rows = np.where(nb >= 0, rows[np.clip(nb, 0, None)], -1)
            crows = rows[s : s + chunk_rows]
            # drop the row itself (or the farthest hit when self was not returned)
            keep = nb_rows != crows[:, None]
            keep[keep.sum(axis=1) > kk - 1, kk - 1] = False
            nb_rows = nb_rows[keep].reshape(crows.size, kk - 1)[:, :m]
            dist = np.sqrt(np.maximum(d2[keep].reshape(crows.size, kk - 1)[:, :m], 0.0))
            dist[nb_rows < 0] = np.inf
            yield crows, nb_rows, dist


def knn_graph(
    x: NDArray[np.float32], k: int, *, exact_max_n: int = EXACT_MAX_N, chunk_rows: int = CHUNK_ROWS
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` nearest other rows of every row.

    Args:
        x: ``float32 (n, d)`` embeddings; all-NaN rows are skipped.
        k: neighbours per row (fewer where there are fewer rows).
        exact_max_n: up to this many rows the search is exact (faiss flat);
            above it, a faiss IVF index is used (approximate, memory
            ``O(n * d)``, never an ``n x n`` matrix).
        chunk_rows: query rows per search call.

    Returns:
        ``(idx, dist)``: ``int64 (n, k)`` row numbers (``-1`` where missing)
        and ``float32 (n, k)`` Euclidean distances (``inf`` where missing),
        nearest first, never the row itself.
    """
    n = x.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    for rows, nb, d in _search_chunks(x, k, exact_max_n, chunk_rows):
        idx[rows, : nb.shape[1]] = nb
        dist[rows, : nb.shape[1]] = d
    return idx, dist


def knn_edges(
    x: NDArray[np.float32],
    k: int,
    max_dist: float = np.inf,
    *,
    density_k: int = 0,
    exact_max_n: int = EXACT_MAX_N,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]], None] | None = None,
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32], NDArray[np.float32]]:
    """Directed kNN edges no longer than ``max_dist``, built chunk by chunk.

    The same neighbours as :func:`knn_graph`, but the ``(n, k)`` table is
    never held: each chunk's edges longer than ``max_dist`` are dropped as
    soon as they are found. At a million faces with ``k = 30`` this keeps a
    fraction of the 30M edges (most neighbours of the many one-face people
    are strangers, far away), at 12 bytes each.

    Args:
        x: ``float32 (n, d)`` embeddings; all-NaN rows are skipped.
        k: neighbours per row.
        max_dist: longest edge kept (Euclidean, inclusive); ``inf`` keeps all.
        density_k: also return each row's mean distance to its nearest
            ``density_k`` neighbours, measured before the cut (0: skip).
        exact_max_n, chunk_rows: as in :func:`knn_graph`.
        on_chunk: hears each chunk ``(rows, nb, dist)`` before the cut
            (``max(k, density_k)`` neighbours, as :func:`knn_graph` gives them).

    Returns:
        ``(src, dst, dist, rho)``: ``int32 (e,)`` row and neighbour,
        ``float32 (e,)`` their distance (``<= max_dist``), ordered by ``src``
        then nearest first; ``rho``: ``float32 (n,)`` mean distance to the
        nearest ``density_k`` neighbours (``inf`` where unknown; all ``inf``
        when ``density_k`` is 0).
    """
    n = x.shape[0]
    if n >= 2**31:
        raise ValueError(f"knn_edges handles up to 2**31 - 1 rows, got {n}; use knn_graph.")
    rho = np.full(n, np.inf, dtype=np.float32)
    srcs: list[NDArray[np.int32]] = []
    dsts: list[NDArray[np.int32]] = []
    dists: list[NDArray[np.float32]] = []
    for rows, nb, d in _search_chunks(x, max(k, density_k), exact_max_n, chunk_rows):
        if on_chunk is not None:
            on_chunk(rows, nb, d)
        if density_k:
            rho[rows] = d[:, :density_k].mean(axis=1)
        nb, d = nb[:, :k], d[:, :k]
        ok = (nb >= 0) & (d <= max_dist)
        srcs.append(np.repeat(rows.astype(np.int32), ok.sum(axis=1)))
        dsts.append(nb[ok].astype(np.int32))
        dists.append(d[ok].astype(np.float32))
    if not srcs:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), rho
    return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(dists), rho


def knn_query(
    base: NDArray[np.float32],
    queries: NDArray[np.float32],
    k: int,
    *,
    base_rows: NDArray[np.int64] | None = None,
    chunk_rows: int = QUERY_BASE_CHUNK,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` nearest ``base`` rows of each query row, by exact search.

    Exact search costs ``n_queries * n_base * d`` multiply-adds: with BLAS,
    1,000 queries against 1M base rows take a few seconds of one core, less
    than building any index over the base (an IVF index must assign all 1M
    rows to its lists, about four times that work), so nothing is kept
    between calls. The base is scanned in blocks of ``chunk_rows`` rows and
    the running best ``k`` merged, so no copy of the base is made. Small
    searches run on one thread (see :data:`SMALL_SEARCH_FLOPS`).

    Args:
        base: ``float32 (n, d)``; all-NaN rows are never returned.
        queries: ``float32 (m, d)``; all-NaN rows get no neighbours.
        k: neighbours per query.
        base_rows: ``int64 (b,)`` the rows of ``base`` searched (default:
            all); cheaper than passing ``base[base_rows]``, a copy.
        chunk_rows: base rows per block.

    Returns:
        ``(idx, dist)``: ``int64 (m, k)`` row numbers of ``base`` (``-1``
        where missing) and ``float32 (m, k)`` Euclidean distances (``inf``
        where missing), nearest first.
    """
    m = queries.shape[0]
    idx = np.full((m, k), -1, dtype=np.int64)
    dist = np.full((m, k), np.inf, dtype=np.float32)
    qrows = _finite_rows(queries)
    n_base = base.shape[0] if base_rows is None else base_rows.size
    if n_base == 0 or qrows.size == 0 or k < 1:
        return idx, dist
    q = np.ascontiguousarray(queries[qrows], dtype=np.float32)
    faiss = _faiss()
    heap = faiss.ResultHeap(q.shape[0], k)
    work = float(q.shape[0]) * n_base * base.shape[1]
    with faiss_threads(1 if work < SMALL_SEARCH_FLOPS else available_cores()):
        for s in range(0, n_base, chunk_rows):
            if base_rows is None:
                ids = np.arange(s, min(s + chunk_rows, n_base))
                block = np.ascontiguousarray(base[s : s + chunk_rows], dtype=np.float32)
            else:
                ids = base_rows[s : s + chunk_rows]
                block = np.ascontiguousarray(base[ids], dtype=np.float32)
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                block = np.where(finite[:, None], block, 0.0).astype(np.float32)
            kb = min(k, block.shape[0])
            d2, nb = faiss.knn(q, block, kb)
            bad = (nb < 0) | ~finite[np.clip(nb, 0, None)]
            d2 = np.where(bad, np.float32(np.inf), d2).astype(np.float32)
            nb = np.where(bad, -1, ids[np.clip(nb, 0, None)]).astype(np.int64)
            if kb < k:  # the heap takes exactly k columns
                d2 = np.pad(d2, ((0, 0), (0, k - kb)), constant_values=np.inf)
                nb = np.pad(nb, ((0, 0), (0, k - kb)), constant_values=-1)
            heap.add_result(np.ascontiguousarray(d2), np.ascontiguousarray(nb))
    heap.finalize()
    # unfilled heap slots hold label -1 with FLT_MAX, not inf
    found = heap.I >= 0
    idx[qrows] = np.where(found, heap.I, -1)
    dist[qrows] = np.where(found, np.sqrt(np.maximum(heap.D, 0.0)), np.inf)
    return idx, dist
