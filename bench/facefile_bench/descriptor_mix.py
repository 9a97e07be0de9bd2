"""Score facefile's default grouping on mixes of MobileFaceNet and HSE FaceRes views.

Run (after :mod:`facefile_bench.descriptor_probe`)::

    nice -n 10 python -m facefile_bench.descriptor_mix --grid main

Reads the probe's ``.npz`` files (rmfrd-dev, celeb17, lfw-dev; the seeded
2,000-photo subset of lfw-dev is taken from the whole by path, as
``facefile bench quality`` picks it) and groups each collection with
facefile's default clusterer, exactly as ``facefile bench quality`` calls it,
for each variant:

* ``w_full``, ``w_upper``: HSE's weight in the full and the upper view. A
  view becomes ``length * [sqrt(1 - w) m, sqrt(w) h]`` for the unit vectors
  ``m`` (MobileFaceNet) and ``h`` (HSE): its squared distances are
  ``(1 - w) d_m^2 + w d_h^2``, a weighted distance, and still a vector of
  one length for the grouping.
* ``mirror``: each model's vector is the mean of the face's and of its
  mirror image's, re-normalised (``analyze.mirror``).
* ``length``: the vectors' length (facefile's MobileFaceNet: 0.52); a
  longer vector is a lower bar for every distance rule at once.
* ``upper_src``: the upper view's HSE part from HSE's own upper view
  (``"upper"``) or from its full view (``"full"``).

BCubed F per collection and their mean go to a JSON lines file and the
screen. ``--bound MANIFEST`` prints instead how often rmfrd-dev's masked
and unmasked faces find their own person (and two ceilings);
``--calibration`` the worst decile gap of the shipped calibration constants
on each variant's descriptors.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile_bench.dataset import load_labelled
from facefile_bench.descriptor_probe import DEFAULT_OUT
from facefile_bench.facefile_column import facefile_grouper
from facefile_bench.metrics import score

LFW = Path("../shared/data/lfw-dev")
COLLECTIONS = ("lfw-dev (2000)", "lfw-dev", "celeb17", "rmfrd-dev")


@dataclass(frozen=True)
class Variant:
    w_full: float = 0.0
    w_upper: float = 0.0
    mirror: bool = False
    length: float = 0.52
    upper_src: str = "upper"
    mfn_src: str = ""  # "" the product's 112 px chips, "_224" the 224 px chip shrunk
    center: str = ""  # HSE centred on the mean HSE vector of this collection; "" not
    dims: int = 0  # with ``center``: HSE projected on that collection's leading directions

    @property
    def label(self) -> str:
        return (
            f"wf={self.w_full:.2f} wu={self.w_upper:.2f} mir={int(self.mirror)} len={self.length:.2f}"
            f" up={self.upper_src} mfn={self.mfn_src or '112'} c={self.center or '-'}{self.dims or ''}"
        )


def load_probe(folder: Path) -> dict[str, dict[str, Any]]:
    """The four collections, each a dict of arrays (``emb_*``, quality, ...)."""
    sets: dict[str, dict[str, Any]] = {}
    named = (
        ("lfw-dev", "lfw-dev"),
        ("lfw-dev (2000)", "lfw-dev-2000"),
        ("celeb17", "celeb17"),
        ("rmfrd-dev", "rmfrd-dev"),
    )
    for name, file in named:
        path = folder / f"{file}.npz"
        if not path.exists():
            path = folder / f"{file}-light.npz"  # the mirrored views only
        if path.exists():
            with np.load(path) as z:
                sets[name] = {k: z[k] for k in z.files}
    if "lfw-dev" in sets and "lfw-dev (2000)" not in sets:
        whole = sets["lfw-dev"]
        sub = load_labelled(LFW, limit=2000)
        index = {p: i for i, p in enumerate(whole["paths"].tolist())}
        take = np.array([index[p] for p in sub.paths])
        sets["lfw-dev (2000)"] = {
            k: (v[take] if v.ndim and len(v) == len(whole["paths"]) else v) for k, v in whole.items()
        }
    return {k: sets[k] for k in COLLECTIONS if k in sets}


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


_FITS: dict[tuple[str, int], tuple[NDArray[np.float32], NDArray[np.float32]]] = {}


def _projection(name: str, dims: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Mean and leading directions of HSE's full views on collection ``name`` (no labels read)."""
    if (name, dims) not in _FITS:
        from facefile_bench.hse_projection import fit

        src = MEANS[name]
        _FITS[(name, dims)] = fit(src["emb_hse"][src["is_detected"]], dims)
    return _FITS[(name, dims)]


def _model_view(
    s: dict[str, Any], key: str, mirror_key: str, mirror: bool, center: str = "", dims: int = 0
) -> NDArray[np.float32]:
    def get(k: str) -> NDArray[np.float32]:
        x = s[f"emb_{k}"]
        if not center:
            return x
        if dims:
            mu, comps = _projection(center, dims)
            return _unit(np.nan_to_num(x - mu) @ comps.T) + np.where(np.isnan(x[:, :1]), np.nan, 0)
        src = MEANS[center]
        mu = np.nanmean(src[f"emb_{k}"][src["is_detected"]], axis=0)
        return _unit(x - mu)

    x = get(key)
    if mirror:
        x = _unit(x + get(mirror_key))
    return x


