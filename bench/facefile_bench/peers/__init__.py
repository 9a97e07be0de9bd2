"""Peers' grouping algorithms, re-implemented for the benchmark only.

Each module exposes ``SOURCE`` (where the algorithm and its default come
from), ``DEFAULT`` (its documented setting mapped into the dlib space),
``GRID`` (settings searched for the best-of-grid oracle), ``MAX_FACES``
(largest collection it can handle on a laptop) and
``cluster(x, **params) -> int64 (n,)`` labels with ``-1`` for unassigned.
Modules import their heavy dependencies inside ``cluster``.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

PEER_MODULES: dict[str, str] = {
    "dlib-chinese-whispers": "chinese_whispers",
    "immich": "immich",
    "photoprism-dbscan": "photoprism",
    "hdbscan": "hdbscan_peer",
    "agglomerative-average": "agglomerative",
    "rank-order": "rank_order",
    "infomap-knn": "infomap_peer",
}


def peer_names() -> list[str]:
    return list(PEER_MODULES)


def load_peer(name: str) -> ModuleType:
    """The module implementing peer ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        mod = PEER_MODULES[name]
    except KeyError:
        raise ValueError(
            f"Unknown peer {name!r}; available: {', '.join(PEER_MODULES)} (set --peers)."
        ) from None
    return import_module(f"facefile_bench.peers.{mod}")
