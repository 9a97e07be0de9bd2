"""Throughput of ``facefile scan`` beside the ``face_recognition`` library's loop.

* facefile: ``facefile scan DIR --library TMP --workers N -q`` as a
  subprocess, timed end to end (discovery, decoding, analysis, storage,
  grouping).
* face_recognition (not a dependency): its per-image loop reproduced with
  the same dlib calls -- ``face_locations(img, 1, "hog")`` is
  ``dlib.get_frontal_face_detector()(img, 1)``; ``face_encodings(img, locs)``
  is the 5-point ``shape_predictor`` plus
  ``compute_face_descriptor(img, shape, num_jitters=1)``; images are loaded
  with PIL ``.convert("RGB")``. One process, as the library's loop runs.
* model-only limit: detector time per image and landmark+descriptor time
  per face, from that loop; faces/s if nothing else cost anything.

Two sets: the labelled 250 px images, and 12-megapixel (4000x3000) group
photos composed from them (six faces each, enlarged 2.4x on a grey
background), so the detector's resizing and the per-photo costs show.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facefile_bench.dataset import LabelledSet


def compose_group_photos(
    ds: LabelledSet, out_dir: Path, n_photos: int, faces_per_photo: int = 6, seed: int = 0
) -> list[Path]:
    """Write ``n_photos`` 4000x3000 JPEGs, each tiling ``faces_per_photo`` images.

    Returns:
        The paths written.
    """
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    cols, rows = 3, 2
    cell_w, cell_h = 4000 // cols, 3000 // rows
    for p in range(n_photos):
        canvas = Image.new("RGB", (4000, 3000), (120, 118, 115))
        picks = rng.choice(ds.n_images, size=faces_per_photo, replace=False)
        for k, i in enumerate(picks.tolist()):
            face = Image.open(ds.root / ds.paths[i]).convert("RGB").resize((600, 600))
            x = (k % cols) * cell_w + int(rng.integers(0, cell_w - 600))
            y = (k // cols) * cell_h + int(rng.integers(0, cell_h - 600))
            canvas.paste(face, (x, y))
        path = out_dir / f"group_{p:03d}.jpg"
        canvas.save(path, quality=90)
        paths.append(path)
    return paths


def face_recognition_loop(paths: list[Path]) -> dict[str, Any]:
    """The ``face_recognition`` per-image loop with its exact dlib calls."""
    import dlib
    import face_recognition_models as frm

    detector = dlib.get_frontal_face_detector()
    sp5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    t_det = t_emb = 0.0
    faces = 0
    t0 = time.perf_counter()
    for p in paths:
        img = np.array(Image.open(p).convert("RGB"))
        a = time.perf_counter()
        locs = detector(img, 1)
        b = time.perf_counter()
        for r in locs:
            shape = sp5(img, r)
            np.array(rec.compute_face_descriptor(img, shape, 1))
        t_det += b - a
        t_emb += time.perf_counter() - b
        faces += len(locs)
    total = time.perf_counter() - t0
    n = len(paths)
    return {
        "algorithm": "face_recognition loop (dlib HOG, upsample 1, 1 process)",
        "images": n,
        "faces": faces,
        "seconds": total,
        "images_per_s": n / total,
        "faces_per_s": faces / total if total else 0.0,
        "detect_s_per_image": t_det / n,
        "embed_s_per_face": t_emb / max(1, faces),
        "model_only_faces_per_s": faces / (t_det + t_emb) if faces else 0.0,
    }


FR_LIKE = {
    "FACEFILE_ANALYZE_DETECTOR": "dlib_hog",
    "FACEFILE_ANALYZE_EMBEDDER": "dlib_resnet",
    "FACEFILE_ANALYZE_VIEWS": "full",
}
"""facefile configured with face_recognition's detector and descriptor (HOG, upsample 1, ResNet)."""


def facefile_scan(
    paths: list[Path], workers: int, env: dict[str, str] | None = None, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """``facefile scan`` over a folder holding exactly ``paths`` (symlinked).

    Args:
        env: settings as ``FACEFILE_*`` variables (default: facefile's defaults).
        extra: more ``facefile scan`` arguments (``--ray``).
    """
    with tempfile.TemporaryDirectory(prefix="facefile-speed-") as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i, p in enumerate(paths):
            (photos / f"{i:05d}_{p.name}").symlink_to(Path(p).resolve())
        exe = shutil.which("facefile") or str(Path(sys.executable).parent / "facefile")
        lib = str(Path(tmp) / "lib")
        cmd = [exe, "scan", str(photos), "--library", lib, "--workers", str(workers), "-q", *extra]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
        total = time.perf_counter() - t0
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"facefile scan failed ({res.returncode}): {tail}")
    m = re.search(r"new faces\D+(\d+)", res.stdout)
    faces = int(m.group(1)) if m else 0
    n = len(paths)
    return {
        "algorithm": f"facefile scan --workers {workers}{''.join(' ' + a for a in extra)} (end to end"
        + (", HOG + full view like face_recognition)" if env == FR_LIKE else ", defaults)"),
        "images": n,
        "faces": faces,
        "seconds": total,
        "images_per_s": n / total,
        "faces_per_s": faces / total,
    }


def facefile_model_only(paths: list[Path]) -> dict[str, Any]:
    """facefile's analyzer in one process: detection vs. whole analysis per face."""
    from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
    from facefile.media.files import load_image

    analyzer = FaceAnalyzer(AnalyzeConfig())
    analyzer.analyze(load_image(paths[0]))  # load models outside the timing
    t_det = t_all = 0.0
    faces = 0
    for p in paths:
        img = load_image(p)
        a = time.perf_counter()
        analyzer.detect(img)
        b = time.perf_counter()
        faces += len(analyzer.analyze(img))
        t_all += time.perf_counter() - b
        t_det += b - a
    n = len(paths)
    return {
        "algorithm": "facefile analyzer, 1 process (model only)",
        "images": n,
        "faces": faces,
        "seconds": t_all,
        "images_per_s": n / t_all,
        "faces_per_s": faces / t_all if t_all else 0.0,
        "detect_s_per_image": t_det / n,
        "embed_s_per_face": (t_all - t_det) / max(1, faces),
        "model_only_faces_per_s": faces / t_all if t_all else 0.0,
    }


def run_speed(
    ds: LabelledSet, n_small: int = 100, n_large: int = 4, workers: int = 2, seed: int = 0
) -> list[dict[str, Any]]:
    """All speed rows, for the small images and the composed 12 MP photos."""
    rows: list[dict[str, Any]] = []
    small = [ds.root / p for p in ds.paths[:n_small]]
    with tempfile.TemporaryDirectory(prefix="facefile-big-") as tmp:
        large = compose_group_photos(ds, Path(tmp), n_large, seed=seed)
        for label, paths in (("250px labelled images", small), ("12 MP group photos", large)):
            for fn in (
                lambda p=paths: facefile_scan(p, workers, FR_LIKE),
                lambda p=paths: facefile_scan(p, workers),
                lambda p=paths: face_recognition_loop(p),
                lambda p=paths: facefile_model_only(p),
            ):
                r = fn()
                r["set"] = label
                rows.append(r)
    return rows
