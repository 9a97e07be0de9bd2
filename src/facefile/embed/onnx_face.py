"""ArcFace-style face embedders in ONNX: the packaged MobileFaceNet, or the user's own file.

Both take chips aligned by :class:`facefile.align.KeypointAligner` (the
ArcFace five-point geometry) and return vectors of one fixed length, so
Euclidean distance orders pairs as cosine does. A user's model
(``--embedder onnx:PATH``) is read from their disk, never downloaded; its
model id carries the file's sha256, so its vectors never mix with another
model's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile.errors import ConfigError
from facefile.models import model_file
from facefile.models.onnx_runtime import onnx_session
from facefile.types import RGBImage

ARCFACE_DISTANCE_SCALE = 0.52
"""Length given to ArcFace-style unit vectors. Among 437 faces of 150 lfw-dev
people, 0.12% of stranger pairs fall within dlib's 0.55 (the grouping
threshold); the same share of MobileFaceNet's stranger pairs falls within a
unit-vector distance of 1.06, and 0.55 / 1.06 = 0.52. (At that share,
MobileFaceNet keeps 99.4% of same-person pairs within it; dlib 95.6%.)"""


RUN_BATCH = 1
"""Chips per ONNX Runtime call. On the 2-core development CPU MobileFaceNet costs
7.0 ms a face one at a time and 11 ms a face in batches of 8 or 16."""


class OnnxFaceEmbedder:
    """A face-recognition network in an ONNX file.

    Args:
        path: the ``.onnx`` file.
        model_id: stored with every vector (model and version).
        chip_size, dim: input side in pixels and output length; ``None``
            reads both from the file now (else it loads on first use).
        mean, scale: input is ``(pixel - mean) / scale``; ``mean`` may be
            one value per channel, in the network's channel order.
        is_bgr: the network wants BGR channel order.
        distance_scale: unit vectors are multiplied by this, so that distances
            mean what facefile's grouping settings expect (they were set on
            dlib's descriptor; see :data:`ARCFACE_DISTANCE_SCALE`).
        num_threads: ONNX Runtime threads.
    """

    alignment = "keypoints"
    chip_padding = 0.0

    def __init__(
        self,
        path: str | Path,
        model_id: str,
        *,
        chip_size: int | None = None,
        dim: int = 0,
        mean: float | tuple[float, float, float] = 127.5,
        scale: float = 127.5,
        is_bgr: bool = False,
        distance_scale: float = 1.0,
        num_threads: int = 1,
    ) -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale, self.is_bgr = float(scale), bool(is_bgr)
        self.distance_scale = float(distance_scale)
        self.num_threads = int(num_threads)
        self._session: Any = None
        self._is_nchw = False
        self._batch: int | None = None
        self._input = ""
        self.chip_size, self.dim = int(chip_size or 0), int(dim)
        if chip_size is None:
            self._load()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        session = onnx_session(self.path, self.num_threads)
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ConfigError(
                f"{self.path} takes input of shape {shape}; a face embedder takes images "
                "[batch, 3, size, size] or [batch, size, size, 3]."
            )
        self._is_nchw = shape[1] == 3
        side = shape[2] if self._is_nchw else shape[1]
        if not isinstance(side, int) or side < 32:
            raise ConfigError(f"{self.path} has no fixed square input size (input shape {shape}).")
        self._batch = shape[0] if isinstance(shape[0], int) else None
        self._input = inp.name
        self.chip_size = int(side)
        out = session.get_outputs()[0].shape
        self.dim = int(out[-1]) if isinstance(out[-1], int) else 0
        self._session = session
        return session

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        """Descriptors of aligned chips.

        Args:
            chips: RGB ``uint8 (chip_size, chip_size, 3)`` chips.

        Returns:
            ``float32 (n, dim)``, of length ``distance_scale``.
        """
        session = self._load()
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        for c in chips:
            if c.shape != (self.chip_size, self.chip_size, 3) or c.dtype != np.uint8:
                raise ValueError(
                    f"chip of shape {c.shape} {c.dtype}; {self.model_id} needs uint8 "
                    f"({self.chip_size}, {self.chip_size}, 3) chips from KeypointAligner."
                )
        x = np.stack(chips).astype(np.float32)
        if self.is_bgr:
            x = x[..., ::-1]
        x = (x - self.mean) / self.scale
        if self._is_nchw:
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x)
        step = self._batch or RUN_BATCH
        parts = []
        for i in range(0, len(x), step):
            part = x[i : i + step]
            n = len(part)
            if self._batch and n < self._batch:  # a fixed batch size: pad with zeros
                part = np.concatenate([part, np.zeros((self._batch - n, *part.shape[1:]), np.float32)])
            parts.append(session.run(None, {self._input: part})[0][:n])
        vecs = np.concatenate(parts).astype(np.float32).reshape(len(x), -1)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs * (self.distance_scale / np.maximum(norms, 1e-12))


class MobileFaceNetEmbedder(OnnxFaceEmbedder):
    """The default: MobileFaceNet, 192-d, shipped inside facefile (see ``MODELS.md``)."""

    name = "mobilefacenet"

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__(
            model_file("mobilefacenet"),
            "mobilefacenet_192d_v1",
            chip_size=112,
            dim=192,
            mean=127.5,
            scale=128.0,
            distance_scale=ARCFACE_DISTANCE_SCALE,
            num_threads=num_threads,
        )


def user_onnx_embedder(path: str, **kwargs: Any) -> OnnxFaceEmbedder:
    """An InsightFace-style ArcFace model the user brings (``--embedder onnx:PATH``).

    Such models take RGB ``(pixel - 127.5) / 127.5`` chips aligned to the
    ArcFace template; input size and layout are read from the file.

    Raises:
        ConfigError: the file does not exist or is not a face embedder.
        FacefileError: ONNX Runtime cannot load it.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"--embedder onnx:{path}: no such file; give the path of an ArcFace .onnx model.")
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    kwargs.setdefault("distance_scale", ARCFACE_DISTANCE_SCALE)
    emb = OnnxFaceEmbedder(file, f"onnx_{h.hexdigest()[:16]}", **kwargs)
    if emb.dim <= 0:
        raise ConfigError(f"{file} has no fixed output size; a face embedder returns [batch, dim].")
    return emb
