"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``), the model of
facefile 0.1; needs the ``dlib`` extra."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from facefile.align.dlib import CHIP_PADDING, CHIP_SIZE
from facefile.embed import MODEL_IDS
from facefile.errors import ConfigError
from facefile.models.dlib_loader import dlib_model
from facefile.types import RGBImage


class DlibResnetEmbedder:
    """128-d descriptors in dlib's native space (same-person pairs < 0.6).

    Args:
        num_jitters: how many randomly jittered copies to average; 0 or 1 means
            none (as in ``face_recognition``); 10 is ~10x slower and ~1 % more
            accurate.
    """

    name = "dlib_resnet"
    alignment = "dlib"
    model_id = MODEL_IDS["dlib_resnet"]
    dim = 128
    chip_size = CHIP_SIZE
    chip_padding = CHIP_PADDING

    def __init__(self, num_jitters: int = 1) -> None:
        if not isinstance(num_jitters, int) or num_jitters < 0:
            raise ConfigError(f"num_jitters={num_jitters!r} is invalid; use an integer >= 0.")
        self.num_jitters = num_jitters

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        """Descriptors of aligned chips, one batched network call.

        Args:
            chips: RGB ``uint8 (150, 150, 3)`` chips from :class:`facefile.align.dlib.DlibAligner`.

        Returns:
            ``float32 (n, 128)``, not normalised (dlib's native space).
        """
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        for c in chips:
            if c.shape != (self.chip_size, self.chip_size, 3) or c.dtype != np.uint8:
                raise ValueError(
                    f"chip of shape {c.shape} {c.dtype}; dlib_resnet needs uint8 "
                    f"({self.chip_size}, {self.chip_size}, 3) chips from DlibAligner."
                )
        batch = [np.ascontiguousarray(c) for c in chips]
        vecs = dlib_model("resnet").compute_face_descriptor(batch, self.num_jitters)
        return np.asarray([np.asarray(v) for v in vecs], dtype=np.float32).reshape(-1, self.dim)
