"""Changes to people: the user's edits and the grouper's assignments.

Every edit is one transaction and is stored as a constraint or a user
assignment, so regrouping never undoes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping

from facefile.errors import ConstraintError, NotFoundError
from facefile.store.db import Store, remove_crop_files, tombstone_keys
from facefile.store.engine import Connection
from facefile.store.schema import now

SET_USER_ROW = (
    "INSERT INTO assignments (face_id, person_id, source, confidence, updated_at) "
    "VALUES (?, ?, 'user', 1.0, ?) ON CONFLICT(face_id) DO UPDATE SET person_id = excluded.person_id, "
    "source = excluded.source, confidence = excluded.confidence, updated_at = excluded.updated_at"
)
"""The user's placement of a face, replacing whatever placed it before."""

_AUTO_ROW = (
    "INSERT INTO assignments (face_id, person_id, source, confidence, updated_at) "
    "SELECT f.id, p.id, 'auto', ?, ? FROM faces f JOIN people p ON p.id = ? "
    "WHERE f.id = ? AND f.is_excluded = 0 AND NOT EXISTS (SELECT 1 FROM constraints n "
    "WHERE n.kind = 'not_person' AND n.face_id = f.id AND n.person_id = p.id) "
)
"""The grouper's placement of a face, unless an edit made while it computed forbids it.

Grouping is computed from a snapshot, then written; an edit committed in
between (another process, the web page) wins: a face forgotten or excluded
meanwhile, a person merged away, or a "not this person" said meanwhile gets
no automatic row (the next grouping places the face)."""


def _require_person(c: Connection, person_id: int) -> None:
    if c.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)).fetchone() is None:
        raise NotFoundError(
            f"No person person-{person_id:04d} in this library; 'facefile people' lists them."
        )


def _require_face(c: Connection, face_id: int) -> None:
    if c.execute("SELECT 1 FROM faces WHERE id = ?", (face_id,)).fetchone() is None:
        raise NotFoundError(f"No face face-{face_id} in this library; 'facefile faces' lists them.")


def new_person(store: Store, c: Connection, name: str | None = None) -> int:
    person_id = store.next_person_id()
    c.execute(
        "INSERT INTO people (id, name, is_hidden, created_at) VALUES (?, ?, 0, ?)",
        (person_id, name, now()),
    )
    store.set_meta(c, "next_person_id", str(person_id + 1))
    return person_id


def rename(store: Store, person_id: int, name: str | None) -> int:
    """Name a person (``None`` clears the name), confirming the faces it holds now.

    A name is the user's word about the faces they looked at: each face the
    person holds at this moment becomes a user assignment, as if moved
    there, so no regrouping takes it from the name. A later move, unassign,
    "not this person" or exclude of one of them still wins, as with any
    user placement. Clearing a name confirms nothing and undoes nothing.

    Returns:
        The number of faces confirmed now (those the grouping had placed).
    """
    clean = name.strip() if name else None
    if clean is not None and not clean:
        raise ConstraintError("A name cannot be empty; use 'facefile name PERSON \"\"' to clear it.")
    with store.transaction() as c:
        _require_person(c, person_id)
        c.execute("UPDATE people SET name = ? WHERE id = ?", (clean, person_id))
        return 0 if clean is None else _confirm_faces(c, person_id)


def set_hidden(store: Store, person_id: int, is_hidden: bool) -> int:
    """Hide a person (or show it again).

    Hiding is the user's word about the faces they looked at, as naming is:
    the faces the person holds now are confirmed, so no regrouping brings
    them back as a visible person. Showing it again undoes nothing.

    Returns:
        The number of faces confirmed now.
    """
    with store.transaction() as c:
        _require_person(c, person_id)
        c.execute("UPDATE people SET is_hidden = ? WHERE id = ?", (int(is_hidden), person_id))
        return _confirm_faces(c, person_id) if is_hidden else 0


def _confirm_faces(c: Connection, person_id: int) -> int:
    """Make the faces a person holds the user's placements (inside the caller's transaction)."""
    return int(
        c.execute(
            "UPDATE assignments SET source = 'user', confidence = 1.0, updated_at = ? "
            "WHERE person_id = ? AND source = 'auto'",
            (now(), person_id),
        ).rowcount
    )


