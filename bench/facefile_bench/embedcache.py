"""Run the real analysis on a labelled set and cache the result per model.

One ``.npz`` per (dataset fingerprint, model, analysis config, condition,
seed) under the cache folder (default ``~/.cache/facefile/bench``), so
reruns and other groupings of the same faces are instant.

Per image we keep the *labelled* face: the detection whose box centre is
nearest the image centre (LFW images show one centred person; others may
appear behind). An image with no detection keeps NaN vectors and
``is_detected = False``; scoring treats it as a singleton.

Under a condition only the affected half of the images is analysed again:
the other half is read from the clean run of the same set when it is cached.
"""

from __future__ import annotations

import ast
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
from facefile_bench.conditions import apply_condition, check_condition, choose_affected
from facefile_bench.dataset import LabelledSet

DEFAULT_CACHE = Path.home() / ".cache" / "facefile" / "bench"
BENCH_VIEWS = ("full", "upper")


@dataclass(frozen=True)
class EmbeddedSet:
    """The labelled face of every image of a set, after the real pipeline.

    Attributes:
        paths, identities: as in :class:`LabelledSet`.
        embeddings: view -> ``float32 (n, d)``; NaN rows where undetected.
        is_detected: ``bool (n,)``.
        is_affected: ``bool (n,)`` whether the condition was drawn on the image.
        quality, size_px: ``float32 (n,)`` of the labelled face (0 if none).
        occlusion: ``float32 (n, 3)`` its lower-face, eye and side
            occlusion scores (:func:`facefile.analyze.quality.occlusion`; 0 if none).
        n_faces: ``int64 (n,)`` detections per image.
        seconds: ``float64 (n,)`` analysis time per image (decode excluded).
        model_id: embedder model id; ``condition``: condition name.
    """

    paths: tuple[str, ...]
    identities: tuple[str, ...]
    embeddings: dict[str, NDArray[np.float32]]
    is_detected: NDArray[np.bool_]
    is_affected: NDArray[np.bool_]
    quality: NDArray[np.float32]
    size_px: NDArray[np.float32]
    occlusion: NDArray[np.float32]
    n_faces: NDArray[np.int64]
    seconds: NDArray[np.float64]
    model_id: str
    condition: str

    @property
    def n(self) -> int:
        return len(self.paths)


def _analyze_one(args: tuple[FaceAnalyzer, str, str, str, bool, int]) -> dict:
    analyzer, root, rel, condition, affected, seed = args
    from facefile.media.files import load_image

    image = load_image(Path(root) / rel)
    if affected:
        image, _ = apply_condition(image, condition, seed, rel)
    t0 = time.perf_counter()
    faces = analyzer.analyze(image)
    dt = time.perf_counter() - t0
    out: dict = {"n_faces": len(faces), "seconds": dt}
    if faces:
        h, w = image.shape[:2]
        cx, cy = w / 2.0, h / 2.0
        best = min(
            faces,
            key=lambda f: (f.detection.box.center[0] - cx) ** 2 + (f.detection.box.center[1] - cy) ** 2,
        )
        out["emb"] = {k: np.asarray(v, np.float32) for k, v in best.embeddings.items()}
        out["quality"] = best.quality.score
        out["size_px"] = best.quality.size_px
        q = best.quality
        out["occlusion"] = (q.occlusion_lower, q.occlusion_eyes, q.occlusion_side)
    return out


def _analysis_code_version() -> str:
    """Hash of the syntax tree of every module that shapes a cached value.

    Any change to detection, alignment, quality or embedding code, or to how
    a condition is drawn, makes new cache entries instead of serving stale
    ones; comments and layout (a formatter's work) do not.
    """
    import facefile

    root = Path(facefile.__file__).parent
    names = (
        "analyze/analyzer.py",
        "analyze/quality.py",
        "align/keypoints.py",
        "align/dlib.py",
        "media/files.py",
        "models/onnx_runtime.py",
    )
    files = sorted(
        [
            *(root / n for n in names),
            Path(__file__).with_name("conditions.py"),
            *root.glob("detect/*.py"),
            *root.glob("embed/*.py"),
        ]
    )
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(ast.dump(ast.parse(f.read_text(encoding="utf-8"))).encode())
    return h.hexdigest()[:16]


