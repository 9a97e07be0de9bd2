"""Grouping time and peak memory on synthetic collections of 10k to 1M faces.

Synthetic descriptors imitate the real dlib set (``float32``, 128-d):

* identity sizes follow a Zipf law (exponent 2.0, capped at 300): about
  two thirds of identities have one face, as in LFW (2,043 of 2,860);
* an identity centre is ``mu + s_i N(0, sigma_between^2 I)`` and a face is
  its centre plus ``N(0, (t_i sigma_within)^2 I)``, with ``sigma_within =
  0.030``, ``sigma_between = 0.0435`` per dimension and per-identity factors
  ``s_i, t_i = exp(N(0, 0.25^2))``. Matched to dlib's ResNet on a 300-image
  lfw-dev subset: same-person distance median 0.42 (10-90%: 0.32-0.53),
  different-person median 0.81 (0.1%: 0.55);
* 5% of faces are noise: spread three times wider (blur, profile, bad crops).

Each (algorithm, size) runs in a fresh subprocess; peak memory is the
child's ``ru_maxrss`` minus its value right after generating the data, so it
is the grouping's own footprint. Peers above their ``MAX_FACES`` are skipped
with the reason; runs longer than the timeout are reported as such.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

SIGMA_WITHIN = 0.030
SIGMA_BETWEEN = 0.0435
SPREAD_JITTER = 0.25
NOISE_SHARE = 0.05
ZIPF_A = 2.0
MAX_IDENTITY = 300


def synthetic(n: int, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n`` synthetic dlib-like descriptors and their identity labels.

    Returns:
        ``(x float32 (n, 128), identity int64 (n,))``.
    """
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    total = 0
    while total < n:
        s = int(min(rng.zipf(ZIPF_A), MAX_IDENTITY, n - total))
        sizes.append(s)
        total += s
    ident = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    mu = rng.normal(0.0, 0.05, size=128).astype(np.float32)
    k = len(sizes)
    scale_b = np.exp(rng.normal(0.0, SPREAD_JITTER, size=(k, 1)))
    centres = (mu + scale_b * rng.normal(0.0, SIGMA_BETWEEN, size=(k, 128))).astype(np.float32)
    spread = (SIGMA_WITHIN * np.exp(rng.normal(0.0, SPREAD_JITTER, size=k))).astype(np.float32)
    x = np.empty((n, 128), np.float32)
    step = 200_000
    for s in range(0, n, step):
        e = min(n, s + step)
        noise = rng.normal(0.0, 1.0, size=(e - s, 128)).astype(np.float32)
        noise *= spread[ident[s:e], None]
        wide = rng.random(e - s) < NOISE_SHARE
        noise[wide] *= 3.0
        x[s:e] = centres[ident[s:e]] + noise
    perm = rng.permutation(n)
    return x[perm], ident[perm]


def _group(
    algorithm: str,
    x: NDArray[np.float32],
    on_step: Callable[[str, float], None] | None = None,
    on_neighbours: Callable[..., None] | None = None,
) -> NDArray[np.int64]:
    if algorithm == "facefile":
        from facefile_bench.facefile_column import facefile_grouper

        n = x.shape[0]
        ones = np.ones(n, np.float32)
        return facefile_grouper().group(
            {"full": x}, np.arange(n, dtype=np.int64), ones, ones * 100.0, on_step=on_step,
            on_neighbours=on_neighbours,
        )  # fmt: skip
    from facefile_bench.peers import load_peer

    mod = load_peer(algorithm)
    return mod.cluster(x, **mod.DEFAULT)


def _worker(algorithm: str, n: int, seed: int) -> dict[str, Any]:
    x, truth = synthetic(n, seed)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    graph: dict[str, float] = {}
    from facefile.people_index import GroupingNeighbours

    searched = GroupingNeighbours(n) if algorithm == "facefile" else None
    t0, c0 = time.perf_counter(), time.process_time()
    labels = _group(algorithm, x, on_step=partial(_graph_step, graph), on_neighbours=searched)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    regroup = {} if searched is None else _confidence_step(x, labels, searched)
    if regroup:
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        regroup["regroup_peak_mb"] = max(0, after - base) / 1024.0
    from facefile_bench.metrics import score

    scores = score(truth, np.asarray(labels, dtype=np.int64))
    bcubed_f, pairwise_f = scores.bcubed_f, scores.pairwise_f
    steps = {}
    if graph:
        steps = {
            "graph_seconds": graph["seconds"],
            "graph_peak_mb": max(0, graph["peak"] - base) / 1024.0,
            "linkage_seconds": dt - graph["seconds"],
        }
    return {
        "seconds": dt,
        "cpu_seconds": dc,
        "peak_mb": max(0, peak - base) / 1024.0,
        "bcubed_f": bcubed_f,
        "pairwise_f": pairwise_f,
        **steps,
        **regroup,
    }


def _confidence_step(x: NDArray[np.float32], labels: NDArray[np.int64], searched: Any) -> dict[str, float]:
    """Time what a full regroup does after grouping: every face's calibrated confidence.

    ``regroup`` stores :meth:`PeopleIndex.confidence` for every assigned face
    (the groups as people) from the grouping's own neighbour search
    (``searched``, a :class:`GroupingNeighbours`); the 10-minute target for
    a million faces counts it (not the store's reads and writes). The
    synthetic vectors vary in length as dlib's do, for which ``regroup``
    would search again; the step reads the grouping's table as it does for
    MobileFaceNet's vectors of one length (the same work). Returns the
    step's wall and CPU seconds.
    """
    from facefile.people_index import PeopleIndex

    t0, c0 = time.perf_counter(), time.process_time()
    length = np.float32(np.median(np.linalg.norm(x, axis=1)))
    near = searched.near(x) or (searched.idx, searched.dist / length)
    PeopleIndex(x, np.asarray(labels, dtype=np.int64)).confidence(near=near)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return {"confidence_seconds": dt, "confidence_cpu_seconds": dc}


