"""The embedder interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facefile.types import RGBImage


class Embedder(Protocol):
    """Turns aligned face chips into descriptors.

    ``model_id`` names model and version (stored with every vector so vectors
    of two models never mix); ``dim`` is the descriptor length; ``chip_size``
    is the chip side in pixels and ``alignment`` the chip geometry it expects:
    ``"keypoints"`` (the ArcFace template, :mod:`facefile.align.keypoints`) or ``"dlib"``
    (dlib's ``get_face_chip``, :mod:`facefile.align.dlib`, padding ``chip_padding``).

    ``embed`` returns ``float32 (n, dim)`` in the model's native space: for
    dlib this is the space where its documented 0.6 Euclidean threshold holds,
    so faithful comparisons with dlib-based tools stay possible; ArcFace-style
    models return unit vectors. Grouping normalises vectors itself.
    """

    model_id: str
    dim: int
    chip_size: int
    chip_padding: float
    alignment: str

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]: ...
