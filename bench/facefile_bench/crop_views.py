"""Face crops as input, and the mirrored second view: what each adds to grouping.

Run::

    nice -n 10 python -m facefile_bench.crop_views \\
        --data ../shared/data/rmfrd-dev --data ../shared/data/celeb17 \\
        --data ../shared/data/lfw-dev:1000
    nice -n 10 python -m facefile_bench.crop_views --data ../shared/data/lfw-dev --speed 200

For each labelled collection (``PATH`` or ``PATH:LIMIT`` for a seeded subset,
as ``facefile bench quality --limit``), the real analysis runs twice: with
tight crops framed in grey (``analyze.crop_margin``, the default) and without
(``crop_margin=0``). Each run keeps, per photo, the biggest face's descriptor
and the descriptor of its horizontally mirrored chip, so one run scores both
"full" and "full + mirror" (the two averaged and re-normalised). Grouping is
plain average linkage (scipy, UPGMA) on unit vectors, cut at facefile's bar
(unit distance 1.0) and at the best bar of a grid for that collection;
photos without a face count as singletons. Scores are BCubed F.

``--speed N`` times the analysis of N photos of the first collection instead:
without the margin, with it (the default), and with the mirrored view too.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facefile.analyze.analyzer import VIEWS, AnalyzeConfig, FaceAnalyzer
from facefile.types import RGBImage
from facefile_bench.dataset import LabelledSet, load_labelled
from facefile_bench.metrics import score
from facefile_bench.peers.agglomerative import cluster as average_linkage

BAR = 1.0
"""facefile's bar as a distance between unit vectors (issue 19's reference)."""
BARS = tuple(round(0.8 + 0.05 * i, 2) for i in range(11))


def mirrored(chip: RGBImage) -> RGBImage:
    """The aligned chip flipped left to right."""
    return np.ascontiguousarray(chip[:, ::-1])


VIEWS.register("bench-mirror", lambda **_: mirrored)


def _one(args: tuple[FaceAnalyzer, str]) -> dict:
    from facefile.media.files import load_image

    analyzer, path = args
    image = load_image(Path(path))
    t0 = time.perf_counter()
    faces = analyzer.analyze(image)
    out: dict = {"seconds": time.perf_counter() - t0, "n_faces": len(faces)}
    if faces:
        best = max(faces, key=lambda f: f.detection.box.width * f.detection.box.height)
        out["full"] = np.asarray(best.embeddings["full"], np.float32)
        out["mirror"] = np.asarray(best.embeddings["bench-mirror"], np.float32)
        out["framed"] = analyzer.crop_margin_px(image, analyzer.detect(image)) > 0
    return out


def embed(ds: LabelledSet, config: AnalyzeConfig, workers: int) -> dict[str, NDArray]:
    """Full and mirrored descriptors (NaN where no face), seconds and framing per photo."""
    analyzer = FaceAnalyzer(config)
    jobs = [(analyzer, str(ds.root / p)) for p in ds.paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(_one, jobs, chunksize=8))
    dim = next(len(r["full"]) for r in rows if "full" in r)
    nan = np.full(dim, np.nan, np.float32)
    return {
        "full": np.stack([r.get("full", nan) for r in rows]),
        "mirror": np.stack([r.get("mirror", nan) for r in rows]),
        "seconds": np.array([r["seconds"] for r in rows]),
        "framed": np.array([bool(r.get("framed", False)) for r in rows]),
    }


def _unit(x: NDArray) -> NDArray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def grouping_scores(truth: NDArray, vectors: NDArray) -> tuple[float, float, float]:
    """BCubed F at :data:`BAR`, the best F over :data:`BARS`, and that bar."""
    found = ~np.isnan(vectors[:, 0])
    x = _unit(vectors[found].astype(np.float64))
    scores = {}
    for bar in sorted({BAR, *BARS}):
        labels = np.arange(len(truth), dtype=np.int64) + len(truth)  # singletons for no face
        labels[found] = average_linkage(x, threshold=bar)
        scores[bar] = score(truth, labels).bcubed_f
    best = max(scores, key=lambda b: scores[b])
    return scores[BAR], scores[best], best


def speed(ds: LabelledSet, configs: dict[str, AnalyzeConfig], repeats: int = 2) -> dict[str, float]:
    """Median milliseconds of :meth:`FaceAnalyzer.analyze` per photo, per config.

    Configs take turns photo by photo in one process (decoding excluded), so
    load from other processes falls on all of them alike.
    """
    from facefile.media.files import load_image

    analyzers = {name: FaceAnalyzer(cfg) for name, cfg in configs.items()}
    images = [load_image(ds.root / p) for p in ds.paths]
    for a in analyzers.values():  # load the models
        a.analyze(images[0])
    times: dict[str, list[float]] = {name: [] for name in analyzers}
    for image in images:
        for name, a in analyzers.items():
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                a.analyze(image)
                best = min(best, time.perf_counter() - t0)
            times[name].append(best)
    return {name: 1000 * float(np.median(t)) for name, t in times.items()} | {
        f"{name} (mean)": 1000 * float(np.mean(t)) for name, t in times.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="PATH or PATH:LIMIT (repeatable)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench-results/crop_views.json"))
    ap.add_argument("--margin-only", action="store_true", help="skip the run without the margin")
    ap.add_argument("--speed", type=int, default=0, help="time N photos of the first --data instead")
    args = ap.parse_args()
    if args.speed:
        ds = load_labelled(args.data[0].partition(":")[0], limit=args.speed, seed=args.seed)
        plain = AnalyzeConfig()
        configs = {
            "no margin": replace(plain, crop_margin=0.0),
            "margin": plain,
            "margin + mirror": replace(plain, mirror=True),
        }
        print(json.dumps({"photos": ds.n_images, **speed(ds, configs)}))
        return
    base = AnalyzeConfig(views=("full", "bench-mirror"))
    results = []
    for spec in args.data:
        root, _, limit = spec.partition(":")
        ds = load_labelled(root, limit=int(limit) if limit else None, seed=args.seed)
        truth = ds.labels()
        runs = [("no margin", replace(base, crop_margin=0.0)), ("margin", base)]
        for name, cfg in runs[1:] if args.margin_only else runs:
            e = embed(ds, cfg, args.workers)
            both = e["full"] + e["mirror"]
            row = {
                "data": spec,
                "n": ds.n_images,
                "analysis": name,
                "found": float(np.mean(~np.isnan(e["full"][:, 0]))),
                "framed": float(np.mean(e["framed"])),
                "ms_per_photo": 1000 * float(np.mean(e["seconds"])),
                "full": grouping_scores(truth, e["full"]),
                "full+mirror": grouping_scores(truth, both),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
