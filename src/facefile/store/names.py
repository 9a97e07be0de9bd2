"""Names from photo metadata, applied to faces as the user's word.

A named face region in a photo's XMP (from digiKam, Lightroom, Picasa, a
phone, or facefile's own ``xmp write``) is a decision someone already made,
so it is applied like ``facefile move``: the face goes to the person of that
name (created if needed) as a user assignment. Each applied ``(face, name)``
is remembered in ``metadata_names``: reading the same metadata again changes
nothing, and a later edit in facefile is never undone by it. Where the name
would contradict a decision made in facefile, the decision stands and the
conflict is reported; nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from facefile.store.db import Store
from facefile.store.edits import new_person, place_as_user
from facefile.store.engine import Connection
from facefile.store.schema import now
from facefile.types import BBox, NameClaim, person_key

SAME_BOX_IOU = 0.9
"""A claim's box and a stored face's box this alike are the same face (both come from one analysis)."""


@dataclass
class NamesOutcome:
    applied: int = 0
    """Names given to faces now."""
    unchanged: int = 0
    """Names read before (applied then, or overruled by a decision in facefile)."""
    conflicts: list[str] = field(default_factory=list)
    """One sentence per name not applied, saying why and what to do."""


def apply_names(
    store: Store, photo_id: int, claims: Sequence[NameClaim], sidecars: str | None
) -> NamesOutcome:
    """Apply a photo's metadata names in one transaction and record its sidecar state.

    Args:
        store: the library.
        photo_id: the photo the claims were read from (just saved).
        claims: names for faces of this photo, each face at most once
            (conflicts between regions are settled before, see
            ``facefile.metadata.match``).
        sidecars: the photo's sidecar signature read with them; stored so an
            unchanged sidecar is not read again.

    Returns:
        What was applied, and the conflicts.
    """
    out = NamesOutcome()
    with store.transaction() as c:
        faces = [
            (int(r[0]), BBox(r[1], r[2], r[3], r[4]), bool(r[5]))
            for r in c.execute(
                'SELECT id, "left", top, "right", bottom, is_excluded FROM faces WHERE photo_id = ?',
                (photo_id,),
            )
        ]
        for claim in claims:
            best = max(faces, key=lambda f: f[1].iou(claim.box), default=None)
            if best is None or best[1].iou(claim.box) < SAME_BOX_IOU:
                continue  # a forgotten face: its name does not bring it back
            face_id, _, is_excluded = best
            known = c.execute(
                "SELECT 1 FROM metadata_names WHERE face_id = ? AND name = ?", (face_id, claim.name)
            ).fetchone()
            if known:
                out.unchanged += 1
                continue
            problem, is_settled = _apply(store, c, photo_id, face_id, is_excluded, claim)
            if is_settled:  # applied, or overruled by a decision in facefile for good
                c.execute(
                    "INSERT INTO metadata_names (face_id, name, source, applied_at) VALUES (?, ?, ?, ?)",
                    (face_id, claim.name, claim.source.encode("utf-8", "surrogateescape"), now()),
                )
            if problem is None:
                out.applied += 1
            else:
                out.conflicts.append(problem)
        c.execute("UPDATE photos SET meta_sig = ? WHERE id = ?", (sidecars, photo_id))
    return out


def _apply(
    store: Store, c: Connection, photo_id: int, face_id: int, is_excluded: bool, claim: NameClaim
) -> tuple[str | None, bool]:
    """Give ``face_id`` the claim's person.

    Returns:
        ``(None, True)`` when applied; else a sentence saying why not, and
        whether that is settled (a decision made in facefile) or may change
        (two people share the name) so the name is tried again next time.
    """
    said = f"{claim.source} names face-{face_id} {claim.name!r}"
    if is_excluded:
        return f"{said}, but you excluded that face from grouping; kept it excluded.", True
    people = [int(r[0]) for r in c.execute("SELECT id FROM people WHERE name = ? ORDER BY id", (claim.name,))]
    key = re.fullmatch(r"person-0*(\d+)", claim.name)
    if not people and key:  # written with --include-unnamed: the person's id stands for a name
        people = [
            int(r[0])
            for r in c.execute("SELECT id FROM people WHERE id = ? AND name IS NULL", (int(key[1]),))
        ]
    if len(people) > 1:
        keys = ", ".join(person_key(p) for p in people)
        return (
            f"{said}, but {len(people)} people have that name ({keys}); "
            "merge or rename them, then scan again.",
            False,
        )
    target = people[0] if people else None
    row = c.execute("SELECT person_id, source FROM assignments WHERE face_id = ?", (face_id,)).fetchone()
    if row is not None and row[1] == "user" and row[0] != target:
        return f"{said}, but you placed it in {person_key(int(row[0]))}; kept your decision.", True
    if target is not None:
        refused = c.execute(
            "SELECT 1 FROM constraints WHERE kind = 'not_person' AND face_id = ? AND person_id = ?",
            (face_id, target),
        ).fetchone()
        if refused:
            return f"{said}, but you said it is not {person_key(target)}; kept your decision.", True
        other = c.execute(
            "SELECT f.id, a.source FROM faces f JOIN assignments a ON a.face_id = f.id "
            "WHERE f.photo_id = ? AND f.id != ? AND a.person_id = ?",
            (photo_id, face_id, target),
        ).fetchone()
        if other is not None and other[1] == "user":
            return (
                f"{said}, but face-{other[0]} of the same photo is {claim.name!r} already; not applied.",
                False,
            )
        if other is not None:
            c.execute("DELETE FROM assignments WHERE face_id = ?", (other[0],))
    else:
        target = new_person(store, c, claim.name)
    place_as_user(c, face_id, target, None if row is None else int(row[0]), now())
    return None, True