def merge(store: Store, source_id: int, target_id: int) -> int:
    """Move every face of ``source_id`` into ``target_id`` and delete the source.

    Both people's faces become user-confirmed, so no regrouping splits them.
    The target keeps its name, or takes the source's if it has none.

    Returns:
        The number of faces moved.
    """
    if source_id == target_id:
        raise ConstraintError(f"Cannot merge person-{source_id:04d} into itself.")
    with store.transaction() as c:
        _require_person(c, source_id)
        _require_person(c, target_id)
        clash = c.execute(
            "SELECT f1.photo_id FROM assignments a1 JOIN faces f1 ON f1.id = a1.face_id "
            "JOIN faces f2 ON f2.photo_id = f1.photo_id JOIN assignments a2 ON a2.face_id = f2.id "
            "WHERE a1.person_id = ? AND a2.person_id = ? LIMIT 1",
            (source_id, target_id),
        ).fetchone()
        if clash is not None:
            raise ConstraintError(
                f"person-{source_id:04d} and person-{target_id:04d} appear together in photo "
                f"{clash[0]}, so they are two people; move single faces with 'facefile move'."
            )
        stamp = now()
        moved = c.execute(
            "UPDATE assignments SET person_id = ?, source = 'user', confidence = 1.0, "
            "updated_at = ? WHERE person_id = ?",
            (target_id, stamp, source_id),
        ).rowcount
        c.execute(
            "UPDATE assignments SET source = 'user', confidence = 1.0, updated_at = ? WHERE person_id = ?",
            (stamp, target_id),
        )
        c.execute(
            "UPDATE people SET name = COALESCE(name, (SELECT name FROM people WHERE id = ?)) WHERE id = ?",
            (source_id, target_id),
        )
        c.execute(
            "UPDATE constraints SET person_id = ? WHERE person_id = ? AND kind = 'not_person'",
            (target_id, source_id),
        )
        c.execute("DELETE FROM people WHERE id = ?", (source_id,))
        return moved


