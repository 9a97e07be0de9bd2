"""Questions for the user (``review``) and answers to "why is this face here?" (``why``).

Similarity is the cosine of the angle between two L2-normalised descriptors:
about 1.0 for the same photo of a face, typically above
:data:`SAME_PERSON_SIMILARITY` for two photos of one person.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facefile.store.db import Store
from facefile.types import Explanation, Neighbour, ReviewItem, person_key

SAME_PERSON_SIMILARITY = 0.82  # cos for dlib's 0.6 Euclidean at typical norms


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def review_items(store: Store, model_id: str, limit: int = 50) -> list[ReviewItem]:
    """The least certain assignments and the most likely merges, interleaved.

    Args:
        limit: at most this many items.

    Returns:
        Items ordered so that answering the first few fixes the most errors:
        likely merges of big people and doubtful faces first.
    """
    m = store.face_matrix(model_id)
    if len(m.face_ids) == 0:
        return []
    emb = _unit(m.embeddings)
    people = sorted({int(p) for p in m.person if p >= 0})
    centroids = {}
    for pid in people:
        rows = np.flatnonzero(m.person == pid)
        c = emb[rows].mean(axis=0)
        centroids[pid] = (c / max(np.linalg.norm(c), 1e-12), rows)
    faces: list[tuple[float, ReviewItem]] = []
    auto = np.flatnonzero((m.person >= 0) & ~m.is_user)
    confidence = {f.id: f.confidence for f in store.faces() if f.source == "auto"}
    for i in auto:
        fid = int(m.face_ids[i])
        pid = int(m.person[i])
        sim = float(emb[i] @ centroids[pid][0])
        conf = confidence.get(fid, 1.0)
        q = f"Is face-{fid} {_label(store, pid)}? (similarity {sim:.2f})"
        faces.append((conf, ReviewItem("face", pid, fid, None, sim, q)))
    faces.sort(key=lambda t: t[0])
    merges: list[tuple[float, ReviewItem]] = []
    refused = _refused_pairs(store, m.face_ids, m.person)
    if len(people) > 1:
        ids = np.array(people)
        cmat = np.stack([centroids[p][0] for p in people])
        sims = cmat @ cmat.T
        np.fill_diagonal(sims, -2)
        for a in range(len(ids)):
            b = int(np.argmax(sims[a]))
            if a < b or int(np.argmax(sims[b])) != a:
                pa, pb = int(ids[a]), int(ids[b])
                if (min(pa, pb), max(pa, pb)) in refused or _share_photo(m, pa, pb):
                    continue
                s = float(sims[a, b])
                q = f"Are {_label(store, pa)} and {_label(store, pb)} the same person? (similarity {s:.2f})"
                merges.append((-s, ReviewItem("merge", pa, None, pb, s, q)))
    merges.sort(key=lambda t: t[0])
    out: list[ReviewItem] = []
    fi = mi = 0
    while len(out) < limit and (fi < len(faces) or mi < len(merges)):
        if mi < len(merges) and (fi >= len(faces) or len(out) % 2 == 0):
            out.append(merges[mi][1])
            mi += 1
        elif fi < len(faces):
            out.append(faces[fi][1])
            fi += 1
    # drop duplicate merge questions (a-b and b-a)
    seen: set[tuple[int, int]] = set()
    unique = []
    for item in out:
        if item.kind == "merge":
            key = (
                min(item.person_id, item.other_person_id or 0),
                max(item.person_id, item.other_person_id or 0),
            )
            if key in seen:
                continue
            seen.add(key)
        unique.append(item)
    return unique


def _label(store: Store, pid: int) -> str:
    row = store.conn.execute("SELECT name FROM people WHERE id = ?", (pid,)).fetchone()
    return f"{row[0]} ({person_key(pid)})" if row and row[0] else person_key(pid)


def _share_photo(m: object, a: int, b: int) -> bool:
    photos_a = set(m.photo_ids[m.person == a].tolist())  # type: ignore[attr-defined]
    photos_b = set(m.photo_ids[m.person == b].tolist())  # type: ignore[attr-defined]
    return bool(photos_a & photos_b)


def _refused_pairs(
    store: Store, face_ids: NDArray[np.int64], person: NDArray[np.int64]
) -> set[tuple[int, int]]:
    """Person pairs the user said are different (cannot-link between their faces)."""
    person_of = {int(f): int(p) for f, p in zip(face_ids, person, strict=True)}
    out = set()
    for kind, face, _pid, other in store.constraints():
        if kind == "cannot_link" and other is not None:
            a, b = person_of.get(face, -1), person_of.get(other, -1)
            if a >= 0 and b >= 0:
                out.add((min(a, b), max(a, b)))
    return out


def explain(store: Store, model_id: str, face_id: int, k: int = 3) -> Explanation:
    """The face's nearest faces in its person and the closest other person."""
    face = store.face(face_id)
    m = store.face_matrix(model_id)
    emb = _unit(m.embeddings)
    rows = np.flatnonzero(m.face_ids == face_id)
    if rows.size == 0:
        return Explanation(face_id, face.person_id, face.confidence, (), None, None,
                           f"face-{face_id} is excluded from grouping or has no descriptor.")  # fmt: skip
    i = int(rows[0])
    sims = emb @ emb[i]
    sims[i] = -2
    same = np.flatnonzero(m.person == face.person_id) if face.person_id is not None else np.array([], int)
    same = same[same != i]
    nearest = tuple(
        Neighbour(int(m.face_ids[j]), face.person_id, float(sims[j]))
        for j in same[np.argsort(-sims[same])][:k]
    )
    other_best: tuple[int | None, float | None] = (None, None)
    others = np.flatnonzero((m.person >= 0) & (m.person != (face.person_id or -1)))
    if others.size:
        j = int(others[np.argmax(sims[others])])
        other_best = (int(m.person[j]), float(sims[j]))
    lines = []
    if face.person_id is None:
        lines.append(f"face-{face_id} belongs to nobody yet.")
    else:
        how = "you placed it there" if face.source == "user" else f"confidence {face.confidence:.2f}"
        lines.append(f"face-{face_id} is in {_label(store, face.person_id)} ({how}).")
        if nearest:
            best = ", ".join(f"face-{n.face_id} ({n.similarity:.2f})" for n in nearest)
            lines.append(f"Most similar faces there: {best}.")
    if other_best[0] is not None:
        lines.append(f"Closest other person: {_label(store, other_best[0])}, similarity {other_best[1]:.2f}.")
    lines.append(
        "Similarity runs from -1 to 1; two photos of one person are usually above "
        f"{SAME_PERSON_SIMILARITY:.2f}."
    )
    return Explanation(
        face_id, face.person_id, face.confidence, nearest, other_best[0], other_best[1], " ".join(lines)
    )
