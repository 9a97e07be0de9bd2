"""Grouping quality on one embedded labelled set: facefile beside the peers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile_bench.embedcache import EmbeddedSet
from facefile_bench.facefile_column import facefile_grouper
from facefile_bench.metrics import score
from facefile_bench.peers import load_peer, peer_names


def kept_with_clean(truth: NDArray[Any], pred: NDArray[np.int64], affected: NDArray[np.bool_]) -> float:
    """Share of affected faces grouped with at least one clean face of their person.

    Only affected faces whose identity has a clean image count. Unassigned
    faces (``-1``) are never kept.

    Returns:
        A ratio in ``[0, 1]``, or NaN when no affected face qualifies.
    """
    clean_ids = set(truth[~affected].tolist())
    hits, total = 0, 0
    for i in np.flatnonzero(affected):
        if truth[i] not in clean_ids:
            continue
        total += 1
        if pred[i] < 0:
            continue
        same = (pred == pred[i]) & (truth == truth[i]) & ~affected
        hits += int(same.any())
    return hits / total if total else float("nan")


def _row(
    es: EmbeddedSet,
    algorithm: str,
    kind: str,
    params: dict[str, Any],
    labels_det: NDArray,
    seconds: float,
) -> dict[str, Any]:
    pred = np.full(es.n, -1, np.int64)
    pred[es.is_detected] = labels_det
    truth = np.array(es.identities)
    s = score(truth, pred).to_dict()
    s.update(
        algorithm=algorithm,
        kind=kind,
        params=params,
        seconds=round(seconds, 4),
        faces_detected=int(es.is_detected.sum()),
        images=es.n,
        kept_with_clean=kept_with_clean(truth, pred, es.is_affected),
        condition=es.condition,
        # Per image, in LabelledSet order: lets anyone rescore the grouping.
        labels=pred.tolist(),
    )
    return s


def _timed(fn: Callable[[], NDArray[np.int64]]) -> tuple[NDArray[np.int64], float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_quality(
    es: EmbeddedSet,
    peers: Sequence[str] | None = None,
    use_grid: bool = True,
    metric: str = "bcubed_f",
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Score facefile (defaults) and each peer (default and best of grid).

    Args:
        es: the embedded set (undetected images count as singletons).
        peers: peer names; all by default.
        use_grid: also search each peer's grid and report its best setting.
        metric: the score that picks the best-of-grid setting.
        progress: called with a short message per algorithm.

    Returns:
        One dict per (algorithm, kind) with every metric, the parameters and
        the grouping time in seconds.
    """
    det = es.is_detected
    views = {k: v[det] for k, v in es.embeddings.items()}
    x = views["full"]
    photo_ids = np.flatnonzero(det).astype(np.int64)
    rows: list[dict[str, Any]] = []

    ff = facefile_grouper()
    if progress:
        progress(ff.name)
    labels, dt = _timed(
        lambda: ff.group(views, photo_ids, es.quality[det], es.size_px[det], occlusion=es.occlusion[det])
    )
    rows.append(_row(es, ff.name, "facefile default", {}, labels, dt))

    for name in peers or peer_names():
        mod = load_peer(name)
        if progress:
            progress(name)
        labels, dt = _timed(lambda mod=mod: mod.cluster(x, **mod.DEFAULT))
        rows.append(_row(es, name, "peer default", dict(mod.DEFAULT), labels, dt))
        if not use_grid:
            continue
        best: dict[str, Any] | None = None
        total = 0.0
        for params in mod.GRID:
            labels, dt = _timed(lambda mod=mod, params=params: mod.cluster(x, **params))
            total += dt
            r = _row(es, name, "peer best-of-grid", dict(params), labels, dt)
            if best is None or r[metric] > best[metric]:
                best = r
        if best is not None:
            best["grid_size"] = len(mod.GRID)
            best["grid_seconds"] = round(total, 3)
            rows.append(best)
    return rows
