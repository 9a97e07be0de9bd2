"""PhotoPrism's face clustering: DBSCAN, then matching of the remaining faces.

Source: ``photoprism/photoprism`` ``internal/ai/face/face.go`` constants
(``ClusterCore`` 4, ``ClusterDist`` 0.64, ``MatchDist`` 0.46),
``internal/photoprism/faces_cluster.go`` (DBSCAN over unclustered
embeddings, Euclidean) and ``internal/entity/face.go`` (``Face.Match``: a
marker joins the cluster whose centroid is nearest, when that distance is at
most the cluster's sample radius plus ``MatchDist``). Recalled from the code,
not copied: treat ``MatchDist`` and the radius rule as uncertain.

Our DBSCAN is scikit-learn's (``min_samples`` counts the point itself, as the
Go ``clusters`` package does -- uncertain). Clusters become centroids with a
radius (largest member distance); noise faces are matched afterwards.

Mapping: PhotoPrism's FaceNet gives 512-d unit vectors; 0.64 and 0.46 are
Euclidean there. Fraction of FaceNet512's 1.04 verification threshold,
times 0.6: ``ClusterDist`` -> 0.37, ``MatchDist`` -> 0.27 (``mapping.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile_bench.peers.mapping import to_dlib

SOURCE = "photoprism internal/ai/face (ClusterCore=4, ClusterDist=0.64, MatchDist=0.46)"
DEFAULT: dict[str, float] = {
    "cluster_dist": round(to_dlib(0.64, "facenet512"), 3),
    "core": 4,
    "match_dist": round(to_dlib(0.46, "facenet512"), 3),
}
GRID: list[dict[str, float]] = [
    {"cluster_dist": c, "core": k, "match_dist": m}
    for c in (0.35, 0.4, 0.45, 0.5)
    for k in (2, 3, 4)
    for m in (0.0, 0.1, 0.2)
]
MAX_FACES = 200_000
"""DBSCAN's neighbourhood queries in 128-d degrade to brute force."""


def cluster(
    x: NDArray[np.floating], cluster_dist: float = 0.37, core: int = 4, match_dist: float = 0.27
) -> NDArray[np.int64]:
    """DBSCAN clusters plus centroid matching of the leftovers.

    Returns:
        ``int64 (n,)`` labels, ``-1`` for faces matching no cluster.
    """
    from sklearn.cluster import DBSCAN

    xf = np.asarray(x, dtype=np.float64)
    if xf.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    labels = DBSCAN(eps=cluster_dist, min_samples=int(core)).fit_predict(xf).astype(np.int64)
    k = int(labels.max(initial=-1)) + 1
    if k == 0:
        return labels
    centroids = np.stack([xf[labels == c].mean(axis=0) for c in range(k)])
    radius = np.array([np.linalg.norm(xf[labels == c] - centroids[c], axis=1).max() for c in range(k)])
    noise = np.flatnonzero(labels < 0)
    if noise.shape[0]:
        c2 = (centroids**2).sum(axis=1)
        for s in range(0, noise.shape[0], 4096):
            rows = noise[s : s + 4096]
            d2 = (xf[rows] ** 2).sum(axis=1)[:, None] - 2.0 * xf[rows] @ centroids.T + c2
            best = d2.argmin(axis=1)
            dist = np.sqrt(np.maximum(d2[np.arange(rows.shape[0]), best], 0.0))
            ok = dist <= radius[best] + match_dist
            labels[rows[ok]] = best[ok]
    return labels
