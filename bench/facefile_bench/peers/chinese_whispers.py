"""dlib's Chinese whispers, as used by dlib's face-clustering example.

Source: dlib ``tools/python/src/face_recognition.cpp``
(``chinese_whispers_clustering``) and ``dlib/clustering/chinese_whispers.h``;
example ``python_examples/face_clustering.py`` (threshold 0.5).

Faithful points: an edge joins ``i`` and ``j`` (``i <= j``, so every face has
a self-edge) when ``||d_i - d_j|| < threshold``; every edge weighs 1; the
algorithm runs ``100 * n`` single-node updates, each picking a random node and
giving it the label with the largest summed edge weight among its
neighbours, ties going to the smallest label (dlib iterates a ``std::map``
and keeps the first strict maximum). dlib uses its own ``dlib::rand``; we use
numpy's seeded generator, so labels match dlib's up to the random visiting
order (tests compare the two on the same graph).

Threshold mapping: none needed, dlib's example runs in the dlib space itself.
Every face gets a label; nothing is left unassigned.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile_bench.peers.graph import radius_graph

SOURCE = "dlib face_clustering.py / dlib.chinese_whispers_clustering"
DEFAULT: dict[str, float] = {"threshold": 0.5}
GRID: list[dict[str, float]] = [{"threshold": t} for t in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)]
MAX_FACES = 300_000
"""Python loop of 100 updates per face: larger inputs take too long to be useful."""


def cluster(
    x: NDArray[np.floating], threshold: float = 0.5, n_iterations: int = 100, seed: int = 0
) -> NDArray[np.int64]:
    """Chinese whispers on the ``< threshold`` graph of ``x``.

    Args:
        x: ``(n, d)`` descriptors, dlib space.
        threshold: Euclidean edge bound.
        n_iterations: updates per node (dlib: 100).
        seed: random visiting order.

    Returns:
        ``int64 (n,)`` labels ``0..k-1`` in order of first appearance.
    """
    n = int(x.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    g = radius_graph(x, threshold)
    return whispers(g.indptr, g.indices, n_iterations=n_iterations, seed=seed)


def whispers(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    n_iterations: int = 100,
    seed: int = 0,
) -> NDArray[np.int64]:
    """The label-propagation loop of ``dlib::chinese_whispers`` with unit weights."""
    n = int(indptr.shape[0] - 1)
    neigh = [indices[indptr[i] : indptr[i + 1]].tolist() for i in range(n)]
    labels = list(range(n))
    rng = np.random.default_rng(seed)
    total = n * n_iterations
    picks = rng.integers(0, n, size=total) if total else np.zeros(0, np.int64)
    for idx in picks.tolist():
        nb = neigh[idx]
        if not nb:
            continue
        counts: dict[int, int] = {}
        for j in nb:
            lab = labels[j]
            counts[lab] = counts.get(lab, 0) + 1
        best_label, best = labels[idx], -1
        for lab in sorted(counts):
            if counts[lab] > best:
                best, best_label = counts[lab], lab
        labels[idx] = best_label
    remap: dict[int, int] = {}
    out = np.empty(n, dtype=np.int64)
    for i, lab in enumerate(labels):
        out[i] = remap.setdefault(lab, len(remap))
    return out
