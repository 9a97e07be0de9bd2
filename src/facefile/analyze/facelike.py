"""How much a face's descriptor looks like no face at all.

Face models trained with a margin loss (ArcFace-style, MobileFaceNet) send
what is not a face, whatever it shows, towards one shared direction of their
descriptor space: a cat, a coffee cup, a coin and a flat grey square land
near each other, so two false faces easily pass for one person. That
direction is found without any real photo, by embedding synthetic non-faces
(flat greys, noise, ramps; :func:`synthetic_nonfaces`). The cosine between a
face's descriptor and it (:func:`nonface_similarity`) then tells false faces
from real unmasked ones; masked faces overlap in part:

==========================================  ======  ==========  =============
faces (default detector, MobileFaceNet)     faces   median      share >= 0.5
==========================================  ======  ==========  =============
false faces on 384 face-free photos         109     0.62        98% (min 0.48)
real masked crops (rmfrd-dev)               377     0.18        9.5%
faces in 300 real masked photos (rwmfd)     373     0.21        23%
lfw-dev, celeb17, rmfrd-dev unmasked        282     about 0     0% (max 0.36)
==========================================  ======  ==========  =============

(``facefile_bench.nonfaces``; see BENCHMARKS.md.) Of 48 faces of the masked
photos that read as no face, about four in five are real masked faces (the
rest a logo, an ear, a wall). A descriptor near the non-face direction is
near every other such descriptor (that is how a cat and a cup become one
person), so such a face is a poor linker whatever it shows. A face
whose descriptor is that close keeps its place in the photo (it is still
found and shown) but its quality falls to 0 (:func:`face_likeness`): it may
join a person, never seed or link one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from facefile.types import RGBImage

NONFACE_FROM = 0.35
"""Similarity to the non-face direction where a face starts losing quality
(the most non-face-like real unmasked face measured: 0.36)."""
NONFACE_FULL = 0.5
"""Similarity at and above which a face is taken for no face: quality 0."""


def synthetic_nonfaces(size: int, seed: int = 0) -> list[RGBImage]:
    """Chips that show no face: five flat greys, ten noise squares, ten grey ramps.

    Returns:
        RGB ``uint8 (size, size, 3)`` chips, the same for the same ``seed``.
    """
    rng = np.random.default_rng(seed)
    chips = [np.full((size, size, 3), g, np.uint8) for g in (0, 64, 128, 192, 255)]
    ramp = np.linspace(0.0, 255.0, size)
    for _ in range(10):
        chips.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        grey = np.tile(ramp * rng.random(), (size, 1)).astype(np.uint8)
        chips.append(np.repeat(grey[..., None], 3, axis=2))
    return chips


def nonface_direction(
    embed: Callable[[Sequence[RGBImage]], NDArray[np.float32]], size: int
) -> NDArray[np.float64]:
    """The unit direction an embedder gives things that are not faces.

    Args:
        embed: the embedder's ``embed``.
        size: its chip side in pixels.

    Returns:
        ``float64 (dim,)``, unit length: the mean direction of the
        descriptors of :func:`synthetic_nonfaces`.
    """
    vecs = np.asarray(embed(synthetic_nonfaces(size)), dtype=np.float64)
    mean = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).mean(axis=0)
    return mean / np.linalg.norm(mean)


def nonface_similarity(vectors: NDArray[np.floating], direction: NDArray[np.float64]) -> NDArray[np.float32]:
    """Cosine of each descriptor ``(n, dim)`` with ``direction``: ``float32 (n,)`` in ``[-1, 1]``."""
    v = np.asarray(vectors, dtype=np.float64)
    return (v @ direction / np.maximum(np.linalg.norm(v, axis=1), 1e-12)).astype(np.float32)


def face_likeness(similarity: float) -> float:
    """Factor on a face's quality: 1 up to :data:`NONFACE_FROM`, 0 from :data:`NONFACE_FULL`.

    NaN (not measured, e.g. dlib's descriptors) gives 1.
    """
    if not np.isfinite(similarity):
        return 1.0
    return float(np.clip((NONFACE_FULL - similarity) / (NONFACE_FULL - NONFACE_FROM), 0.0, 1.0))
