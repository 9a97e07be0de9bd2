"""Approximate rank-order clustering (Otto, Wang, Jain, TPAMI 2018).

Source: C. Otto, D. Wang, A. K. Jain, "Clustering Millions of Faces by
Identity", IEEE TPAMI 40(2), 2018, section 3 (approximate rank-order).

For faces ``a`` and ``b`` with top-``k`` lists (exact here; the paper uses
randomized k-d trees):

* ``O_a(b)``: rank of ``b`` in ``a``'s list (1-based; ``k`` if absent);
* ``d(a, b) = sum_{i=1..min(O_a(b), k)} [O_b(f_a(i)) >= k]`` -- the number
  of ``a``'s neighbours up to ``b`` that are *not* in ``b``'s list;
* ``D(a, b) = (d(a, b) + d(b, a)) / min(O_a(b), O_b(a))``.

Distances are computed only for ``b`` in ``a``'s list; pairs with
``D < threshold`` are linked and clusters are the connected components
(one transitive merge, as in the paper). The paper uses ``k = 200``; its
threshold is tuned per experiment, 1.6 here (uncertain). Rank-based, so no
mapping from another space is needed. Every face gets a label.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile_bench.peers.graph import knn

SOURCE = "Otto, Wang, Jain, TPAMI 2018 (approximate rank-order)"
DEFAULT: dict[str, float] = {"k": 200, "threshold": 1.6}
GRID: list[dict[str, float]] = [
    {"k": k, "threshold": t} for k in (10, 20, 50, 200) for t in (0.5, 1.0, 1.6, 2.5, 4.0)
]
MAX_FACES = 20_000
"""The distance loop is pure Python, ``O(n k^2)``: minutes already at 10k with k=200."""


def cluster(x: NDArray[np.floating], k: float = 200, threshold: float = 1.6) -> NDArray[np.int64]:
    """Approximate rank-order clusters.

    Returns:
        ``int64 (n,)`` labels ``0..c-1``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(x.shape[0])
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    kk = int(min(k, n))
    idx, _ = knn(x, kk)
    # rank[a][b] for b in a's list, 1-based; row a's neighbour set for lookups.
    sets = [dict(zip(row.tolist(), range(1, kk + 1), strict=True)) for row in idx]
    rows: list[int] = []
    cols: list[int] = []
    for a in range(n):
        la = idx[a].tolist()
        sa = sets[a]
        for pos_b in range(1, kk):
            b = la[pos_b]
            if b < a and a in sets[b]:
                continue  # computed from b's side already (D is symmetric)
            o_ab = pos_b + 1
            sb = sets[b]
            o_ba = sb.get(a, kk)
            d_ab = sum(1 for f in la[: min(o_ab, kk)] if f not in sb)
            lb = idx[b].tolist()
            d_ba = sum(1 for f in lb[: min(o_ba, kk)] if f not in sa)
            if (d_ab + d_ba) / min(o_ab, o_ba) < threshold:
                rows.append(a)
                cols.append(b)
    adj = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return labels.astype(np.int64)
