"""Immich's facial-recognition job, replayed over all faces.

Source: ``immich-app/immich`` ``server/src/services/person.service.ts``
(``handleRecognizeFaces``), settings ``machineLearning.facialRecognition``:
``minFaces`` 3, ``maxDistance`` 0.5 (cosine distance on ArcFace
``buffalo_l`` vectors). Recalled from the code, not copied; uncertain details
are marked.

Rules, per face in library order:

* search the ``minFaces`` nearest faces within ``maxDistance`` (the face
  itself is one of them);
* only itself found (and ``minFaces > 1``): skipped, stays unassigned;
* core when ``len(matches) >= minFaces``; a non-core face is deferred to a
  second pass after every first-pass face;
* person = the first match (nearest first) that has a person; else the
  nearest face with a person within ``maxDistance``; else, if core, a new
  person; else unassigned.

Immich searches approximately (a vector index); we search exactly.
Mapping: cosine 0.5 -> unit-sphere L2 1.0 -> fraction 1.0/1.13 of ArcFace's
verification threshold -> 0.53 in dlib space (see ``mapping.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile_bench.peers.graph import radius_graph
from facefile_bench.peers.mapping import cosine_to_l2, to_dlib

SOURCE = "immich server/src/services/person.service.ts (handleRecognizeFaces)"
DEFAULT: dict[str, float] = {
    "max_distance": round(to_dlib(cosine_to_l2(0.5), "arcface"), 3),
    "min_faces": 3,
}
GRID: list[dict[str, float]] = [
    {"max_distance": d, "min_faces": m} for d in (0.4, 0.45, 0.5, 0.55, 0.6) for m in (1, 2, 3, 5)
]
MAX_FACES = 2_000_000


def cluster(
    x: NDArray[np.floating],
    max_distance: float = 0.53,
    min_faces: int = 3,
    initial: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Immich's assignment of faces to people.

    Args:
        x: ``(n, d)`` descriptors in library order, dlib space.
        max_distance: Euclidean bound (already mapped to dlib space).
        min_faces: faces (the face itself included) needed to start a person.
        initial: ``(n,)`` persons already assigned (``-1`` for new faces),
            for incremental runs; existing assignments are kept, as in Immich.

    Returns:
        ``int64 (n,)`` person labels, ``-1`` for unassigned faces.
    """
    n = int(x.shape[0])
    labels = np.full(n, -1, dtype=np.int64) if initial is None else initial.copy()
    if n == 0:
        return labels
    g = radius_graph(x, max_distance)
    next_person = int(labels.max(initial=-1)) + 1
    todo = [i for i in range(n) if labels[i] < 0]
    deferred: list[int] = []
    for is_deferred, queue in ((False, todo), (True, deferred)):
        for i in queue:
            nb = g.indices[g.indptr[i] : g.indptr[i + 1]]
            # Exact ties put the face itself anywhere among equals; move it first.
            nb = np.concatenate(([i], nb[nb != i]))
            matches = nb[:min_faces]
            if min_faces > 1 and matches.shape[0] <= 1:
                continue
            is_core = matches.shape[0] >= min_faces
            if not is_core and not is_deferred:
                deferred.append(i)
                continue
            with_person = matches[labels[matches] >= 0]
            person = int(labels[with_person[0]]) if with_person.shape[0] else -1
            if person < 0:
                any_person = nb[labels[nb] >= 0]
                if any_person.shape[0]:
                    person = int(labels[any_person[0]])
            if person < 0 and is_core:
                person = next_person
                next_person += 1
            labels[i] = person
    return labels
