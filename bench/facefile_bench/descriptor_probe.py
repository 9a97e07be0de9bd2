"""A second descriptor beside MobileFaceNet: every view a grouping could use, per labelled face.

Run::

    nice -n 10 python -m facefile_bench.descriptor_probe --data ../shared/data/rmfrd-dev \\
        --data ../shared/data/celeb17 --data ../shared/data/lfw-dev

For each labelled collection the real analysis runs with facefile's
defaults, so the labelled face (nearest the photo's centre, as
``facefile bench quality`` keeps it), its quality, occlusion and
MobileFaceNet views are exactly the product's. From the same keypoints the
face is also cut at 224 px on the ArcFace template scaled by 2 (HSE
FaceRes's geometry), and the probe keeps, per face:

* ``full``, ``upper``: the product's MobileFaceNet views (112 px chips);
* ``full_m``, ``upper_m``: the same of the mirrored chips;
* ``full_224``, ``upper_224``: MobileFaceNet on the 224 px chip shrunk 2x
  (box filter): what one 224 px chip for both models would give it;
* ``hse``, ``hse_m``, ``hse_upper``, ``hse_upper_m``: HSE FaceRes (1,024-d)
  on the 224 px chip, mirrored, and with the upper view's grey.

Every vector is a unit vector; the analysis' CPU seconds per photo are kept
apart from HSE's. One ``.npz`` per collection lands in ``--out`` (default
``~/.cache/facefile/bench/probe``); :mod:`facefile_bench.descriptor_mix`
scores groupings from them. ``--light`` keeps only the mirrored
MobileFaceNet views (no HSE, half the time); a probe reuses the photos an
earlier probe of the same folder (e.g. a seeded subset) analysed.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile.align.keypoints import (
    KeypointAligner,
    similarity_transform,
    warp_chip,
)
from facefile.analyze.analyzer import UPPER_CUT, AnalyzeConfig, FaceAnalyzer, upper_view
from facefile.embed.onnx_face import OnnxFaceEmbedder
from facefile.types import AlignedFace, Detection, RGBImage
from facefile_bench.dataset import load_labelled
from facefile_bench.generalise import Collection

HSE_MODEL = Path("../shared/models/hse-faceres-1024d-embedding-only.onnx")
"""HSE FaceRes as `../shared/models` holds it (read from the repository root, like the data)."""
HSE_MEAN_BGR = (103.939, 116.779, 123.68)
EXTRA = ("full_m", "upper_m", "full_224", "upper_224", "hse", "hse_m", "hse_upper", "hse_upper_m")
LIGHT = ("full_m", "upper_m")
"""What ``--light`` keeps beside the product's views: the mirrored ones (no HSE)."""
DEFAULT_OUT = Path.home() / ".cache" / "facefile" / "bench" / "probe"


def hse_embedder(path: Path = HSE_MODEL) -> OnnxFaceEmbedder:
    """HSE FaceRes as the models README gives its input: 224 px, BGR, minus the means."""
    return OnnxFaceEmbedder(
        path, "hse_faceres_1024d", chip_size=224, dim=1024, mean=HSE_MEAN_BGR, scale=1.0, is_bgr=True
    )


def shrink2(chip: RGBImage) -> RGBImage:
    """A chip at half its side, each pixel the mean of a 2x2 block."""
    s = chip.shape[0] // 2
    x = chip[: 2 * s, : 2 * s].astype(np.float32).reshape(s, 2, s, 2, 3).mean(axis=(1, 3))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class _StashAligner:
    """The product's aligner, also cutting a 224 px chip from the same points (kept in ``stash``)."""

    def __init__(self, inner: KeypointAligner) -> None:
        self.inner = inner
        self.big = KeypointAligner(chip_size=224)
        self.stash: list[RGBImage] = []

    def align(self, image: RGBImage, detection: Detection) -> AlignedFace:
        a = self.inner.align(image, detection)
        pts = a.landmarks.astype(np.float64)
        self.stash.append(warp_chip(image, similarity_transform(pts, self.big.template), 224))
        return a


