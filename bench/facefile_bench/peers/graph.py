"""Neighbour graphs shared by the peers: exact radius and k-nearest-neighbour search.

Distances are Euclidean in the embedding space given (the dlib space in the
bench). Search runs on faiss' exact flat index, in chunks, so memory stays
``O(n * k)`` rather than ``O(n^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Csr:
    """Directed neighbour lists: row ``i`` owns ``indices[indptr[i]:indptr[i+1]]``.

    ``dist`` is the Euclidean distance of each edge; rows are sorted by distance.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    dist: NDArray[np.float32]

    @property
    def n(self) -> int:
        return int(self.indptr.shape[0] - 1)


def _as_f32(x: NDArray[np.floating]) -> NDArray[np.float32]:
    return np.ascontiguousarray(x, dtype=np.float32)


def knn(x: NDArray[np.floating], k: int, chunk: int = 8192) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact k nearest neighbours of every row, itself included at rank 0.

    Args:
        x: ``(n, d)`` vectors.
        k: neighbours per row (clipped to ``n``).

    Returns:
        ``(idx, dist)``, both ``(n, k)``; ``dist`` is Euclidean, ascending.
    """
    import faiss

    xf = _as_f32(x)
    n, d = xf.shape
    k = max(1, min(k, n))
    index = faiss.IndexFlatL2(d)
    index.add(xf)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, chunk):
        d2, i = index.search(xf[s : s + chunk], k)
        idx[s : s + chunk] = i
        dist[s : s + chunk] = np.sqrt(np.maximum(d2, 0.0))
    return idx, dist


def radius_graph(x: NDArray[np.floating], radius: float, chunk: int = 4096) -> Csr:
    """All pairs closer than ``radius`` (strictly), self-pairs included.

    Args:
        x: ``(n, d)`` vectors.
        radius: Euclidean distance bound.

    Returns:
        A :class:`Csr` with each row sorted by distance.
    """
    import faiss

    xf = _as_f32(x)
    n, d = xf.shape
    index = faiss.IndexFlatL2(d)
    index.add(xf)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    dists: list[NDArray[np.float32]] = []
    # faiss returns d^2 < r^2; the small slack is removed by the exact check below.
    r2 = float(radius) ** 2 * (1.0 + 1e-5)
    for s in range(0, n, chunk):
        lims, d2, i = index.range_search(xf[s : s + chunk], r2)
        counts = np.diff(lims).astype(np.int64)
        rows.append(np.repeat(np.arange(s, s + counts.shape[0], dtype=np.int64), counts))
        cols.append(i.astype(np.int64))
        dists.append(np.sqrt(np.maximum(d2, 0.0)).astype(np.float32))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    dd = np.concatenate(dists) if dists else np.zeros(0, np.float32)
    # Recompute in float64 so the "< radius" test matches a numpy reference exactly.
    exact = np.linalg.norm(xf[r].astype(np.float64) - xf[c].astype(np.float64), axis=1)
    keep = exact < radius
    r, c, dd = r[keep], c[keep], exact[keep].astype(np.float32)
    order = np.lexsort((c, dd, r))
    r, c, dd = r[order], c[order], dd[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return Csr(indptr=indptr, indices=c, dist=dd)
