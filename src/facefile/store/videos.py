"""Videos in the library: a video is a row of ``photos`` (kind ``'video'``); each face one track.

A video analysed again (changed, or analysed by another model) keeps its
faces where the new tracks overlap them in time, as a photo keeps faces by
box overlap (:meth:`facefile.store.db.Store.save_photo`): each old face takes
the new track that overlaps it most (time-span IoU at least
:data:`MATCH_SPAN_IOU`, the box of the two crop frames breaking ties), keeping
its id, person, the user's decisions and whether it is excluded. Old faces no
track overlaps are removed; tracks at a forgotten position are not stored.
The whole video is one transaction, so a scan killed during a video stores
nothing of it and the next scan analyses it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from facefile.store.db import Store, remove_crop_files
from facefile.store.schema import now
from facefile.types import BBox, FaceResult, VideoSpan

MATCH_SPAN_IOU = 0.3
"""Time-span overlap at which a track of a video analysed anew takes an old face's place."""


@dataclass(frozen=True)
class VideoAppearance:
    """A person in a video: the video, its face and when the person is seen."""

    photo_id: int
    path: bytes
    face_id: int
    span: VideoSpan


def span_iou(a: VideoSpan, b: VideoSpan) -> float:
    """Overlap of two time spans over their union; a one-sample span counts as 0.5 s wide."""
    a0, a1 = a.t_start - 0.25, a.t_end + 0.25
    b0, b1 = b.t_start - 0.25, b.t_end + 0.25
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def _match(old: list[tuple[int, VideoSpan, BBox]], new: tuple[FaceResult, ...]) -> dict[int, int]:
    """``{new index: old index}``, best overlaps first, each used once."""
    pairs = []
    for i, (_, span, box) in enumerate(old):
        for j, face in enumerate(new):
            assert face.span is not None
            t = span_iou(span, face.span)
            if t >= MATCH_SPAN_IOU:
                pairs.append((t + 0.5 * box.iou(face.detection.box), i, j))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used and j not in out:
            out[j] = i
            used.add(i)
    return out


def save_video(
    store: Store,
    *,
    raw: bytes,
    size: int,
    mtime_ns: int,
    content_hash: str,
    width: int,
    height: int,
    duration_s: float,
    faces: tuple[FaceResult, ...],
    model_id: str,
) -> tuple[int, list[int]]:
    """Store one analysed video and its faces (one per track) atomically.

    Args:
        faces: each with its :class:`~facefile.types.VideoSpan`; boxes in
            the video's full displayed pixels (``width`` x ``height``).

    Returns:
        The video's photo id and the ids of the faces stored now (kept or new).
    """
    with store.transaction() as c:
        row = c.execute("SELECT id FROM photos WHERE path = ?", (raw,)).fetchone()
        old: list[tuple[int, VideoSpan, BBox]] = []
        if row is None:
            cur = c.execute(
                "INSERT INTO photos (path, size, mtime_ns, content_hash, width, height, status, "
                "model_id, scanned_at, kind, duration_s, meta_sig) "
                "VALUES (?, ?, ?, ?, ?, ?, 'ok', ?, ?, 'video', ?, '') "
                "RETURNING id",
                (raw, size, mtime_ns, content_hash, width, height, model_id, now(), duration_s),
            )
            photo_id = int(cur.fetchone()[0])
        else:
            photo_id = int(row[0])
            old = [
                (
                    int(r[0]),
                    VideoSpan(float(r[5] or 0.0), float(r[6] or 0.0), float(r[7] or 0.0)),
                    BBox(float(r[1]), float(r[2]), float(r[3]), float(r[4])),
                )
                for r in c.execute(
                    'SELECT id, "left", top, "right", bottom, t_start, t_end, t_frame FROM faces '
                    "WHERE photo_id = ?",
                    (photo_id,),
                )
            ]
            c.execute(
                "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = ?, width = ?, height = ?, "
                "status = 'ok', error = NULL, model_id = ?, scanned_at = ?, kind = 'video', duration_s = ?, "
                "meta_sig = '' WHERE id = ?",
                (size, mtime_ns, content_hash, width, height, model_id, now(), duration_s, photo_id),
            )
        kept = _match(old, faces)
        gone = [fid for i, (fid, _, _) in enumerate(old) if i not in kept.values()]
        if gone:
            c.executemany("DELETE FROM faces WHERE id = ?", [(fid,) for fid in gone])
        assert all(face.span is not None for face in faces)
        kept_ids = {j: old[i][0] for j, i in kept.items()}
        face_ids = store.write_faces(c, photo_id, faces, kept_ids, content_hash, (width, height), model_id)
    # a kept face's crop was cut from its old frame
    remove_crop_files(store.library_dir, [fid for fid, _, _ in old])
    return photo_id, face_ids


def video_spans(store: Store) -> list[tuple[int, int, float, float]]:
    """``(face_id, video's photo id, t_start, t_end)`` of every face of a video, by video."""
    return [
        (int(f), int(p), float(s), float(e))
        for f, p, s, e in store.conn.execute(
            "SELECT f.id, f.photo_id, f.t_start, f.t_end FROM faces f "
            "WHERE f.t_start IS NOT NULL ORDER BY f.photo_id, f.t_start, f.id"
        )
    ]


def is_video(store: Store, photo_id: int) -> bool:
    """Whether the library's photo ``photo_id`` is a video."""
    return store.scalar("SELECT kind FROM photos WHERE id = ?", (photo_id,)) == "video"


def person_videos(store: Store, person_id: int) -> list[VideoAppearance]:
    """The videos a person is seen in, one entry per appearance, by video then time."""
    rows = store.conn.execute(
        "SELECT p.id, p.path, f.id, f.t_start, f.t_end, f.t_frame FROM assignments a "
        "JOIN faces f ON f.id = a.face_id JOIN photos p ON p.id = f.photo_id "
        "WHERE a.person_id = ? AND f.is_excluded = 0 AND f.t_start IS NOT NULL ORDER BY p.path, f.t_start",
        (person_id,),
    )
    return [
        VideoAppearance(int(pid), bytes(path), int(fid), VideoSpan(float(s), float(e), float(t)))
        for pid, path, fid, s, e, t in rows
    ]
