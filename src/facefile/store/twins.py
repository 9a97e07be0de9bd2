"""RAW files kept as twins of a photo: ``IMG_1.CR2`` beside ``IMG_1.JPG`` is one shot.

The pair is one photo in the library, analysed from the JPEG (or HEIC,
TIFF): the camera's own rendering, decoded in a fraction of a RAW's time.
The RAW is listed with it, so ``faces --json``, exports and XMP sidecars
cover both files.
"""

from __future__ import annotations

from collections.abc import Iterable

from facefile.media.files import display_path
from facefile.store.db import Store


def save_twins(store: Store, pairs: Iterable[tuple[bytes, int]]) -> None:
    """Record ``(raw path, photo id)`` pairs; a RAW paired before is re-paired."""
    with store.transaction() as c:
        c.executemany(
            "INSERT INTO twins (path, photo_id) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET photo_id = excluded.photo_id",
            list(pairs),
        )


def drop_twins(store: Store, raws: Iterable[bytes]) -> None:
    """Forget pairings (the RAW is now a photo of its own, or gone)."""
    with store.transaction() as c:
        c.executemany("DELETE FROM twins WHERE path = ?", ((r,) for r in raws))


def twin_paths(store: Store, photo_id: int) -> list[bytes]:
    """The RAW files paired with a photo."""
    rows = store.conn.execute("SELECT path FROM twins WHERE photo_id = ? ORDER BY path", (photo_id,))
    return [bytes(r[0]) for r in rows]


def twins_by_photo(store: Store) -> dict[int, list[str]]:
    """Every pairing: photo id -> the RAW files' display paths."""
    out: dict[int, list[str]] = {}
    for path, photo_id in store.conn.execute("SELECT path, photo_id FROM twins ORDER BY path"):
        out.setdefault(int(photo_id), []).append(display_path(path))
    return out


def is_twin(store: Store, raw: bytes) -> bool:
    return store.conn.execute("SELECT 1 FROM twins WHERE path = ?", (raw,)).fetchone() is not None
