"""Detection on photos without identity labels: is a face found at all?

For real masked photos (``../shared/data/rwmfd-masked``), where synthetic
drawings cannot show whether masked faces are *found*: the share of photos
with at least one face, faces per photo and the face sizes, through the
product's own ``FaceAnalyzer.detect`` (the same resizing and minimum face
size as a scan).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
from facefile.errors import MediaError
from facefile.media.files import iter_photo_files, load_image

_ANALYZER: FaceAnalyzer | None = None


def _detect_one(path: str) -> tuple[int, list[float], float, str]:
    """``(faces, sizes in px, seconds, error)`` for one photo."""
    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = FaceAnalyzer(AnalyzeConfig())
    try:
        image = load_image(path)
    except MediaError as exc:
        return 0, [], 0.0, exc.reason
    t0 = time.perf_counter()
    dets = _ANALYZER.detect(image)
    return len(dets), [d.box.size_px for d in dets], time.perf_counter() - t0, ""


def run_detection(
    folder: Path, workers: int = 2, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Detect faces in every photo under ``folder`` with facefile's defaults.

    Returns:
        A row: photos, photos with a face (count and share), faces, faces
        per photo, median face size, unreadable photos, seconds per photo.
    """
    paths = sorted(f.path for f in iter_photo_files(folder) if f.is_photo)
    if progress:
        progress(f"{len(paths)} photos")
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_detect_one, paths, chunksize=8))
    else:
        results = [_detect_one(p) for p in paths]
    readable = [r for r in results if not r[3]]
    found = sum(1 for r in readable if r[0] > 0)
    sizes = [s for r in readable for s in r[1]]
    n = max(1, len(readable))
    return {
        "photos": len(readable),
        "unreadable": len(results) - len(readable),
        "photos_with_face": found,
        "share_with_face": found / n,
        "faces": len(sizes),
        "faces_per_photo": len(sizes) / n,
        "median_face_px": float(np.median(sizes)) if sizes else 0.0,
        "detect_s_per_photo": sum(r[2] for r in readable) / n,
    }
