"""Photos without a face, built from scikit-image's bundled images.

Animals, food, objects, textures, text and scientific images (no person in
any of them), each seen as a whole and as seeded variants: crops, flips,
quarter turns, and rescales down to ~100 px camera thumbnails. Used to count
false faces (``python -m facefile_bench.nonfaces``) and by the tests that
check no person is made of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facefile.types import RGBImage

SOURCES = (
    "chelsea",
    "coffee",
    "rocket",
    "horse",
    "coins",
    "clock",
    "colorwheel",
    "brick",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
    "cell",
    "checkerboard",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "logo",
    "binary_blobs",
    "microaneurysms",
    "shepp_logan_phantom",
    "motorcycle_left",
    "motorcycle_right",
)
"""skimage.data images without people (``astronaut``, ``camera`` and the
face sets are left out; ``cat`` is ``chelsea``). ``coins`` are Greek coins:
some show a profile head."""

THUMB_PX = (96, 112, 128)
"""Longest sides of the camera-thumbnail variants."""


def _as_rgb(a: NDArray) -> RGBImage:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.shape[2] == 4:  # RGBA on white
        alpha = a[..., 3:4].astype(np.float32) / 255
        a = (a[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


def source(name: str) -> RGBImage:
    """One of :data:`SOURCES` as RGB ``uint8``."""
    import skimage.data as data

    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        return _as_rgb(left if name.endswith("left") else right)
    loader: Callable[[], NDArray] = getattr(data, name)
    return _as_rgb(loader())


def resize(image: RGBImage, longest: int) -> RGBImage:
    """``image`` with its longest side ``longest`` pixels (Lanczos)."""
    h, w = image.shape[:2]
    f = longest / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def variants(image: RGBImage, rng: np.random.Generator, n_crops: int) -> Iterator[tuple[str, RGBImage]]:
    """The photo, its mirror, quarter turns, thumbnails, and random crops (some as thumbnails)."""
    yield "whole", image
    yield "flip", np.ascontiguousarray(image[:, ::-1])
    yield "rot90", np.ascontiguousarray(np.rot90(image))
    for px in THUMB_PX:
        yield f"thumb{px}", resize(image, px)
    h, w = image.shape[:2]
    for i in range(n_crops):
        share = rng.uniform(0.35, 0.9)
        ch, cw = max(16, round(h * share)), max(16, round(w * share * rng.uniform(0.75, 1.33)))
        ch, cw = min(ch, h), min(cw, w)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = np.ascontiguousarray(image[y : y + ch, x : x + cw])
        if rng.random() < 0.5:
            crop = np.ascontiguousarray(crop[:, ::-1])
        if i % 2:
            crop = resize(crop, int(rng.choice(THUMB_PX)))
        yield f"crop{i}", crop


def face_free_photos(n_crops: int = 10, seed: int = 0) -> Iterator[tuple[str, RGBImage]]:
    """``(name, photo)`` for every source and variant: ``len(SOURCES) * (6 + n_crops)`` photos."""
    rng = np.random.default_rng(seed)
    for name in SOURCES:
        for kind, photo in variants(source(name), rng, n_crops):
            yield f"{name}-{kind}", photo
