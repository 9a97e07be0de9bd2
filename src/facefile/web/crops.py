"""Face crops for people's eyes: square JPEGs cut from the original photos, cached on disk.

A crop lives at ``<library>/crops/<size>/<face_id>.jpg``; ``forget`` deletes
``crops/*/<face_id>.*``, so this layout is part of the erase guarantee. A
PostgreSQL library has a crop folder on each machine that uses it
(:mod:`facefile.store.location`); a face forgotten on one machine leaves the
others' crops behind, so a cached crop is served only while its face exists
(and deleted when it does not). Cutting
one face decodes its whole photo, so every face of that photo is cut at the
same time: a person page then costs one decode per photo, not per face. A
face of a video is cut from the frame of its ``t_frame``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from facefile.media.files import load_image
from facefile.media.video import frame_at
from facefile.store.db import Store, remove_crop_files
from facefile.types import BBox, RGBImage

CROP_SIZES = (96, 160, 320)
"""Sizes, in pixels, a caller may ask for (a fixed set keeps the cache bounded)."""
MARGIN = 0.35
"""Extra room around the face box on every side, as a fraction of the box side."""
JPEG_QUALITY = 85

_decode_slots = threading.BoundedSemaphore(2)  # why: full-size decodes are large; cap memory


def crop_path(library_dir: Path, face_id: int, size: int) -> Path:
    return library_dir / "crops" / str(size) / f"{face_id}.jpg"


def face_crop(store: Store, face_id: int, size: int = 160) -> Path:
    """The cached crop of one face, cut now if missing.

    Args:
        store: the library (read-only is enough).
        face_id: the face.
        size: side of the square crop in pixels; one of :data:`CROP_SIZES`.

    Returns:
        Path of a ``size`` x ``size`` JPEG.

    Raises:
        ValueError: ``size`` is not one of :data:`CROP_SIZES`.
        NotFoundError: no such face.
        MediaError: the photo cannot be read (moved, deleted or corrupt).
    """
    if size not in CROP_SIZES:
        raise ValueError(f"Crop size {size} is not one of {CROP_SIZES}.")
    path = crop_path(store.library_dir, face_id, size)
    if path.exists():
        if store.has_face(face_id):
            return path
        remove_crop_files(store.library_dir, [face_id])  # forgotten elsewhere (a shared library)
    face = store.face(face_id)
    with _decode_slots:
        if path.exists():  # cut by another thread while we waited
            return path
        photo = store.photo(face.photo_id)
        if face.span is not None:
            # a video's face: cut from its own frame (the video's other faces have other frames)
            frame, scale = frame_at(photo.path, face.span.t_frame)
            _write_crop(frame, face.box.scaled(1.0 / scale), size, path)
            return path
        image = load_image(os.fsdecode(photo.path))
        siblings = store.faces(photo_id=face.photo_id)
        if all(f.id != face_id for f in siblings):  # an excluded face still gets its crop
            siblings.append(face)
        for f in siblings:
            target = crop_path(store.library_dir, f.id, size)
            if not target.exists():
                _write_crop(image, f.box, size, target)
    return path


def _write_crop(image: RGBImage, box: BBox, size: int, target: Path) -> None:
    from PIL import Image

    arr = image
    h, w = arr.shape[:2]
    cx, cy = box.center
    half = max(box.width, box.height) * (0.5 + MARGIN)
    left, top = round(cx - half), round(cy - half)
    right, bottom = round(cx + half), round(cy + half)
    # pad with grey where the square leaves the photo, so the face stays centred
    canvas = Image.new("RGB", (max(right - left, 1), max(bottom - top, 1)), (128, 128, 128))
    src = Image.fromarray(arr[max(top, 0) : min(bottom, h), max(left, 0) : min(right, w)])
    canvas.paste(src, (max(-left, 0), max(-top, 0)))
    canvas = canvas.resize((size, size), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as fh:
            canvas.save(fh, "JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