MEANS: dict[str, dict[str, Any]] = {}
"""Collections whose mean HSE vectors may centre HSE (``Variant.center``), filled by :func:`main`."""


def views_for(s: dict[str, Any], v: Variant) -> dict[str, NDArray[np.float32]]:
    """The grouping's ``full`` and ``upper`` views of the detected faces for variant ``v``."""
    det = s["is_detected"]
    mf = _model_view(s, "full" + v.mfn_src, "full_m", v.mirror)[det]
    mu = _model_view(s, "upper" + v.mfn_src, "upper_m", v.mirror)[det]
    hf = hu = mf  # unread where HSE weighs nothing (a --light probe has no HSE)
    if v.w_full > 0 or v.w_upper > 0:
        hf = _model_view(s, "hse", "hse_m", v.mirror, v.center, v.dims)[det]
        hu = (
            hf
            if v.upper_src == "full"
            else _model_view(s, "hse_upper", "hse_upper_m", v.mirror, v.center, v.dims)[det]
        )

    def mix(m: NDArray[np.float32], h: NDArray[np.float32], w: float) -> NDArray[np.float32]:
        if w <= 0:
            return (v.length * m).astype(np.float32)
        return (v.length * np.hstack([np.sqrt(1 - w) * m, np.sqrt(w) * h])).astype(np.float32)

    full, upper = mix(mf, hf, v.w_full), mix(mu, hu, v.w_upper)
    if full.shape[1] != upper.shape[1]:  # views share one length of vector in the store: pad
        dim = max(full.shape[1], upper.shape[1])
        full = np.pad(full, ((0, 0), (0, dim - full.shape[1])))
        upper = np.pad(upper, ((0, 0), (0, dim - upper.shape[1])))
    return {"full": full, "upper": upper}


def group_score(s: dict[str, Any], v: Variant) -> float:
    """facefile's default grouping of variant ``v``'s views: BCubed F (no face: alone)."""
    det = s["is_detected"]
    views = views_for(s, v)
    n = int(det.sum())
    labels = facefile_grouper().group(
        views,
        np.arange(n, dtype=np.int64),
        s["quality"][det],
        s["size_px"][det],
        occlusion=s["occlusion"][det],
    )
    pred = np.full(len(det), -1, np.int64)
    pred[det] = labels
    return float(score(np.array(s["identities"]), pred).bcubed_f)


GRIDS: dict[str, list[Variant]] = {
    "smoke": [Variant(), Variant(w_full=0.3, w_upper=0.3)],
    "main": [
        Variant(w_full=wf, w_upper=wu, mirror=m, length=ln)
        for m in (False, True)
        for wf, wu in ((0.0, 0.0), (0.0, 0.3), (0.0, 0.5), (0.2, 0.2), (0.3, 0.3), (0.4, 0.4), (0.5, 0.5))
        for ln in (0.52,)
    ],
}