def _graph_step(found: dict[str, float], step: str, seconds: float) -> None:
    """Note the time of facefile's neighbour-graph step and the peak memory right after it.

    Fed by ``GroupingInput.on_step``; the rest of the grouping is linkage.
    """
    if step == "graph":
        found["seconds"] = found.get("seconds", 0.0) + seconds
        found["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def max_faces(algorithm: str) -> int | None:
    if algorithm == "facefile":
        return None
    from facefile_bench.peers import load_peer

    return int(load_peer(algorithm).MAX_FACES)


def run_scale(
    sizes: list[int],
    algorithms: list[str],
    timeout_s: float = 600.0,
    seed: int = 0,
    progress: Any = None,
    max_memory_gb: float = 8.0,
) -> list[dict[str, Any]]:
    """Time and peak memory of each algorithm at each size, one subprocess each.

    Returns:
        Rows with ``algorithm``, ``n_faces``, ``status`` (``ok``, ``skipped``,
        ``timeout``, ``failed``), ``reason``, ``seconds``, ``peak_mb``, scores.
        Each child's address space is capped at ``max_memory_gb`` so one
        run cannot take a laptop's memory; over it, the run fails with
        ``MemoryError`` and the report says so.
    """
    limit = int(max_memory_gb * 2**30)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    rows: list[dict[str, Any]] = []
    for n in sizes:
        for algo in algorithms:
            row: dict[str, Any] = {"algorithm": algo, "n_faces": n}
            cap = max_faces(algo)
            if cap is not None and n > cap:
                row.update(status="skipped", reason=f"above MAX_FACES={cap} (O(n^2) time or memory)")
                rows.append(row)
                continue
            if progress:
                progress(f"{algo} at {n} faces")
            cmd = [sys.executable, "-m", "facefile_bench.scale", algo, str(n), str(seed)]
            try:
                res = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=timeout_s, preexec_fn=limit_memory
                )
            except subprocess.TimeoutExpired:
                row.update(status="timeout", reason=f"over {timeout_s:.0f} s")
                rows.append(row)
                continue
            if res.returncode != 0:
                tail = (res.stderr.strip().splitlines() or ["?"])[-1]
                if "MemoryError" in res.stderr or "bad_alloc" in res.stderr:
                    tail = f"MemoryError: over the {max_memory_gb:g} GB cap"
                row.update(status="failed", reason=tail[:200])
            else:
                row.update(status="ok", reason="", **json.loads(res.stdout.strip().splitlines()[-1]))
            rows.append(row)
    return rows


def time_add(n: int, n_new: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Time adding ``n_new`` faces to a grouped library of ``n - n_new`` faces.

    The library is the synthetic set with its true identities as persons
    (identities of one face unassigned), so the time is that of
    :func:`facefile.cluster.incremental.assign_new` alone, with no full
    regroup before it. The new faces are the last ``n_new`` rows.

    Returns:
        ``seconds`` (wall), ``cpu_seconds``, ``peak_mb`` (as in
        :func:`run_scale`), ``n_joined``, ``n_new_people``,
        ``joined_right``: share of the new faces whose identity already has
        a person that joined it, ``joined_wrong``: new faces put in another
        identity's existing person.
    """
    from facefile.cluster.base import GroupingInput
    from facefile.cluster.incremental import assign_new

    x, truth = synthetic(n, seed)
    sizes = np.bincount(truth)
    is_new = np.zeros(n, dtype=bool)
    is_new[n - n_new :] = True
    # a person exists for identities with two or more faces among the old rows
    old_sizes = np.bincount(truth[~is_new], minlength=sizes.size)
    previous = np.where(old_sizes[truth] >= 2, truth, -1).astype(np.int64)
    previous[is_new] = -1
    data = GroupingInput(
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=x,
        quality=np.ones(n, np.float32),
        size_px=np.full(n, 100.0, np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, np.int64),
        previous_person=previous,
    )
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    out = assign_new(data, is_new, int(truth.max()) + 1)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_new, got = truth[is_new], out.person_ids[is_new]
    has_person = old_sizes[t_new] >= 2
    existing = (got >= 0) & (got <= truth.max())
    return {
        "seconds": dt,
        "cpu_seconds": dc,
        "peak_mb": max(0, peak - base) / 1024.0,
        "n_joined": out.n_joined,
        "n_new_people": len(out.new_people),
        "joined_right": float(np.mean(got[has_person] == t_new[has_person])) if has_person.any() else 1.0,
        "joined_wrong": int((existing & (got != t_new)).sum()),
    }


if __name__ == "__main__":
    # python -m facefile_bench.scale ALGORITHM N SEED  |  python -m facefile_bench.scale add N SEED
    if sys.argv[1] == "add":
        result = time_add(int(sys.argv[2]), seed=int(sys.argv[3]))
    else:
        result = _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    sys.stdout.write(json.dumps(result) + "\n")
