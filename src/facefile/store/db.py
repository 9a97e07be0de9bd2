"""The library store: every row facefile keeps, behind one small class.

All writes go through :meth:`Store.transaction`, which lets one writer at a
time in (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so two
commands changing the same person queue instead of losing an update, and an
interrupted command leaves the database as it was before its last step.

The SQL here runs unchanged on SQLite and PostgreSQL (:mod:`facefile.store.engine`):
``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING id``, and the
column names ``"left"`` and ``"right"`` quoted (reserved words in PostgreSQL).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facefile.errors import LibraryError, NotFoundError
from facefile.media.files import display_path
from facefile.store.connection import SqliteEngine
from facefile.store.engine import Connection, EmbeddingRow, Engine
from facefile.store.location import Location, parse_location
from facefile.store.schema import now
from facefile.types import BBox, Face, FaceQuality, FaceResult, Person, VideoSpan, match_boxes

TOMBSTONE_GRID = 32


@dataclass(frozen=True)
class PhotoRow:
    id: int
    path: bytes
    size: int | None
    mtime_ns: int | None
    content_hash: str | None
    status: str
    width: int | None = None
    height: int | None = None
    meta_sig: str | None = None
    """The sidecar state when its metadata was last read; ``None``: never read."""

    @property
    def display(self) -> str:
        return display_path(self.path)


@dataclass(frozen=True)
class FaceMatrix:
    """Faces ready for grouping, one row each, ordered by face id."""

    face_ids: NDArray[np.int64]
    photo_ids: NDArray[np.int64]
    embeddings: NDArray[np.float32]
    views: dict[str, NDArray[np.float32]]
    quality: NDArray[np.float32]
    size_px: NDArray[np.float32]
    person: NDArray[np.int64]
    is_user: NDArray[np.bool_]
    confidence: NDArray[np.float32]
    occlusion: NDArray[np.float32]
    """``float32 (n, 3)``: lower-face, eye and side occlusion scores."""


_PHOTO_SQL = "SELECT id, path, size, mtime_ns, content_hash, status, width, height, meta_sig FROM photos "
"""The columns of a :class:`PhotoRow`, in order."""


def tombstone_keys(content_hash: str, box: BBox, width: int, height: int) -> list[str]:
    """One-way keys for a face position: its grid cell and the 8 around it.

    The first key is the face's own cell. The keys hold no box and no pixels;
    without the photo they reveal nothing.
    """
    cx, cy = box.center
    gx = int(cx / max(width, 1) * TOMBSTONE_GRID)
    gy = int(cy / max(height, 1) * TOMBSTONE_GRID)
    cells = [(gx, gy)] + [(gx + dx, gy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
    return [hashlib.sha256(f"{content_hash}:{x}:{y}".encode()).hexdigest() for x, y in cells]


class Store:
    """One library database. Not thread-safe: one ``Store`` per thread.

    Args:
        location: a library folder (SQLite), a ``postgresql://`` URL, or a
            parsed :class:`~facefile.store.location.Location`.
        read_only: open for reading only (the web page's readers).
        create: create (and migrate) the database if there is none;
            ``False`` refuses a location without a library.

    Raises:
        LibraryError: the location holds no library (``read_only`` or not
            ``create``), cannot be reached or opened.
        SchemaTooNewError: a newer facefile wrote this library.
    """

    def __init__(
        self, location: str | os.PathLike[str] | Location, *, read_only: bool = False, create: bool = True
    ) -> None:
        self.location = parse_location(location)
        self.library_dir = self.location.local_dir
        """The local folder: the library itself (SQLite), or crops and settings (PostgreSQL)."""
        self.read_only = read_only
        self.engine: Engine
        if self.location.is_postgres:
            from facefile.store.pg import PgEngine

            self.engine = PgEngine(self.location, read_only=read_only, create=create)
        else:
            self.engine = SqliteEngine(self.library_dir, read_only=read_only, create=create)
        self.dialect = self.engine.dialect
        self.conn = self.engine.conn
        self.on_lock_wait: Callable[[str], None] | None = None
        """Told, once, when a scan has to wait for another scan's lock."""

    def close(self) -> None:
        self.engine.close()

    def nearest_faces(
        self, model_id: str, vectors: NDArray[np.float32], k: int
    ) -> list[NDArray[np.int64]] | None:
        """Face ids nearest each of ``vectors`` (``float32 (q, d)``), by the database's vector index.

        ``None`` on SQLite, which has none: callers search the descriptors
        they loaded (:mod:`facefile.cluster.knn`).
        """
        return self.engine.nearest_faces(model_id, vectors, k)

    def scan_lock(self) -> AbstractContextManager[None]:
        """Held by a scan. SQLite: a second scan is refused; PostgreSQL: it waits its turn."""
        return self.engine.scan_lock(self.on_lock_wait)

    def data_version(self) -> object:
        """Changes whenever any process commits a change to the library."""
        return self.engine.data_version()

    # -- transactions -----------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            self.engine.begin()
        except self.engine.errors as exc:
            self._rollback()
            raise self.engine.translate(exc) from exc
        try:
            yield self.conn
            self.engine.commit()
        except self.engine.errors as exc:
            self._rollback()
            raise self.engine.translate(exc) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        with suppress(*self.engine.errors):
            self.engine.rollback()

    def scalar(self, sql: str, params: tuple[object, ...] = ()) -> object:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    # -- meta and runs ----------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, conn: Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def start_run(self, kind: str, config_json: str) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO runs (kind, started_at, config) VALUES (?, ?, ?) RETURNING id",
                (kind, now(), config_json),
            )
            return int(cur.fetchone()[0])

    def finish_run(self, run_id: int, summary_json: str) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (now(), summary_json, run_id),
            )

    # -- photos -----------------------------------------------------------
    def photo_by_path(self, raw: bytes) -> PhotoRow | None:
        row = self.conn.execute(
            _PHOTO_SQL + "WHERE path = ?",
            (raw,),
        ).fetchone()
        return PhotoRow(*row) if row else None

    def analysis_current(self, photo_id: int, model_id: str) -> bool:
        """Whether the photo was analysed with ``model_id`` and every measure stored now.

        Faces analysed before their occlusion scores were kept (first
        release) have none; such a photo needs analysing again.
        """
        return bool(
            self.scalar(
                "SELECT model_id = ? AND NOT EXISTS (SELECT 1 FROM faces f "
                "WHERE f.photo_id = p.id AND f.occ_lower IS NULL) FROM photos p WHERE id = ?",
                (model_id, photo_id),
            )
        )

    def photos_by_hash(self, content_hash: str) -> list[PhotoRow]:
        rows = self.conn.execute(
            _PHOTO_SQL + "WHERE content_hash = ? ORDER BY id",
            (content_hash,),
        )
        return [PhotoRow(*r) for r in rows]

    def photo(self, photo_id: int) -> PhotoRow:
        row = self.conn.execute(
            _PHOTO_SQL + "WHERE id = ?",
            (photo_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"No photo with id {photo_id} in this library.")
        return PhotoRow(*row)

    def iter_photos(self) -> Iterator[PhotoRow]:
        rows = self.conn.execute(_PHOTO_SQL + "ORDER BY id").fetchall()
        for r in rows:
            yield PhotoRow(*r)

    def touch_photo(self, photo_id: int, raw: bytes, size: int, mtime_ns: int) -> None:
        """Record a new path or timestamp for a photo whose content is unchanged."""
        with self.transaction() as c:
            c.execute(
                "UPDATE photos SET path = ?, size = ?, mtime_ns = ?, status = 'ok', error = NULL "
                "WHERE id = ?",
                (raw, size, mtime_ns, photo_id),
            )

    def save_error(self, raw: bytes, size: int | None, mtime_ns: int | None, reason: str) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO photos (path, size, mtime_ns, status, error, scanned_at) "
                "VALUES (?, ?, ?, 'error', ?, ?) ON CONFLICT(path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, status = 'error', "
                "error = excluded.error, scanned_at = excluded.scanned_at",
                (raw, size, mtime_ns, reason, now()),
            )

    def save_photo(
        self,
        *,
        raw: bytes,
        size: int,
        mtime_ns: int,
        content_hash: str,
        width: int,
        height: int,
        faces: tuple[FaceResult, ...],
        model_id: str,
    ) -> tuple[int, list[int]]:
        """Store one analysed photo and its faces atomically.

        A photo analysed again (changed, or analysed by a newer model) keeps
        its faces where the new analysis finds them: each old face takes the
        new face that overlaps it most (box IoU >= ``facefile.types.MATCH_IOU``), keeping
        its id and so its person, the user's decisions about it and whether
        it is excluded; its box, measures and vectors are the new ones (old
        vectors are dropped, so two models never mix). Old faces nothing
        overlaps are removed; faces at a forgotten position are not stored.

        Returns:
            The photo id and the ids of the faces stored now (kept or new).
        """
        with self.transaction() as c:
            row = c.execute("SELECT id FROM photos WHERE path = ?", (raw,)).fetchone()
            old: list[tuple[int, BBox]] = []
            if row is None:
                cur = c.execute(
                    "INSERT INTO photos (path, size, mtime_ns, content_hash, width, height, "
                    "status, model_id, scanned_at) VALUES (?, ?, ?, ?, ?, ?, 'ok', ?, ?) RETURNING id",
                    (raw, size, mtime_ns, content_hash, width, height, model_id, now()),
                )
                photo_id = int(cur.fetchone()[0])
            else:
                photo_id = int(row[0])
                old = [
                    (int(r[0]), BBox(r[1], r[2], r[3], r[4]))
                    for r in c.execute(
                        'SELECT id, "left", top, "right", bottom FROM faces WHERE photo_id = ?', (photo_id,)
                    )
                ]
                c.execute(
                    "UPDATE photos SET size = ?, mtime_ns = ?, width = ?, height = ?, status = 'ok', "
                    "error = NULL, model_id = ?, scanned_at = ?, "
                    # new content: its embedded metadata has not been read yet
                    "meta_sig = CASE WHEN content_hash = ? THEN meta_sig END, content_hash = ? "
                    "WHERE id = ?",
                    (size, mtime_ns, width, height, model_id, now(), content_hash, content_hash, photo_id),
                )
            kept = match_boxes([b for _, b in old], [f.detection.box for f in faces])
            gone = [fid for i, (fid, _) in enumerate(old) if i not in kept.values()]
            if gone:
                c.executemany("DELETE FROM faces WHERE id = ?", [(fid,) for fid in gone])
            kept_ids = {j: old[i][0] for j, i in kept.items()}
            face_ids = self.write_faces(c, photo_id, faces, kept_ids, content_hash, (width, height), model_id)
        remove_crop_files(self.library_dir, [fid for fid, _ in old])
        return photo_id, face_ids

    def write_faces(
        self,
        c: Connection,
        photo_id: int,
        faces: tuple[FaceResult, ...],
        kept_ids: dict[int, int],
        content_hash: str,
        size: tuple[int, int],
        model_id: str,
    ) -> list[int]:
        """Write a photo's (or video's) analysed faces inside the caller's transaction.

        Args:
            kept_ids: index in ``faces`` -> id of the stored face it continues
                (updated in place, keeping its id and the user's decisions);
                the other faces are inserted unless the user forgot them
                (tombstones, matched on ``content_hash`` and ``size``).

        Returns:
            The ids of the faces stored, in the order of ``faces`` (forgotten ones left out).
        """
        face_ids: list[int] = []
        vectors: list[EmbeddingRow] = []
        stamp = now()
        for j, face in enumerate(faces):
            box, q, span = face.detection.box, face.quality, face.span
            times = (None, None, None) if span is None else (span.t_start, span.t_end, span.t_frame)
            measures = (
                box.left, box.top, box.right, box.bottom,
                np.asarray(face.landmarks, dtype=np.float32).tobytes(),
                face.detection.detector, q.det_score, q.size_px, q.sharpness,
                q.yaw, q.score, q.occlusion_lower, q.occlusion_eyes, q.occlusion_side, *times,
            )  # fmt: skip
            if j in kept_ids:
                face_id = kept_ids[j]
                c.execute(
                    'UPDATE faces SET "left" = ?, top = ?, "right" = ?, bottom = ?, landmarks = ?, '
                    # a face made from a metadata region stays marked so when kept
                    "detector = CASE WHEN detector = 'metadata' AND ? = 'kept' THEN detector "
                    "ELSE ? END, det_score = ?, size_px = ?, sharpness = ?, yaw = ?, quality = ?, "
                    "occ_lower = ?, occ_eyes = ?, occ_side = ?, t_start = ?, t_end = ?, t_frame = ? "
                    "WHERE id = ?",
                    (*measures[:6], *measures[5:], face_id),
                )
                c.execute("DELETE FROM embeddings WHERE face_id = ?", (face_id,))
            else:
                if self._is_tombstoned(c, tombstone_keys(content_hash, box, *size)):
                    continue
                cur = c.execute(
                    'INSERT INTO faces (photo_id, "left", top, "right", bottom, landmarks, detector, '
                    "det_score, size_px, sharpness, yaw, quality, occ_lower, occ_eyes, occ_side, "
                    "t_start, t_end, t_frame, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (photo_id, *measures, stamp),
                )
                face_id = int(cur.fetchone()[0])
            face_ids.append(face_id)
            vectors += [
                (face_id, model_id, view, np.asarray(vector, dtype=np.float32))
                for view, vector in face.embeddings.items()
            ]
        self.engine.insert_embeddings(c, vectors)
        return face_ids

    def face_boxes(self, photo_id: int) -> list[BBox]:
        """The boxes of a photo's faces, excluded ones too."""
        return [
            BBox(*r)
            for r in self.conn.execute(
                'SELECT "left", top, "right", bottom FROM faces WHERE photo_id = ? ORDER BY id', (photo_id,)
            )
        ]

    def stale_photos(self, model_id: str) -> list[PhotoRow]:
        """Analysed photos whose faces were not embedded by ``model_id`` (e.g. after an upgrade)."""
        rows = self.conn.execute(
            _PHOTO_SQL + "WHERE status IN ('ok', 'missing') AND (model_id IS NULL OR model_id <> ?) "
            "ORDER BY id",
            (model_id,),
        )
        return [PhotoRow(*r) for r in rows]

    @staticmethod
    def _is_tombstoned(c: Connection, keys: list[str]) -> bool:
        marks = ",".join("?" * len(keys))
        return c.execute(f"SELECT 1 FROM tombstones WHERE key IN ({marks})", keys).fetchone() is not None

    def mark_missing(self, root_raw: bytes, seen_ids: set[int]) -> int:
        """Mark photos under ``root_raw`` that this scan did not see as missing."""
        prefix = root_raw.rstrip(b"/") + b"/"
        with self.transaction() as c:
            c.execute("CREATE TEMP TABLE IF NOT EXISTS seen (id BIGINT PRIMARY KEY)")
            c.execute("DELETE FROM seen")
            c.executemany("INSERT INTO seen (id) VALUES (?)", ((i,) for i in seen_ids))
            cur = c.execute(
                "UPDATE photos SET status = 'missing' WHERE status = 'ok' "
                "AND substr(path, 1, ?) = ? AND id NOT IN (SELECT id FROM seen)",
                (len(prefix), prefix),
            )
            c.execute("DELETE FROM seen")
            return cur.rowcount

    # -- faces --------------------------------------------------------------
    _FACE_SQL = (
        'SELECT f.id, f.photo_id, p.path, f."left", f.top, f."right", f.bottom, a.person_id, '
        "a.confidence, a.source, f.size_px, f.sharpness, f.det_score, f.yaw, f.quality, "
        "f.t_start, f.t_end, f.t_frame "
        "FROM faces f JOIN photos p ON p.id = f.photo_id "
        "LEFT JOIN assignments a ON a.face_id = f.id "
    )

    @staticmethod
    def _face(r: tuple[object, ...]) -> Face:
        return Face(
            id=int(r[0]),  # type: ignore[arg-type]
            photo_id=int(r[1]),  # type: ignore[arg-type]
            photo=display_path(r[2]),  # type: ignore[arg-type]
            box=BBox(float(r[3]), float(r[4]), float(r[5]), float(r[6])),  # type: ignore[arg-type]
            person_id=None if r[7] is None else int(r[7]),  # type: ignore[arg-type]
            confidence=0.0 if r[8] is None else float(r[8]),  # type: ignore[arg-type]
            source=None if r[9] is None else str(r[9]),
            quality=FaceQuality(
                size_px=float(r[10]),  # type: ignore[arg-type]
                sharpness=float(r[11]),  # type: ignore[arg-type]
                det_score=float(r[12]),  # type: ignore[arg-type]
                yaw=float(r[13]),  # type: ignore[arg-type]
                score=float(r[14]),  # type: ignore[arg-type]
            ),
            span=None if r[15] is None else VideoSpan(float(r[15]), float(r[16]), float(r[17])),  # type: ignore[arg-type]
        )

    def face(self, face_id: int) -> Face:
        row = self.conn.execute(self._FACE_SQL + "WHERE f.id = ?", (face_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No face face-{face_id} in this library; 'facefile faces' lists them.")
        return self._face(row)

    def faces(
        self,
        *,
        person_id: int | None = None,
        unassigned: bool = False,
        photo_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Face]:
        where, params = ["f.is_excluded = 0"], []
        if person_id is not None:
            where.append("a.person_id = ?")
            params.append(person_id)
        if unassigned:
            where.append("a.person_id IS NULL")
        if photo_id is not None:
            where.append("f.photo_id = ?")
            params.append(photo_id)
        sql = self._FACE_SQL + "WHERE " + " AND ".join(where) + " ORDER BY f.id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [self._face(r) for r in self.conn.execute(sql, params)]

    def face_matrix(self, model_id: str, views: tuple[str, ...] = ()) -> FaceMatrix:
        """Every groupable face (not excluded, photo present or missing) with vectors."""
        rows = self.conn.execute(
            "SELECT f.id, f.photo_id, f.quality, f.size_px, e.vector, "
            "COALESCE(a.person_id, -1), CASE WHEN a.source = 'user' THEN 1 ELSE 0 END, "
            "COALESCE(a.confidence, 0), "
            "COALESCE(f.occ_lower, 0), COALESCE(f.occ_eyes, 0), COALESCE(f.occ_side, 0) "
            "FROM faces f JOIN embeddings e ON e.face_id = f.id AND e.model_id = ? "
            "AND e.view = 'full' LEFT JOIN assignments a ON a.face_id = f.id "
            "WHERE f.is_excluded = 0 ORDER BY f.id",
            (model_id,),
        ).fetchall()
        n = len(rows)
        dim = len(rows[0][4]) // 4 if n else 128
        emb = np.empty((n, dim), dtype=np.float32)
        for i, r in enumerate(rows):
            emb[i] = np.frombuffer(r[4], dtype=np.float32)
        face_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        view_arrays: dict[str, NDArray[np.float32]] = {}
        for view in views:
            arr = np.full((n, dim), np.nan, dtype=np.float32)
            index = {int(fid): i for i, fid in enumerate(face_ids)}
            for fid, vec in self.conn.execute(
                "SELECT face_id, vector FROM embeddings WHERE model_id = ? AND view = ?",
                (model_id, view),
            ):
                i = index.get(int(fid))
                if i is not None:
                    arr[i] = np.frombuffer(vec, dtype=np.float32)
            view_arrays[view] = arr
        return FaceMatrix(
            face_ids=face_ids,
            photo_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
            embeddings=emb,
            views=view_arrays,
            quality=np.fromiter((r[2] for r in rows), dtype=np.float32, count=n),
            size_px=np.fromiter((r[3] for r in rows), dtype=np.float32, count=n),
            person=np.fromiter((r[5] for r in rows), dtype=np.int64, count=n),
            is_user=np.fromiter((bool(r[6]) for r in rows), dtype=np.bool_, count=n),
            confidence=np.fromiter((r[7] for r in rows), dtype=np.float32, count=n),
            occlusion=np.array([r[8:11] for r in rows], dtype=np.float32).reshape(n, 3),
        )

    def constraints(self) -> list[tuple[str, int, int | None, int | None]]:
        """``(kind, face_id, person_id, other_face_id)`` for every user constraint."""
        return [
            (str(k), int(f), p, o)
            for k, f, p, o in self.conn.execute(
                "SELECT kind, face_id, person_id, other_face_id FROM constraints ORDER BY id"
            )
        ]

    def has_face(self, face_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM faces WHERE id = ?", (face_id,)).fetchone() is not None

    def landmarks(self, face_id: int) -> NDArray[np.float32]:
        blob = self.scalar("SELECT landmarks FROM faces WHERE id = ?", (face_id,))
        if blob is None:
            raise NotFoundError(f"No face face-{face_id} in this library.")
        return np.frombuffer(blob, dtype=np.float32).reshape(-1, 2)  # type: ignore[arg-type]

    # -- people (reads) -----------------------------------------------------
    def people(self, *, include_hidden: bool = False) -> list[Person]:
        sql = (
            "SELECT p.id, p.name, p.is_hidden, COUNT(f.id), COUNT(DISTINCT f.photo_id), "
            "(SELECT a2.face_id FROM assignments a2 JOIN faces f2 ON f2.id = a2.face_id "
            " WHERE a2.person_id = p.id AND f2.is_excluded = 0 "
            " ORDER BY f2.quality DESC, f2.id LIMIT 1), "
            "SUM(CASE WHEN a.source = 'user' AND f.id IS NOT NULL THEN 1 ELSE 0 END) "
            "FROM people p LEFT JOIN assignments a ON a.person_id = p.id "
            "LEFT JOIN faces f ON f.id = a.face_id AND f.is_excluded = 0 "
        )
        if not include_hidden:
            sql += "WHERE p.is_hidden = 0 "
        # an unnamed person with no face left is kept only to remember "not this person"
        sql += "GROUP BY p.id HAVING COUNT(f.id) > 0 OR p.name IS NOT NULL ORDER BY COUNT(f.id) DESC, p.id"
        return [
            Person(int(i), n, bool(h), int(nf), int(np_), None if c is None else int(c), int(nu or 0))
            for i, n, h, nf, np_, c, nu in self.conn.execute(sql)
        ]

    def person(self, person_id: int) -> Person:
        row = self.conn.execute(
            "SELECT p.id, p.name, p.is_hidden, "
            "(SELECT COUNT(*) FROM assignments a JOIN faces f ON f.id = a.face_id "
            " WHERE a.person_id = p.id AND f.is_excluded = 0), "
            "(SELECT COUNT(DISTINCT f.photo_id) FROM assignments a JOIN faces f ON f.id = a.face_id "
            " WHERE a.person_id = p.id AND f.is_excluded = 0), "
            "(SELECT a2.face_id FROM assignments a2 JOIN faces f2 ON f2.id = a2.face_id "
            " WHERE a2.person_id = p.id AND f2.is_excluded = 0 ORDER BY f2.quality DESC, f2.id LIMIT 1), "
            "(SELECT COUNT(*) FROM assignments a JOIN faces f ON f.id = a.face_id "
            " WHERE a.person_id = p.id AND f.is_excluded = 0 AND a.source = 'user') "
            "FROM people p WHERE p.id = ?",
            (person_id,),
        ).fetchone()
        if row is not None:
            i, n, h, nf, np_, c, nu = row
            return Person(int(i), n, bool(h), int(nf), int(np_), None if c is None else int(c), int(nu))
        raise NotFoundError(
            f"No person person-{person_id:04d} in this library; 'facefile people' lists them."
        )

    def person_ids(self) -> set[int]:
        return {int(r[0]) for r in self.conn.execute("SELECT id FROM people")}

    def next_person_id(self) -> int:
        stored = self.get_meta("next_person_id")
        top = self.scalar("SELECT MAX(id) FROM people")
        return max(int(stored or 1), int(top or 0) + 1)  # type: ignore[arg-type]

    def find_person_by_name(self, name: str) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT id FROM people WHERE name = ?", (name,))]

    def counts(self) -> dict[str, int]:
        q = self.scalar
        return {
            "photos": int(q("SELECT COUNT(*) FROM photos WHERE status = 'ok'") or 0),  # type: ignore[arg-type]
            "missing": int(q("SELECT COUNT(*) FROM photos WHERE status = 'missing'") or 0),  # type: ignore[arg-type]
            "errors": int(q("SELECT COUNT(*) FROM photos WHERE status = 'error'") or 0),  # type: ignore[arg-type]
            "faces": int(q("SELECT COUNT(*) FROM faces") or 0),  # type: ignore[arg-type]
            "assigned": int(q("SELECT COUNT(*) FROM assignments") or 0),  # type: ignore[arg-type]
            "people": int(
                q("SELECT COUNT(DISTINCT person_id) FROM assignments") or 0  # type: ignore[arg-type]
            ),
        }


def remove_crop_files(library_dir: Path, face_ids: Iterable[int]) -> None:
    """Delete cached crops (``crops/<size>/<face_id>.jpg``) of these faces."""
    crops = library_dir / "crops"
    if not crops.is_dir():
        return
    for fid in face_ids:
        for path in crops.glob(f"*/{int(fid)}.*"):
            path.unlink(missing_ok=True)


def require_library(library_dir: Path) -> None:
    """Refuse a folder without ``library.db`` (``Store(..., create=False)`` checks either engine)."""
    if not (library_dir / "library.db").exists():
        raise LibraryError(
            f"No library at {library_dir}: run 'facefile scan PHOTOS' first, or point "
            "--library / FACEFILE_LIBRARY at an existing library."
        )
