"""What the non-face rule costs real faces: facefile's own grouping with and without it.

Run::

    nice -n 10 python -m facefile_bench.nonface_rule --data ../shared/data/rmfrd-dev \\
        --data ../shared/data/celeb17 --data ../shared/data/lfw-dev:1000

One analysis per photo (the biggest face, as in ``crop_views``); the
product's default clusterer groups the faces twice: with each face's quality
as analysed (a face that looks like no face gets 0,
:mod:`facefile.analyze.facelike`) and with the quality it would have without
that factor. BCubed F, photos without a face as singletons.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
from facefile.analyze.quality import EYES_WEIGHT, combined_score
from facefile_bench.dataset import load_labelled
from facefile_bench.facefile_column import facefile_grouper
from facefile_bench.metrics import score

_ANALYZER: FaceAnalyzer | None = None


def _one(path: str) -> dict | None:
    global _ANALYZER
    from facefile.media.files import load_image

    if _ANALYZER is None:
        _ANALYZER = FaceAnalyzer(AnalyzeConfig())
    faces = _ANALYZER.analyze(load_image(Path(path)))
    if not faces:
        return None
    f = max(faces, key=lambda f: f.detection.box.width * f.detection.box.height)
    q = f.quality
    occ = (q.occlusion_lower, q.occlusion_eyes, q.occlusion_side)
    covered = max(occ[0], EYES_WEIGHT * occ[1], occ[2])
    base = combined_score(q.size_px, q.sharpness, q.det_score, q.yaw, covered)
    return {
        "emb": {k: np.asarray(v, np.float32) for k, v in f.embeddings.items()},
        "quality": q.score,
        "base": base,
        "size": q.size_px,
        "occ": occ,
        "nonface": getattr(q, "nonface", float("nan")),  # absent before facefile.analyze.facelike
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="PATH or PATH:LIMIT (repeatable)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench-results/nonface_rule.json"))
    args = ap.parse_args()
    grouper = facefile_grouper()
    rows = []
    for spec in args.data:
        root, _, limit = spec.partition(":")
        ds = load_labelled(root, limit=int(limit) if limit else None, seed=0)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            res = list(pool.map(_one, [str(ds.root / p) for p in ds.paths], chunksize=8))
        found = np.array([r is not None for r in res])
        got = [r for r in res if r is not None]
        truth = np.array(ds.identities)
        emb = {v: np.stack([r["emb"][v] for r in got]) for v in got[0]["emb"]}
        row = {"data": spec, "n": ds.n_images, "found": float(found.mean())}
        for name, key in (("with rule", "quality"), ("without rule", "base")):
            labels = grouper.group(
                emb,
                np.arange(len(got), dtype=np.int64),
                np.array([r[key] for r in got], np.float32),
                np.array([r["size"] for r in got], np.float32),
                occlusion=np.array([r["occ"] for r in got], np.float32),
            )
            pred = np.full(ds.n_images, -1, np.int64)
            pred[found] = labels
            s = score(truth, pred)
            row[name] = {"bcubed_f": s.bcubed_f, "assigned": float(np.mean(labels >= 0))}
        row["quality_zeroed"] = float(np.mean([r["quality"] == 0 and r["base"] > 0 for r in got]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
