"""A library of synthetic faces on SQLite and on PostgreSQL: a full regroup, then 1,000 faces placed.

Unlike ``bench scale``'s grouping runs, these go through the store: the
faces are rows of a real library (one photo per face, descriptors from
:func:`facefile_bench.scale.synthetic`), ``facefile.regroup.regroup`` reads
them back, groups them and writes every assignment; then 1,000 new faces
are added and placed the way a scan places them (``is_full=False``; on
PostgreSQL their nearest faces come from the HNSW index). Loading the
library is timed apart (bulk inserts; PostgreSQL builds its HNSW index
after the rows are in).
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np

from facefile.config import load_settings
from facefile.store.db import Store
from facefile.store.schema import now
from facefile_bench.scale import synthetic

EMBEDDER = "synthetic"
MODEL_ID = "synthetic_128d"
N_NEW = 1000
_BATCH = 20_000


def run_store_scale(location: str, n: int, seed: int = 0) -> dict[str, Any]:
    """Build an ``n``-face library at ``location`` (a folder or a ``postgresql://`` URL) and time it.

    Returns:
        ``load_s``, ``index_s`` (PostgreSQL's HNSW build), ``regroup_s``
        (full regroup: read, group, write), ``place_s`` (1,000 new faces
        placed), ``peak_mb`` (this process), ``people``, ``placed``.
    """
    from facefile.regroup import regroup

    x, _truth = synthetic(n + N_NEW, seed)
    register_synthetic()
    store = Store(location, create=True)
    settings = load_settings(
        None, {"analyze.embedder": EMBEDDER, "analyze.views": ("full",), "group.incremental_above": 0}
    )
    try:
        t0 = time.perf_counter()
        _insert(store, x[:n], 0)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = getattr(store.engine, "index_all_vectors", None)
        if index is not None:
            store.conn.execute("SET maintenance_work_mem = '2GB'")
            index()
        index_s = time.perf_counter() - t0
        db_mb = _size_mb(store)
        t0 = time.perf_counter()
        full = regroup(store, settings, is_full=True)
        regroup_s = time.perf_counter() - t0
        _insert(store, x[n:], n)
        t0 = time.perf_counter()
        added = regroup(store, settings, is_full=False)
        place_s = time.perf_counter() - t0
    finally:
        store.close()
    return {
        "n_faces": n,
        "load_s": load_s,
        "index_s": index_s,
        "regroup_s": regroup_s,
        "place_s": place_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "db_mb": db_mb,
        "people": full.people,
        "placed": added.faces_assigned - full.faces_assigned,
    }


def _size_mb(store: Store) -> float:
    """The library's size on disk after loading: the database (PostgreSQL) or ``library.db`` and its WAL."""
    if store.dialect == "postgresql":
        return float(store.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]) / 2**20
    files = [store.library_dir / n for n in ("library.db", "library.db-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def register_synthetic() -> None:
    """Name the synthetic vectors' model the way a plugin names its own: an embedder and its model id.

    The synthetic faces have no pixels, so the embedder refuses to embed;
    grouping only needs to know which stored vectors are this model's.
    """
    from facefile.embed import EMBEDDERS, MODEL_IDS

    if not EMBEDDERS.knows(EMBEDDER):
        EMBEDDERS.register(EMBEDDER, _no_pixels)
        MODEL_IDS[EMBEDDER] = MODEL_ID


def _no_pixels(**_: Any) -> Any:
    from facefile.errors import FacefileError

    raise FacefileError(
        f"The {EMBEDDER!r} embedder of facefile_bench.store_scale stands for synthetic vectors; "
        "it cannot embed photos (use mobilefacenet)."
    )


def _insert(store: Store, x: np.ndarray, start: int) -> None:
    """One photo and one face per row, ids ``start + 1 ...``, in batched transactions."""
    stamp = now()
    for s in range(0, x.shape[0], _BATCH):
        rows = range(start + s + 1, start + min(s + _BATCH, x.shape[0]) + 1)
        with store.transaction() as c:
            c.executemany(
                "INSERT INTO photos (id, path, size, mtime_ns, content_hash, width, height, status, "
                "model_id, scanned_at) VALUES (?, ?, 1, 1, ?, 640, 480, 'ok', ?, ?)",
                [(i, f"/synthetic/{i}.jpg".encode(), f"h{i}", MODEL_ID, stamp) for i in rows],
            )
            c.executemany(
                'INSERT INTO faces (id, photo_id, "left", top, "right", bottom, detector, det_score, '
                "size_px, sharpness, yaw, quality, occ_lower, occ_eyes, occ_side, created_at) "
                "VALUES (?, ?, 10, 10, 110, 110, 'synthetic', 0.99, 100, 100, 0, 0.9, 0, 0, 0, ?)",
                [(i, i, stamp) for i in rows],
            )
            vectors = [(i, MODEL_ID, "full", x[i - start - 1]) for i in rows]
            if store.dialect == "postgresql" and start == 0:
                _insert_unindexed(c, vectors)  # bulk load first, build the HNSW index after
            else:
                store.engine.insert_embeddings(c, vectors)


def _insert_unindexed(c: Any, vectors: list[tuple[int, str, str, np.ndarray]]) -> None:
    from facefile.store.pg import vector_text

    c.executemany(
        "INSERT INTO embeddings (face_id, model_id, view, dim, vector, vec) "
        "VALUES (?, ?, ?, ?, ?, CAST(? AS vector))",
        [(i, m, v, int(x.shape[0]), x.tobytes(), vector_text(x)) for i, m, v, x in vectors],
    )


if __name__ == "__main__":
    # python -m facefile_bench.store_scale LOCATION N SEED
    import json
    import sys

    result = run_store_scale(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    sys.stdout.write(json.dumps(result) + "\n")
