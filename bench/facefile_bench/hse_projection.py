"""Fit the fixed projection that shrinks HSE FaceRes's 1,024 numbers (shipped beside the model).

Run (after :mod:`facefile_bench.descriptor_probe` on lfw-dev)::

    python -m facefile_bench.hse_projection --probe ~/.cache/facefile/bench/probe/lfw-dev-2000.npz \\
        --out src/facefile/models/hse_faceres_projection.npz

The projection is the mean and the leading principal directions of HSE's
unit vectors of the probe's faces (full views only). No label is read:
it is fitted on faces, not on who they are. ``numpy.savez`` without
compression and with fixed array names, so the same input gives the same
bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

DIMS = 128


def fit(vectors: np.ndarray, dims: int = DIMS) -> tuple[np.ndarray, np.ndarray]:
    """``(mean float32 (d,), components float32 (dims, d))`` of unit vectors ``(n, d)``; signs fixed."""
    x = np.asarray(vectors, np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:dims]
    comps *= np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])[:, None]  # one sign per direction
    return mean.astype(np.float32), comps.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dims", type=int, default=DIMS)
    args = ap.parse_args()
    with np.load(args.probe) as z:
        vectors = z["emb_hse"][z["is_detected"]]
    mean, comps = fit(vectors, args.dims)
    with args.out.open("wb") as f:
        np.savez(f, mean=mean, components=comps)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{len(vectors)} faces -> {args.out} ({comps.shape[0]} x {comps.shape[1]}), sha256 {digest}")


if __name__ == "__main__":
    main()
