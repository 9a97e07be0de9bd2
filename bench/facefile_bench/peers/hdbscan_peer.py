"""HDBSCAN, as LibrePhotos and Nextcloud Recognize group faces.

Sources: LibrePhotos ``api/directory_watcher``/``api/face_classify.py``
(``hdbscan.HDBSCAN`` over face encodings, Euclidean, noise kept unknown);
Nextcloud Recognize ``lib/Clustering/`` (a PHP HDBSCAN over face-api.js
128-d descriptors, a dlib-like space). Their exact parameters could not be
checked offline; the documented default used here is scikit-learn's
(``min_cluster_size=5``, ``min_samples=None``), which we believe is also the
order of magnitude both tools use (uncertain).

Implementation: ``sklearn.cluster.HDBSCAN``, the reference itself; noise
(``-1``) stays unassigned, as in both tools. No mapping: HDBSCAN has no
distance threshold except ``cluster_selection_epsilon``, searched in dlib
space in the grid (see the note on ``GRID``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SOURCE = "LibrePhotos / Nextcloud Recognize (HDBSCAN); sklearn.cluster.HDBSCAN"
DEFAULT: dict[str, float | None] = {
    "min_cluster_size": 5,
    "min_samples": None,
    "cluster_selection_epsilon": 0.0,
}
GRID: list[dict[str, float | None]] = [
    {"min_cluster_size": m, "min_samples": s, "cluster_selection_epsilon": 0.0}
    for m in (2, 3, 4, 5, 8)
    for s in (1, 2, 3, None)
]
# cluster_selection_epsilon > 0 crashes scikit-learn 1.9.1's epsilon_search
# ("only 0-dimensional arrays can be converted to Python scalars"), so the grid
# keeps it at 0.
MAX_FACES = 100_000
"""Memory and time grow too fast in 128-d beyond this on a laptop."""


def cluster(
    x: NDArray[np.floating],
    min_cluster_size: float = 5,
    min_samples: float | None = None,
    cluster_selection_epsilon: float = 0.0,
) -> NDArray[np.int64]:
    """HDBSCAN labels, ``-1`` for noise (unassigned)."""
    from sklearn.cluster import HDBSCAN

    xf = np.asarray(x, dtype=np.float64)
    n = xf.shape[0]
    if n < 2:
        return np.full(n, -1, dtype=np.int64)
    model = HDBSCAN(
        min_cluster_size=max(2, min(int(min_cluster_size), n)),
        min_samples=None if min_samples is None else int(min_samples),
        cluster_selection_epsilon=float(cluster_selection_epsilon),
        copy=True,
    )
    return model.fit_predict(xf).astype(np.int64)
