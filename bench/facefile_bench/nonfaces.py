"""False faces on face-free photos, and what masked faces look like to the same measures.

Run::

    nice -n 10 python -m facefile_bench.nonfaces --masked ../shared/data/rwmfd-masked:300 \\
        --crops ../shared/data/rmfrd-dev

Analyses every photo of :func:`facefile_bench.facefree.face_free_photos` with
facefile's default analysis and prints false faces per 1,000 photos; then
lists, per face, the measures a rule could use (detector score, size, quality,
face-likeness) on the face-free photos, on a seeded subset of real masked
photos (``PATH:LIMIT``) and on the masked crops of a labelled set with a
``manifest.csv`` ``masked`` column, so a rule can be checked against both.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
from facefile.types import RGBImage
from facefile_bench.dataset import IMAGE_SUFFIXES
from facefile_bench.facefree import face_free_photos

_ANALYZER: FaceAnalyzer | None = None


def _faces(image: RGBImage) -> list[dict]:
    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = FaceAnalyzer(AnalyzeConfig())
    h, w = image.shape[:2]
    out = []
    for f in _ANALYZER.analyze(image):
        q = f.quality
        out.append(
            {
                "det_score": q.det_score,
                "size_px": q.size_px,
                "rel_size": q.size_px / max(h, w),
                "quality": q.score,
                "nonface": getattr(q, "nonface", float("nan")),  # absent before facefile.analyze.facelike
                "yaw": q.yaw,
                "occlusion": [q.occlusion_lower, q.occlusion_eyes, q.occlusion_side],
            }
        )
    return out


def _file_faces(path: str) -> list[dict]:
    from facefile.media.files import load_image

    return _faces(load_image(Path(path)))


def _named_faces(item: tuple[str, RGBImage]) -> tuple[str, list[dict]]:
    return item[0], _faces(item[1])


def _folder_sample(spec: str, seed: int) -> list[str]:
    root, _, limit = spec.partition(":")
    files = sorted(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        files = sorted(random.Random(seed).sample(files, min(int(limit), len(files))))
    return files


def _masked_crops(root: str) -> list[str]:
    with open(Path(root) / "manifest.csv", newline="") as f:
        return [str(Path(root) / r["identity"] / r["file"]) for r in csv.DictReader(f) if r["masked"] == "1"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masked", help="folder of real masked photos, PATH or PATH:LIMIT")
    ap.add_argument("--crops", help="labelled set whose manifest.csv marks masked crops")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench-results/nonfaces.json"))
    args = ap.parse_args()
    report: dict = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        free = list(pool.map(_named_faces, face_free_photos(seed=args.seed), chunksize=4))
        n_faces = sum(len(f) for _, f in free)
        report["face_free"] = {
            "photos": len(free),
            "false_faces": n_faces,
            "per_1000": 1000 * n_faces / len(free),
            "faces": {name: faces for name, faces in free if faces},
        }
        print(f"face-free: {len(free)} photos, {n_faces} false faces", flush=True)
        for key, files in (
            ("masked_photos", _folder_sample(args.masked, args.seed) if args.masked else []),
            ("masked_crops", _masked_crops(args.crops) if args.crops else []),
        ):
            if files:
                faces = list(pool.map(_file_faces, files, chunksize=4))
                report[key] = {"photos": len(files), "faces": dict(zip(files, faces, strict=True))}
                found = sum(bool(f) for f in faces) / len(files)
                print(f"{key}: {len(files)} photos, {found:.3f} with a face", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
