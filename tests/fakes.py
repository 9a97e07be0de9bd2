"""Fake backends that satisfy the stage Protocols, for fast pipeline tests.

A fake "face" is a textured square whose green and blue values are fixed
(200, 50) and whose red value encodes an identity: ``red = 16 * k + 8``.
The detector finds such squares; the embedder turns the red value back into
a fixed unit vector per identity (plus a little noise), so grouping results
are known in advance. Import this module (or name it in
``$FACEFILE_PLUGINS=tests.fakes``) to register ``fake_squares`` backends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facefile.detect import DETECTORS
from facefile.embed import EMBEDDERS
from facefile.types import BBox, Detection, RGBImage

GREEN, BLUE = 200, 50
DIM = 128


def identity_red(k: int) -> int:
    assert 0 <= k < 15
    return 16 * k + 8


def identity_vector(k: int) -> NDArray[np.float32]:
    v = np.random.default_rng(1000 + k).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class FakeSquareDetector:
    name = "fake_squares"

    def __init__(self, **_: object) -> None:
        pass

    def detect(self, image: RGBImage) -> list[Detection]:
        from scipy import ndimage

        mask = (image[..., 1] == GREEN) & (image[..., 2] == BLUE)
        labels, _n = ndimage.label(mask)
        out = []
        for sl in ndimage.find_objects(labels):
            if sl is None:
                continue
            ys, xs = sl
            out.append(Detection(BBox(xs.start, ys.start, xs.stop, ys.stop), 0.99, self.name))
        return out


class FakeSquareEmbedder:
    model_id = "fake_squares_v1"
    dim = DIM
    chip_size = 150
    chip_padding = 0.25

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        out = np.empty((len(chips), DIM), dtype=np.float32)
        for i, chip in enumerate(chips):
            h, w = chip.shape[:2]
            centre = chip[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
            sel = (centre[..., 1] == GREEN) & (centre[..., 2] == BLUE)
            red = float(np.median(centre[..., 0][sel])) if sel.any() else 0.0
            k = round((red - 8) / 16)
            seed = int.from_bytes(hashlib.blake2b(chip.tobytes(), digest_size=4).digest(), "little")
            noise = np.random.default_rng(seed).normal(scale=0.02, size=DIM)
            out[i] = identity_vector(max(0, min(k, 14))) * 0.9 + noise
        return out


def draw_photo(
    path: Path, identities: Sequence[int], *, size: tuple[int, int] = (640, 480), face_px: int = 120
) -> list[BBox]:
    """Write a photo with one fake face per identity, left to right; return their boxes."""
    w, h = size
    rng = np.random.default_rng(len(identities) * 7 + w)
    img = rng.integers(0, 120, size=(h, w, 3), dtype=np.uint8)  # background never matches
    boxes = []
    for i, k in enumerate(identities):
        left = 20 + i * (face_px + 30)
        top = (h - face_px) // 2
        yy, xx = np.mgrid[0:face_px, 0:face_px]
        red = identity_red(k) + np.where((yy // 6 + xx // 6) % 2 == 0, -3, 3)
        img[top : top + face_px, left : left + face_px, 0] = red.astype(np.uint8)
        img[top : top + face_px, left : left + face_px, 1] = GREEN
        img[top : top + face_px, left : left + face_px, 2] = BLUE
        boxes.append(BBox(left, top, left + face_px, top + face_px))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return boxes


FAKE_SETTINGS = {"analyze.detector": "fake_squares", "analyze.embedder": "fake_squares", "scan.workers": 1}

if FakeSquareDetector.name not in DETECTORS.names():
    DETECTORS.register(FakeSquareDetector.name, FakeSquareDetector)
    EMBEDDERS.register("fake_squares", FakeSquareEmbedder)


def split_person(lib: object, face_ids: Sequence[int]) -> int:
    """Simulate the grouper splitting a person: ``face_ids`` go to a new automatic person.

    Only automatically placed faces move; the user's placements are never touched.

    Returns:
        The new person's id.
    """
    from facefile.store import edits

    store = lib.store  # type: ignore[attr-defined]
    new_id = store.next_person_id()
    keep = {f.id: (f.person_id, f.confidence) for f in store.faces() if f.source == "auto"}
    keep.update({fid: (new_id, 0.6) for fid in face_ids})
    edits.write_grouping(store, keep, [new_id])
    return new_id