def _best_upgma(x: NDArray[np.float32], ids: NDArray[Any]) -> float:
    """BCubed F of plain average linkage on unit vectors ``x`` at its best bar (0.70-1.40)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    z = linkage(np.asarray(x, np.float64), method="average", metric="euclidean")
    bars = np.arange(0.70, 1.401, 0.025)
    return max(score(ids, fcluster(z, t=bar, criterion="distance")).bcubed_f for bar in bars)


def masked_bound(s: dict[str, Any], manifest: Path) -> list[tuple[str, float, float]]:
    """How often a face's nearest face is its own person, for masked and for unmasked faces.

    ``manifest``: rmfrd-dev's ``manifest.csv`` (identity, file, masked). Per
    descriptor: ``(name, rank-1 of a masked face among the unmasked faces,
    rank-1 of an unmasked face among the other unmasked faces)``.
    """
    import csv

    with manifest.open(encoding="utf-8") as f:
        is_masked = {(r["identity"], r["file"]): r["masked"] == "1" for r in csv.DictReader(f)}
    masked = np.array([is_masked[tuple(p.split("/"))] for p in s["paths"].tolist()])
    det, ids = s["is_detected"], np.array(s["identities"])
    a, b = det & masked, det & ~masked

    def mean(x: str, y: str) -> NDArray[np.float32]:
        return _unit(s[f"emb_{x}"] + s[f"emb_{y}"])

    w = 0.3
    cat = np.hstack([np.sqrt(1 - w) * s["emb_full"], np.sqrt(w) * s["emb_hse"]])
    cat_u = np.hstack([np.sqrt(1 - w) * s["emb_upper"], np.sqrt(w) * s["emb_hse_upper"]])
    cat_m = np.hstack([np.sqrt(1 - w) * mean("full", "full_m"), np.sqrt(w) * mean("hse", "hse_m")])
    descriptors = {
        "MobileFaceNet, full view": s["emb_full"],
        "MobileFaceNet, upper view": s["emb_upper"],
        "MobileFaceNet, full view + mirror": mean("full", "full_m"),
        "HSE FaceRes, full view": s["emb_hse"],
        "HSE FaceRes, upper view": s["emb_hse_upper"],
        "both (w = 0.3), full view": cat,
        "both (w = 0.3), upper view": cat_u,
        "both (w = 0.3), full view + mirror": cat_m,
    }
    out = []
    truth = ids
    split = np.unique([f"{i}|{m}" for i, m in zip(ids, masked, strict=True)], return_inverse=True)[1]
    alone = np.where(masked, np.arange(len(ids)) + len(ids), split)
    out.append(("ceiling: perfect within each condition, never across", score(truth, split).bcubed_f, np.nan))
    out.append(("ceiling: unmasked perfect, masked faces alone", score(truth, alone).bcubed_f, np.nan))
    for name in (
        "MobileFaceNet, full view",
        "MobileFaceNet, full view + mirror",
        "both (w = 0.3), full view + mirror",
    ):
        out.append(
            (
                f"unmasked only, plain average linkage at its best bar: {name}",
                _best_upgma(descriptors[name][b], ids[b]),
                np.nan,
            )
        )
    for name, x in descriptors.items():
        sab = x[a] @ x[b].T
        sbb = x[b] @ x[b].T
        np.fill_diagonal(sbb, -np.inf)
        r_masked = float((ids[b][sab.argmax(1)] == ids[a]).mean())
        r_clean = float((ids[b][sbb.argmax(1)] == ids[b]).mean())
        out.append((name, r_masked, r_clean))
    return out


def calibration_gaps(sets: dict[str, dict[str, Any]], v: Variant) -> dict[str, float]:
    """Worst decile gap of the shipped calibration (``facefile.cluster.calibration``) per collection.

    Each face asks the rest of its collection, with the labels as people
    (:func:`facefile_bench.calibration.pairs`), on variant ``v``'s full view.
    """
    from types import SimpleNamespace

    from facefile.cluster import calibration as shipped
    from facefile_bench.calibration import pairs, predict, reliability

    params = (shipped.INTERCEPT, shipped.COEF_EVIDENCE, shipped.COEF_MARGIN, shipped.STRANGER)
    out = {}
    for name, s in sets.items():
        full = np.full((len(s["is_detected"]), 1), np.nan, np.float32)
        full = np.zeros((len(s["is_detected"]), views_for(s, v)["full"].shape[1]), np.float32) + full
        full[s["is_detected"]] = views_for(s, v)["full"]
        es = SimpleNamespace(
            is_detected=s["is_detected"], identities=tuple(s["identities"]), embeddings={"full": full}
        )
        pr = pairs(name, es)  # type: ignore[arg-type]
        out[name] = max(r["gap"] for r in reliability(predict(params, pr), pr.is_same, True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--grid", default="main", choices=sorted(GRIDS))
    ap.add_argument("--spec", action="append", default=[], help="a variant as JSON, e.g. '{\"w_full\": 0.3}'")
    ap.add_argument("--only", action="append", default=[], help="collections to score (default all)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/descriptor_mix.jsonl"))
    ap.add_argument("--bound", type=Path, help="rmfrd-dev's manifest.csv: print masked/unmasked rank-1 only")
    ap.add_argument("--calibration", action="store_true", help="worst decile gap of the shipped calibration")
    args = ap.parse_args()
    sets = load_probe(args.probe)
    if args.calibration:
        for spec in args.spec or ["{}"]:
            v = Variant(**json.loads(spec))
            gaps = calibration_gaps(sets, v)
            print(f"{v.label} | " + " | ".join(f"{k} {g:.3f}" for k, g in gaps.items()), flush=True)
        return
    if args.bound:
        for name, r_masked, r_clean in masked_bound(sets["rmfrd-dev"], args.bound):
            print(
                f"| {name} | {r_masked:.3f} | {r_clean:.3f} |"
                if np.isfinite(r_clean)
                else f"{name}: {r_masked:.3f}"
            )
        return
    MEANS.update(sets)
    if args.only:
        sets = {k: v for k, v in sets.items() if k in args.only}
    variants = [Variant(**json.loads(s)) for s in args.spec] or GRIDS[args.grid]
    print("variant | " + " | ".join(sets) + " | mean")
    with args.out.open("a") as f:
        for v in variants:
            t0 = time.time()
            row = {name: group_score(s, v) for name, s in sets.items()}
            mean = float(np.mean(list(row.values())))
            f.write(json.dumps({"variant": asdict(v), "scores": row, "mean": mean}) + "\n")
            f.flush()
            cells = " | ".join(f"{x:.4f}" for x in row.values())
            print(f"{v.label} | {cells} | {mean:.4f}  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