def cache_key(ds: LabelledSet, config: AnalyzeConfig, model_id: str, condition: str, seed: int):
    blob = json.dumps(
        {
            "data": ds.fingerprint(),
            "config": asdict(config),
            "model": model_id,
            "condition": condition,
            "seed": seed,
            "version": 3,
            "code": _analysis_code_version(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def embed_set(
    ds: LabelledSet,
    condition: str = "clean",
    seed: int = 0,
    cache_dir: Path | None = None,
    workers: int = 2,
    config: AnalyzeConfig | None = None,
) -> tuple[EmbeddedSet, bool]:
    """Analyse every image of ``ds`` (with ``condition`` on half), or load the cache.

    Args:
        ds: the labelled set.
        condition: one of ``conditions.CONDITIONS``.
        seed: which images get the condition and how it is drawn.
        cache_dir: cache folder (created); ``None`` for the default.
        workers: analysis processes.
        config: analysis settings; default facefile's with views full+upper.

    Returns:
        ``(embedded set, was_cached)``.
    """
    check_condition(condition)
    cfg = config or AnalyzeConfig(views=BENCH_VIEWS)
    analyzer = FaceAnalyzer(cfg)
    model_id = analyzer.model_id
    folder = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cache_key(ds, cfg, model_id, condition, seed)}.npz"
    if path.exists():
        return _load(path, ds, model_id, condition), True
    whole = _whole_set(ds)
    whole_path = folder / f"{cache_key(whole, cfg, model_id, condition, seed)}.npz"
    if condition == "clean" and whole.n_images > ds.n_images and whole_path.exists():
        # a seeded subset of a set already analysed: its rows, not a new analysis
        at = {rel: i for i, rel in enumerate(whole.paths)}
        return _take(_load(whole_path, whole, model_id, condition), [at[r] for r in ds.paths]), True

    affected = choose_affected(ds.paths, ds.identities, seed) if condition != "clean" else set()
    clean_path = folder / f"{cache_key(ds, cfg, model_id, 'clean', seed)}.npz"
    reuse = _results_of(clean_path, cfg.views) if condition != "clean" and clean_path.exists() else None
    todo = [i for i in range(ds.n_images) if reuse is None or i in affected]
    jobs = [(analyzer, str(ds.root), ds.paths[i], condition, i in affected, seed) for i in todo]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            fresh = list(pool.map(_analyze_one, jobs, chunksize=8))
    else:
        fresh = [_analyze_one(j) for j in jobs]
    results = list(reuse) if reuse is not None else [{} for _ in range(ds.n_images)]
    for i, r in zip(todo, fresh, strict=True):
        results[i] = r
    n = ds.n_images
    dim = next((len(r["emb"]["full"]) for r in results if "emb" in r), 128)
    emb = {v: np.full((n, dim), np.nan, np.float32) for v in cfg.views}
    quality = np.zeros(n, np.float32)
    size = np.zeros(n, np.float32)
    occluded = np.zeros((n, 3), np.float32)
    for i, r in enumerate(results):
        if "emb" in r:
            for v in cfg.views:
                emb[v][i] = r["emb"][v]
            quality[i], size[i], occluded[i] = r["quality"], r["size_px"], r["occlusion"]
    es = EmbeddedSet(
        paths=ds.paths,
        identities=ds.identities,
        embeddings=emb,
        is_detected=np.array(["emb" in r for r in results], bool),
        is_affected=np.array([i in affected for i in range(n)], bool),
        quality=quality,
        size_px=size,
        occlusion=occluded,
        n_faces=np.array([r["n_faces"] for r in results], np.int64),
        seconds=np.array([r["seconds"] for r in results], np.float64),
        model_id=model_id,
        condition=condition,
    )
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        **{f"emb_{v}": a for v, a in emb.items()},
        is_detected=es.is_detected,
        is_affected=es.is_affected,
        quality=quality,
        size_px=size,
        occlusion=occluded,
        n_faces=es.n_faces,
        seconds=es.seconds,
    )
    tmp.replace(path)
    return es, False


def _whole_set(ds: LabelledSet) -> LabelledSet:
    from facefile_bench.dataset import load_labelled

    return load_labelled(ds.root)


def _take(es: EmbeddedSet, rows: list[int]) -> EmbeddedSet:
    """The rows ``rows`` of ``es``, every per-image array alike."""
    idx = np.asarray(rows, dtype=np.int64)
    return EmbeddedSet(
        paths=tuple(es.paths[i] for i in rows),
        identities=tuple(es.identities[i] for i in rows),
        embeddings={k: v[idx] for k, v in es.embeddings.items()},
        is_detected=es.is_detected[idx],
        is_affected=es.is_affected[idx],
        quality=es.quality[idx],
        size_px=es.size_px[idx],
        occlusion=es.occlusion[idx],
        n_faces=es.n_faces[idx],
        seconds=es.seconds[idx],
        model_id=es.model_id,
        condition=es.condition,
    )


def _results_of(path: Path, views: tuple[str, ...]) -> list[dict]:
    """Per-image results of a cached run, in the shape :func:`_analyze_one` returns."""
    with np.load(path) as z:
        arr = {k: z[k] for k in z.files}  # each z[k] decompresses its whole array: read once
    out: list[dict] = []
    for i, found in enumerate(arr["is_detected"]):
        r: dict = {"n_faces": int(arr["n_faces"][i]), "seconds": float(arr["seconds"][i])}
        if found:
            r["emb"] = {v: arr[f"emb_{v}"][i] for v in views}
            r["quality"], r["size_px"] = float(arr["quality"][i]), float(arr["size_px"][i])
            r["occlusion"] = tuple(float(x) for x in arr["occlusion"][i])
        out.append(r)
    return out


def _load(path: Path, ds: LabelledSet, model_id: str, condition: str) -> EmbeddedSet:
    with np.load(path) as z:
        emb = {k[4:]: z[k] for k in z.files if k.startswith("emb_")}
        return EmbeddedSet(
            paths=ds.paths,
            identities=ds.identities,
            embeddings=emb,
            is_detected=z["is_detected"],
            is_affected=z["is_affected"],
            quality=z["quality"],
            size_px=z["size_px"],
            occlusion=z["occlusion"],
            n_faces=z["n_faces"],
            seconds=z["seconds"],
            model_id=model_id,
            condition=condition,
        )
