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
    and ``chip_padding`` describe the chips it expects (see ``facefile.align``).

    ``embed`` returns ``float32 (n, dim)`` in the model's native space: for
    dlib this is the space where its documented 0.6 Euclidean threshold holds,
    so faithful comparisons with dlib-based tools stay possible. Grouping
    normalises vectors itself.
    """

    model_id: str
    dim: int
    chip_size: int
    chip_padding: float

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]: ...
