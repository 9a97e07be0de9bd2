"""Agglomerative clustering, average linkage, cut at a distance threshold.

Source: the textbook UPGMA method; reference implementation
``sklearn.cluster.AgglomerativeClustering(n_clusters=None,
distance_threshold=t, linkage="average")``. We compute it with
``scipy.cluster.hierarchy.linkage(method="average")`` and cut where the
merge height is ``>= t`` (sklearn's rule), so the clusters are identical.

No tool documents a default; ours is dlib's same-person bound 0.6 (dlib
space, no mapping). Every face gets a label.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SOURCE = "UPGMA; reference sklearn.cluster.AgglomerativeClustering(linkage='average')"
DEFAULT: dict[str, float] = {"threshold": 0.6}
GRID: list[dict[str, float]] = [{"threshold": t} for t in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)]
MAX_FACES = 30_000
"""The condensed distance matrix takes ``4 n^2`` bytes: 3.6 GB at 30k."""


def cluster(x: NDArray[np.floating], threshold: float = 0.6) -> NDArray[np.int64]:
    """Average-linkage clusters whose merges all stay below ``threshold``.

    Returns:
        ``int64 (n,)`` labels ``0..k-1``.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    xf = np.asarray(x, dtype=np.float64)
    n = xf.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    z = linkage(xf, method="average", metric="euclidean")
    # sklearn stops merging at the first height >= threshold; fcluster keeps
    # merges with height <= t, so cut just below the threshold.
    t = np.nextafter(threshold, -np.inf)
    labels = fcluster(z, t=t, criterion="distance")
    return (labels - 1).astype(np.int64)
