"""Questions for the user (``review``) and "why is this face here?" (``why``), wired.

The ranking comes from :mod:`facefile.review.explain`; the number each
question and explanation shows is the calibrated chance of being the same
person (:mod:`facefile.cluster.calibration`), the one the web pages and a
face's confidence give. A question about what the grouper left apart (two
people, or an unassigned face and a person) shows
:func:`~facefile.cluster.calibration.left_apart` of it, as the web pages do.
This module turns clusters into people and puts names into the sentences.
"""

from __future__ import annotations

import numpy as np

from facefile.cluster.base import Grouping
from facefile.cluster.calibration import SUGGEST_ABOVE, left_apart
from facefile.config import Settings
from facefile.errors import NotFoundError
from facefile.people_index import PeopleIndex, best_faces, chance_of
from facefile.regroup import load_grouping_input
from facefile.review.explain import review, why
from facefile.store.db import Store
from facefile.types import Explanation, Neighbour, ReviewItem, person_key


def _current(store: Store, settings: Settings):  # type: ignore[no-untyped-def]
    m, data = load_grouping_input(store, settings)
    return m, data, Grouping(labels=m.person.astype(np.int64), confidence=m.confidence)


def review_items(store: Store, settings: Settings, limit: int = 50) -> list[ReviewItem]:
    """The questions whose answers fix the most errors, most useful first.

    Merges the user already refused (a cannot-link between the two people, or
    "not this person" for one of their faces) and merges of people seen
    together in a photo are never asked, nor are merges and proposals of an
    unassigned face less likely than :data:`SUGGEST_ABOVE`. A face already in
    its person is asked about however unlikely (that is why it is asked).
    """
    m, data, grouping = _current(store, settings)
    if len(m.face_ids) == 0:
        return []
    refused = _refused_pairs(data.cannot_link, data.not_person, m.person)
    index = PeopleIndex(m.embeddings, m.person)
    asked = review(data, grouping, limit=limit * 2)
    face_rows = np.array([it.row for it in asked if it.kind != "merge" and it.row >= 0], dtype=np.int64)
    matches = dict(zip(face_rows.tolist(), index.faces(face_rows) if face_rows.size else [], strict=True))
    items: list[ReviewItem] = []
    for it in asked:
        if it.kind == "merge":
            a, b = int(it.label), int(it.other_label)
            if a < 0 or b < 0 or (min(a, b), max(a, b)) in refused or _share_photo(m, a, b):
                continue
            p = _merge_probability(index, m, a, b)
            if p < SUGGEST_ABOVE:
                continue
            q = f"Are {_label(store, a)} and {_label(store, b)} the same person? ({p:.0%} likely)"
            items.append(ReviewItem("merge", a, None, b, p, q))
        elif it.label >= 0 and it.row >= 0:
            fid, pid = int(m.face_ids[it.row]), int(it.label)
            if (it.row, pid) in set(data.not_person):
                continue
            p = chance_of(matches[it.row], pid)
            if m.person[it.row] < 0:  # the grouper left it out of everyone
                p = float(left_apart(p))
            if m.person[it.row] != pid and p < SUGGEST_ABOVE:
                continue
            q = f"Is face-{fid} {_label(store, pid)}? ({p:.0%} likely)"
            items.append(ReviewItem("face", pid, fid, None, p, q))
        if len(items) >= limit:
            break
    return items


def _merge_probability(index: PeopleIndex, m: object, a: int, b: int) -> float:
    """Chance that people ``a`` and ``b`` (left apart by the grouper) are one, each asking
    about the other with its best faces (:meth:`PeopleIndex.merge_chance`)."""
    person, quality = m.person, m.quality  # type: ignore[attr-defined]
    return index.merge_chance(best_faces(person, quality, a), a, best_faces(person, quality, b), b)


def explain(store: Store, settings: Settings, face_id: int) -> Explanation:
    """Why a face is in its person, in numbers and one paragraph.

    Every number is a calibrated chance of being the same person; for a face
    in no person, its closest person's is :func:`~facefile.cluster.calibration.left_apart`
    of it, as ``review`` asks it.
    """
    face = store.face(face_id)
    m, data, grouping = _current(store, settings)
    rows = np.flatnonzero(m.face_ids == face_id)
    if rows.size == 0:
        raise NotFoundError(f"face-{face_id} is excluded from grouping; 'facefile include' lets it back in.")
    row = int(rows[0])
    w = why(data, grouping, row)
    found = PeopleIndex(m.embeddings, m.person).faces(np.array([row]))[0]
    nearest = tuple(Neighbour(n.face_id, face.person_id, n.similarity) for n in w.nearest_in_person)
    others = [x for x in found if x.person >= 0 and x.person != face.person_id]
    other = others[0].person if others else None
    other_p = others[0].probability if others else None
    if other_p is not None and face.person_id is None:  # the grouper left it out of everyone
        other_p = float(left_apart(other_p))
    refused = tuple(sorted({pid for r, pid in data.not_person if r == row}))
    lines = [_placement(store, face_id, face.person_id, face.source, face.confidence)]
    if face.person_id is not None:
        lines.append(f"Going by its faces, {chance_of(found, face.person_id):.0%} likely the same person.")
    if refused:
        lines.append(f"You said it is not {', '.join(_label(store, p) for p in refused)}.")
    if nearest:
        lines.append("Most similar faces there: " + ", ".join(f"face-{n.face_id}" for n in nearest) + ".")
    if other is not None and other_p is not None:
        closest = "Closest other person" if face.person_id is not None else "Closest person"
        lines.append(f"{closest}: {_label(store, other)}, {other_p:.0%} likely.")
    lines.append("Chances are estimates learnt on labelled photo collections, not on yours.")
    return Explanation(
        face_id,
        face.person_id,
        face.confidence,
        nearest,
        other,
        other_p,
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
        f"{where}: the model's grouping (confidence {conf:.0%}), which a regroup may change; "
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
