"""Infomap on the k-nearest-neighbour graph.

Sources: M. Rosvall, C. T. Bergstrom, PNAS 2008 (the map equation); the
``infomap`` package (mapequation.org); the face-clustering recipe of
``xiaoxiong74/face-cluster-by-infomap`` (faiss kNN, edges weighted by cosine
similarity, edges below a similarity floor dropped, two-level Infomap).
That recipe's defaults (k=50, similarity floor 0.58 on ArcFace) are quoted
from memory (uncertain).

Mapping: cosine similarity 0.58 -> cosine distance 0.42 -> unit-sphere L2
0.917 -> fraction of ArcFace's 1.13 -> 0.49 in dlib space. We keep an edge
when its dlib Euclidean distance is below that bound; its weight is the
cosine similarity of the L2-normalised dlib vectors. Faces with no edge are
singletons (Infomap's own behaviour for isolated nodes).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile_bench.peers.graph import knn
from facefile_bench.peers.mapping import cosine_to_l2, to_dlib

SOURCE = "infomap package; face-cluster-by-infomap recipe (kNN graph)"
DEFAULT: dict[str, float] = {"k": 50, "max_dist": round(to_dlib(cosine_to_l2(0.42), "arcface"), 3)}
GRID: list[dict[str, float]] = [
    {"k": k, "max_dist": d} for k in (10, 30, 50) for d in (0.4, 0.45, 0.5, 0.55, 0.6)
]
MAX_FACES = 1_000_000


def cluster(
    x: NDArray[np.floating], k: float = 50, max_dist: float = 0.49, seed: int = 1
) -> NDArray[np.int64]:
    """Two-level Infomap modules of the pruned kNN graph.

    Returns:
        ``int64 (n,)`` module labels ``0..c-1``.
    """
    from infomap import Infomap

    n = int(x.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx, dist = knn(x, int(k) + 1)
    xf = np.asarray(x, dtype=np.float64)
    unit = xf / np.maximum(np.linalg.norm(xf, axis=1, keepdims=True), 1e-12)
    im = Infomap(two_level=True, silent=True, seed=seed, num_trials=1)
    for i in range(n):
        im.add_node(i)
    src = np.repeat(np.arange(n), idx.shape[1])
    dst = idx.ravel()
    keep = (dst != src) & (dst >= 0) & (dist.ravel() < max_dist)
    src, dst = src[keep], dst[keep]
    w = np.clip((unit[src] * unit[dst]).sum(axis=1), 1e-6, None)
    for a, b, ww in zip(src.tolist(), dst.tolist(), w.tolist(), strict=True):
        im.add_link(a, b, ww)
    result = im.run()
    modules = dict(result.modules()) if result is not None else im.get_modules()
    # A node Infomap leaves out is alone: give it a module of its own.
    top = max(modules.values(), default=0) + 1
    raw = np.array([modules.get(i, top + i) for i in range(n)], dtype=np.int64)
    _, labels = np.unique(raw, return_inverse=True)
    return labels.astype(np.int64)