class ProbeAnalyzer(FaceAnalyzer):
    """facefile's analyzer (defaults unchanged) that also returns the views of :data:`EXTRA`."""

    def __init__(self, config: AnalyzeConfig, is_light: bool = False) -> None:
        super().__init__(config)
        self.aligner = _StashAligner(self.aligner)
        self.hse = hse_embedder()
        self.cpu = {"analysis": 0.0, "hse": 0.0}
        self.is_light = is_light

    def _embed(self, chips: Any) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float32]]:
        every = self._views
        self._views = {k: every[k] for k in self.config.views}  # the product's views only
        try:
            views, nonface = super()._embed(chips)
        finally:
            self._views = every
        big = self.aligner.stash[-len(chips) :]
        self.aligner.stash.clear()
        cut = UPPER_CUT["keypoints"]
        mirror = [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        if self.is_light:  # the mirrored views only
            mfn = self.embedder.embed(mirror + [upper_view(c, cut) for c in mirror])
            return {**views, "full_m": mfn[: len(chips)], "upper_m": mfn[len(chips) :]}, nonface
        small = [shrink2(b) for b in big]
        mfn = self.embedder.embed(
            mirror + [upper_view(c, cut) for c in mirror] + small + [upper_view(c, cut) for c in small]
        )
        n = len(chips)
        out = dict(views)
        for i, name in enumerate(("full_m", "upper_m", "full_224", "upper_224")):
            out[name] = mfn[i * n : (i + 1) * n]
        t0 = time.process_time()
        big_m = [np.ascontiguousarray(b[:, ::-1]) for b in big]
        hse = self.hse.embed(
            big + big_m + [upper_view(b, cut) for b in big] + [upper_view(b, cut) for b in big_m]
        )
        self.cpu["hse"] += time.process_time() - t0
        for i, name in enumerate(("hse", "hse_m", "hse_upper", "hse_upper_m")):
            out[name] = hse[i * n : (i + 1) * n]
        return out, nonface


def _one(args: tuple[ProbeAnalyzer, str]) -> dict[str, Any]:
    from facefile.media.files import load_image

    analyzer, path = args
    image = load_image(Path(path))
    analyzer._views = {
        **analyzer._views,
        **{k: (lambda c: c) for k in (LIGHT if analyzer.is_light else EXTRA)},
    }
    analyzer.cpu = {"analysis": 0.0, "hse": 0.0}
    t0 = time.process_time()
    faces = analyzer.analyze(image)
    cpu_all = time.process_time() - t0
    out: dict[str, Any] = {"n_faces": len(faces), "cpu": cpu_all, "cpu_hse": analyzer.cpu["hse"]}
    if faces:
        h, w = image.shape[:2]
        cx, cy = w / 2.0, h / 2.0
        best = min(
            faces,
            key=lambda f: (f.detection.box.center[0] - cx) ** 2 + (f.detection.box.center[1] - cy) ** 2,
        )
        out["emb"] = {k: np.asarray(v, np.float32) for k, v in best.embeddings.items()}
        q = best.quality
        out["quality"], out["size_px"] = q.score, q.size_px
        out["occlusion"] = (q.occlusion_lower, q.occlusion_eyes, q.occlusion_side)
    return out


def _earlier_rows(out: Path, name: str, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Rows of the earlier probes of collection ``name`` in ``out`` (e.g. a subset), by path."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in out.glob(f"{name}*.npz") if not p.name.endswith(".tmp.npz")):
        with np.load(path) as npz:
            if any(f"emb_{k}" not in npz.files for k in names):
                continue
            z = {k: npz[k] for k in npz.files}  # each read of an npz member decompresses it again
            for i, p in enumerate(z["paths"].tolist()):
                r: dict[str, Any] = {
                    "n_faces": int(z["n_faces"][i]),
                    "cpu": z["cpu"][i],
                    "cpu_hse": z["cpu_hse"][i],
                }
                if z["is_detected"][i]:
                    r["emb"] = {k: z[f"emb_{k}"][i] for k in names}
                    r["quality"], r["size_px"], r["occlusion"] = (
                        z["quality"][i],
                        z["size_px"][i],
                        z["occlusion"][i],
                    )
                rows[p] = r
    return rows


def probe(col: Collection, out: Path, workers: int, is_light: bool = False) -> Path:
    """Analyse one collection and save every view (``is_light``: :data:`LIGHT` only); returns the ``.npz``."""
    ds = load_labelled(col.root, limit=col.limit)
    path = (
        out / f"{col.root.name}{'-' + str(col.limit) if col.limit else ''}{'-light' if is_light else ''}.npz"
    )
    if path.exists():
        return path
    names = ("full", "upper", *(LIGHT if is_light else EXTRA))
    done = _earlier_rows(out, col.root.name, names)  # photos a subset's probe already analysed
    analyzer = ProbeAnalyzer(AnalyzeConfig(views=("full", "upper")), is_light)
    todo = [p for p in ds.paths if p not in done]
    jobs = [(analyzer, str(ds.root / p)) for p in todo]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done.update(zip(todo, pool.map(_one, jobs, chunksize=8), strict=True))
    rows = [done[p] for p in ds.paths]
    dims = {k: next(len(r["emb"][k]) for r in rows if "emb" in r) for k in names}
    emb = {k: np.full((len(rows), dims[k]), np.nan, np.float32) for k in names}
    quality = np.zeros(len(rows), np.float32)
    size = np.zeros(len(rows), np.float32)
    occ = np.zeros((len(rows), 3), np.float32)
    for i, r in enumerate(rows):
        if "emb" in r:
            for k in names:
                v = r["emb"][k]
                emb[k][i] = v / np.linalg.norm(v)
            quality[i], size[i], occ[i] = r["quality"], r["size_px"], r["occlusion"]
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")  # the name appears only when the file is whole
    np.savez_compressed(
        tmp,
        paths=np.array(ds.paths),
        identities=np.array(ds.identities),
        is_detected=np.array(["emb" in r for r in rows]),
        quality=quality,
        size_px=size,
        occlusion=occ,
        n_faces=np.array([r["n_faces"] for r in rows]),
        cpu=np.array([r["cpu"] for r in rows]),
        cpu_hse=np.array([r["cpu_hse"] for r in rows]),
        **{f"emb_{k}": v for k, v in emb.items()},
    )
    tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="FOLDER or FOLDER:N")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--light", action="store_true", help="only the mirrored MobileFaceNet views (no HSE)")
    args = ap.parse_args()
    for spec in args.data:
        t0 = time.time()
        path = probe(Collection.parse(spec), args.out, args.workers, args.light)
        with np.load(path) as z:
            cpu, hse = z["cpu"], z["cpu_hse"]
            print(
                f"{spec}: {len(cpu)} photos, {time.time() - t0:.0f} s; CPU per photo "
                f"{1000 * np.median(cpu):.0f} ms median (HSE's 4 views {1000 * np.median(hse):.0f} ms)"
                f" -> {path}"
            )


if __name__ == "__main__":
    main()
