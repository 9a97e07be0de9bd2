"""Questions for the user (``review``) and "why is this face here?" (``why``), wired.

The ranking and the similarities come from :mod:`facefile.cluster.explain`;
this module turns clusters into people and puts names into the sentences.
Similarity is in ``[0, 1]`` (1 = the same picture).
"""

from __future__ import annotations

import numpy as np

from facefile.cluster.base import Grouping
from facefile.cluster.explain import SAME_PERSON_SIMILARITY, review, why
from facefile.config import Settings
from facefile.errors import NotFoundError
from facefile.regroup import load_grouping_input
from facefile.store.db import Store
from facefile.types import Explanation, Neighbour, ReviewItem, person_key


def _current(store: Store, settings: Settings):  # type: ignore[no-untyped-def]
    m, data = load_grouping_input(store, settings)
    return m, data, Grouping(labels=m.person.astype(np.int64), confidence=m.confidence)


def review_items(store: Store, settings: Settings, limit: int = 50) -> list[ReviewItem]:
    """The questions whose answers fix the most errors, most useful first.

    Merges the user already refused (a cannot-link between the two people, or
    "not this person" for one of their faces) and merges of people seen
    together in a photo are never asked.
    """
    m, data, grouping = _current(store, settings)
    if len(m.face_ids) == 0:
        return []
    refused = _refused_pairs(data.cannot_link, data.not_person, m.person)
    items: list[ReviewItem] = []
    for it in review(data, grouping, limit=limit * 2):
        if it.kind == "merge":
            a, b = int(it.label), int(it.other_label)
            if a < 0 or b < 0 or (min(a, b), max(a, b)) in refused or _share_photo(m, a, b):
                continue
            pair = f"{_label(store, a)} and {_label(store, b)}"
            q = f"Are {pair} the same person? (similarity {it.similarity:.2f})"
            items.append(ReviewItem("merge", a, None, b, it.similarity, q))
        elif it.label >= 0 and it.row >= 0:
            fid, pid = int(m.face_ids[it.row]), int(it.label)
            if (it.row, pid) in set(data.not_person):
                continue
            q = f"Is face-{fid} {_label(store, pid)}? (similarity {it.similarity:.2f})"
            items.append(ReviewItem("face", pid, fid, None, it.similarity, q))
        if len(items) >= limit:
            break
    return items


def explain(store: Store, settings: Settings, face_id: int) -> Explanation:
    """Why a face is in its person, in numbers and one paragraph."""
    face = store.face(face_id)
    m, data, grouping = _current(store, settings)
    rows = np.flatnonzero(m.face_ids == face_id)
    if rows.size == 0:
        raise NotFoundError(f"face-{face_id} is excluded from grouping; 'facefile include' lets it back in.")
    w = why(data, grouping, int(rows[0]))
    nearest = tuple(Neighbour(n.face_id, face.person_id, n.similarity) for n in w.nearest_in_person)
    other = w.closest_other_label if w.closest_other_label >= 0 else None
    other_sim = None if other is None else float(w.other_similarity)
    row = int(rows[0])
    refused = tuple(sorted({pid for r, pid in data.not_person if r == row}))
    lines = [_placement(store, face_id, face.person_id, face.source, face.confidence)]
    if refused:
        lines.append(f"You said it is not {', '.join(_label(store, p) for p in refused)}.")
    if nearest:
        best = ", ".join(f"face-{n.face_id} ({n.similarity:.2f})" for n in nearest)
        lines.append(f"Most similar faces there: {best}; mean similarity {w.person_similarity:.2f}.")
    if other is not None:
        lines.append(f"Closest other person: {_label(store, other)}, similarity {other_sim:.2f}.")
    lines.append(
        f"Similarity runs from 0 to 1; two photos of one person usually score above "
        f"{SAME_PERSON_SIMILARITY:.2f}."
    )
    return Explanation(
        face_id,
        face.person_id,
        face.confidence,
        nearest,
        other,
        other_sim,
        " ".join(lines),
        face.source if face.person_id is not None else None,
        refused,
    )


def _placement(store: Store, face_id: int, person_id: int | None, source: str | None, conf: float) -> str:
    """Where the face is, and whether that is the user's word or the model's."""
    if person_id is None:
        return f"face-{face_id} belongs to nobody yet."
    where = f"face-{face_id} is in {_label(store, person_id)}"
    if source == "user":
        return (
            f"{where}: your word (you named or hid the person with it, moved it or merged it "
            "there), so no regrouping or re-scan moves it."
        )
    return (
        f"{where}: the model's grouping (confidence {conf:.2f}), which a regroup may change; "
        "name the person or move the face to make it your word."
    )


def _label(store: Store, pid: int) -> str:
    row = store.conn.execute("SELECT name FROM people WHERE id = ?", (pid,)).fetchone()
    return f"{row[0]} ({person_key(pid)})" if row and row[0] else person_key(pid)


def _share_photo(m: object, a: int, b: int) -> bool:
    person, photos = m.person, m.photo_ids  # type: ignore[attr-defined]
    return bool(set(photos[person == a].tolist()) & set(photos[person == b].tolist()))


def _refused_pairs(
    cannot_link: list[tuple[int, int]], not_person: list[tuple[int, int]], person: np.ndarray
) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for r1, r2 in cannot_link:
        a, b = int(person[r1]), int(person[r2])
        if a >= 0 and b >= 0:
            out.add((min(a, b), max(a, b)))
    for row, pid in not_person:
        a = int(person[row])
        if a >= 0:
            out.add((min(a, pid), max(a, pid)))
    return out
