"""A library that grows: ingest a labelled set in increments and regroup each time.

The images are shuffled (seeded) and split into ``n_steps`` equal
increments, as photos arrive in a real library. After each increment the
grouping runs over all faces so far, passing the previous labels
(``previous_person``) so that the clusterer can keep people stable, exactly
as ``facefile scan`` does on a library. Immich, naturally incremental, keeps
its earlier assignments and only processes the new faces. The final step is
compared with a one-shot run over all faces.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from facefile_bench.embedcache import EmbeddedSet
from facefile_bench.facefile_column import facefile_grouper
from facefile_bench.metrics import score
from facefile_bench.peers import load_peer


def run_growth(es: EmbeddedSet, n_steps: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """Quality after each increment, plus a one-shot run over everything.

    Args:
        es: the embedded set.
        n_steps: increments.
        seed: arrival order.

    Returns:
        Rows with ``algorithm``, ``step`` (``1..n_steps``, or ``"one-shot"``),
        ``images`` so far, ``seconds`` and every metric, on the images so far;
        after the first and the last step also a row scored on the first
        increment's images only (``step`` ``"1: first k only"``, ``"4: ..."``).
    """
    order = np.random.default_rng(seed).permutation(es.n)
    cuts = np.linspace(0, es.n, n_steps + 1).round().astype(int)
    truth_all = np.array(es.identities)
    ff = facefile_grouper()
    immich = load_peer("immich")
    rows: list[dict[str, Any]] = []
    prev_ff = np.full(es.n, -1, np.int64)
    prev_im = np.full(es.n, -1, np.int64)
    for step in range(1, n_steps + 1):
        seen = order[: cuts[step]]
        det = seen[es.is_detected[seen]]
        views = {k: v[det] for k, v in es.embeddings.items()}
        t0 = time.perf_counter()
        lab = ff.group(
            views,
            det.astype(np.int64),
            es.quality[det],
            es.size_px[det],
            previous=prev_ff[det],
            occlusion=es.occlusion[det],
        )
        dt_ff = time.perf_counter() - t0
        prev_ff[det] = lab
        t0 = time.perf_counter()
        lab_im = immich.cluster(views["full"], **immich.DEFAULT, initial=prev_im[det])
        dt_im = time.perf_counter() - t0
        prev_im[det] = lab_im
        for name, labels, dt in ((ff.name, prev_ff, dt_ff), ("immich", prev_im, dt_im)):
            pred = np.full(seen.shape[0], -1, np.int64)
            mask = es.is_detected[seen]
            pred[mask] = labels[seen[mask]]
            r = score(truth_all[seen], pred).to_dict()
            r.update(algorithm=name, step=step, images=int(seen.shape[0]), seconds=round(dt, 4))
            rows.append(r)
            if step in (1, n_steps):
                # the first increment's faces alone: does the library's growth help them?
                k = int(cuts[1])
                r = score(truth_all[seen[:k]], pred[:k]).to_dict()
                r.update(algorithm=name, step=f"{step}: first {k} only", images=k, seconds=round(dt, 4))
                rows.append(r)
    det = order[es.is_detected[order]]
    views = {k: v[det] for k, v in es.embeddings.items()}
    for name, fn in (
        (
            ff.name,
            lambda: ff.group(
                views, det.astype(np.int64), es.quality[det], es.size_px[det], occlusion=es.occlusion[det]
            ),
        ),
        ("immich", lambda: immich.cluster(views["full"], **immich.DEFAULT)),
    ):
        t0 = time.perf_counter()
        lab = fn()
        dt = time.perf_counter() - t0
        pred = np.full(es.n, -1, np.int64)
        pred[es.is_detected[order]] = lab
        r = score(truth_all[order], pred).to_dict()
        r.update(algorithm=name, step="one-shot", images=es.n, seconds=round(dt, 4))
        rows.append(r)
    return rows