def move(store: Store, face_ids: Iterable[int], person_id: int | None) -> int:
    """Place faces in a person (``None``: a new person) as the user's decision.

    Returns:
        The person the faces are now in.
    """
    ids = list(face_ids)
    with store.transaction() as c:
        for fid in ids:
            _require_face(c, fid)
        if person_id is None:
            person_id = new_person(store, c)
        else:
            _require_person(c, person_id)
        photos = [
            int(r[0]) for r in c.execute(
                f"SELECT photo_id FROM faces WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        ]  # fmt: skip
        if len(set(photos)) != len(photos):
            raise ConstraintError("Two of these faces are in the same photo; they cannot be one person.")
        stamp = now()
        for fid in ids:
            other = c.execute(
                "SELECT f2.id FROM faces f JOIN faces f2 ON f2.photo_id = f.photo_id AND f2.id != f.id "
                "JOIN assignments a ON a.face_id = f2.id WHERE f.id = ? AND a.person_id = ?",
                (fid, person_id),
            ).fetchone()
            if other is not None and other[0] not in ids:
                if (
                    c.execute("SELECT source FROM assignments WHERE face_id = ?", (other[0],)).fetchone()[0]
                    == "user"
                ):
                    raise ConstraintError(
                        f"face-{fid} shares a photo with face-{other[0]}, which you placed in "
                        f"person-{person_id:04d}; move that one first."
                    )
                c.execute("DELETE FROM assignments WHERE face_id = ?", (other[0],))
            before = c.execute("SELECT person_id FROM assignments WHERE face_id = ?", (fid,)).fetchone()
            place_as_user(c, fid, person_id, None if before is None else int(before[0]), stamp)
            c.execute(
                "DELETE FROM constraints WHERE kind = 'not_person' AND face_id = ? AND person_id = ?",
                (fid, person_id),
            )
            c.execute("UPDATE faces SET is_excluded = 0 WHERE id = ?", (fid,))
        return person_id


def place_as_user(c: Connection, face_id: int, person_id: int, before: int | None, stamp: str) -> None:
    """Put a face in a person as the user's decision (inside the caller's transaction).

    Leaving another person (``before``) also says "not that person", so the
    next regrouping does not pull the face and its old person back together.
    """
    if before is not None and before != person_id:
        c.execute(
            "INSERT INTO constraints (kind, face_id, person_id, created_at) "
            "VALUES ('not_person', ?, ?, ?) ON CONFLICT DO NOTHING",
            (face_id, before, stamp),
        )
    c.execute(SET_USER_ROW, (face_id, person_id, stamp))


def not_person(store: Store, face_ids: Iterable[int], person_id: int) -> None:
    """Record "these faces are not this person" and take them out of it."""
    with store.transaction() as c:
        _require_person(c, person_id)
        for fid in face_ids:
            _require_face(c, fid)
            c.execute(
                "INSERT INTO constraints (kind, face_id, person_id, created_at) "
                "VALUES ('not_person', ?, ?, ?) ON CONFLICT DO NOTHING",
                (fid, person_id, now()),
            )
            c.execute("DELETE FROM assignments WHERE face_id = ? AND person_id = ?", (fid, person_id))


def different_people(store: Store, person_a: int, person_b: int) -> None:
    """Remember that two people are different (a cannot-link between their best faces)."""
    with store.transaction() as c:
        _require_person(c, person_a)
        _require_person(c, person_b)
        best = []
        for pid in (person_a, person_b):
            row = c.execute(
                "SELECT f.id FROM assignments a JOIN faces f ON f.id = a.face_id "
                "WHERE a.person_id = ? ORDER BY f.quality DESC, f.id LIMIT 1",
                (pid,),
            ).fetchone()
            if row is None:
                return
            best.append(int(row[0]))
        c.execute(
            "INSERT INTO constraints (kind, face_id, other_face_id, created_at) "
            "VALUES ('cannot_link', ?, ?, ?) ON CONFLICT DO NOTHING",
            (best[0], best[1], now()),
        )
        for pid in (person_a, person_b):
            c.execute(
                "UPDATE assignments SET source = 'user', confidence = 1.0 WHERE face_id = ?",
                (best[0] if pid == person_a else best[1],),
            )


def unassign(store: Store, face_id: int) -> None:
    """Take a face out of its person, remembering that it does not belong there."""
    row = store.conn.execute("SELECT person_id FROM assignments WHERE face_id = ?", (face_id,)).fetchone()
    if row is None:
        with store.transaction() as c:
            _require_face(c, face_id)
        return
    not_person(store, [face_id], int(row[0]))


def set_excluded(store: Store, face_id: int, is_excluded: bool) -> None:
    """Keep a face out of grouping altogether (or let it back in)."""
    with store.transaction() as c:
        _require_face(c, face_id)
        c.execute("UPDATE faces SET is_excluded = ? WHERE id = ?", (int(is_excluded), face_id))
        if is_excluded:
            c.execute("DELETE FROM assignments WHERE face_id = ?", (face_id,))


def write_grouping(
    store: Store,
    assignment: Mapping[int, tuple[int, float]],
    new_people: Iterable[int],
    *,
    grouped_through: int = 0,
) -> None:
    """Replace every automatic assignment with ``face_id -> (person_id, confidence)``.

    User assignments are never touched, nor are edits made while the grouping
    was computed (see ``_AUTO_ROW``). People left with no face, no name and
    no user decision are removed.
    """
    stamp = now()
    with store.transaction() as c:
        fresh = _create_people(store, c, new_people, stamp)
        c.execute("DELETE FROM assignments WHERE source = 'auto'")
        store.set_meta(c, "grouped_through_face_id", str(grouped_through))
        c.executemany(
            _AUTO_ROW + "ON CONFLICT(face_id) DO NOTHING",
            ((float(conf), stamp, fresh.get(pid, pid), fid) for fid, (pid, conf) in assignment.items()),
        )
        c.execute(
            "DELETE FROM people WHERE name IS NULL AND id NOT IN "
            "(SELECT DISTINCT person_id FROM assignments) AND id NOT IN "
            "(SELECT person_id FROM constraints WHERE person_id IS NOT NULL)"
        )


def _create_people(store: Store, c: Connection, new_people: Iterable[int], stamp: str) -> dict[int, int]:
    """Rows for the grouper's new people, and a ``next_person_id`` past them all.

    The grouper numbers new people from ``next_person_id`` as it was when it
    started; an edit may have made a person with one of those ids since (a
    face moved to a new person). That person keeps its id and the grouper's
    new person gets a fresh one.

    Returns:
        ``{id the grouper chose: id it gets}`` for the ids taken meanwhile.
    """
    wanted = sorted(set(new_people))
    taken = set()
    if wanted:
        taken = {int(r[0]) for r in c.execute("SELECT id FROM people WHERE id >= ?", (wanted[0],))}
    fresh: dict[int, int] = {}
    free = max([store.next_person_id(), wanted[-1] + 1 if wanted else 0, *(t + 1 for t in taken)])
    for pid in wanted:
        if pid in taken:
            fresh[pid], free = free, free + 1
    c.executemany(
        "INSERT INTO people (id, name, is_hidden, created_at) VALUES (?, NULL, 0, ?) ON CONFLICT DO NOTHING",
        [(fresh.get(pid, pid), stamp) for pid in wanted],
    )
    top = c.execute("SELECT MAX(id) FROM people").fetchone()[0] or 0
    store.set_meta(c, "next_person_id", str(max(store.next_person_id(), top + 1)))
    return fresh


def add_assignments(
    store: Store,
    assignment: Mapping[int, tuple[int, float]],
    new_people: Iterable[int],
    *,
    grouped_through: int,
) -> None:
    """Add automatic assignments for some faces, leaving all others as they are."""
    stamp = now()
    with store.transaction() as c:
        fresh = _create_people(store, c, new_people, stamp)
        store.set_meta(c, "grouped_through_face_id", str(grouped_through))
        c.executemany(
            _AUTO_ROW + "ON CONFLICT(face_id) DO UPDATE SET "
            "person_id = excluded.person_id, confidence = excluded.confidence, "
            "updated_at = excluded.updated_at WHERE assignments.source = 'auto'",
            ((float(conf), stamp, fresh.get(pid, pid), fid) for fid, (pid, conf) in assignment.items()),
        )


def forget_person(store: Store, person_id: int) -> int:
    """Erase a person: faces, embeddings, crops, name and constraints.

    The faces' positions are kept only as one-way tombstone keys so that a
    re-scan does not bring them back. SQLite: deleted rows are zeroed on disk
    (``secure_delete``) and the write-ahead log is truncated; PostgreSQL: the
    tables are vacuumed, so the rows leave the table files.

    Returns:
        The number of faces erased.
    """
    with store.transaction() as c:
        _require_person(c, person_id)
        rows = c.execute(
            'SELECT f.id, f."left", f.top, f."right", f.bottom, p.content_hash, p.width, p.height '
            "FROM assignments a JOIN faces f ON f.id = a.face_id JOIN photos p ON p.id = f.photo_id "
            "WHERE a.person_id = ?",
            (person_id,),
        ).fetchall()
        from facefile.types import BBox

        for _fid, left, top, right, bottom, content_hash, width, height in rows:
            if content_hash:
                key = tombstone_keys(content_hash, BBox(left, top, right, bottom), width, height)[0]
                c.execute("INSERT INTO tombstones (key) VALUES (?) ON CONFLICT DO NOTHING", (key,))
        ids = [int(r[0]) for r in rows]
        c.executemany("DELETE FROM faces WHERE id = ?", ((i,) for i in ids))
        c.execute("DELETE FROM people WHERE id = ?", (person_id,))
    remove_crops(store, ids)
    scrub(store)
    return len(ids)


def forget_all(store: Store) -> None:
    """Erase the whole library: database (PostgreSQL: facefile's tables), crops and caches.

    ``facefile.toml`` stays: it holds settings, not data.
    """
    store.engine.erase()
    crops = store.library_dir / "crops"
    if crops.exists():
        shutil.rmtree(crops)


def remove_crops(store: Store, face_ids: Iterable[int]) -> None:
    remove_crop_files(store.library_dir, face_ids)


def scrub(store: Store) -> None:
    """Make erased rows unrecoverable (SQLite: fold the WAL in, truncate it, vacuum)."""
    store.engine.scrub()
