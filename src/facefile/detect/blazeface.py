"""MediaPipe BlazeFace with our own anchors, decoding and weighted NMS.

MediaPipe's two ``.tflite`` face detectors, converted to ONNX (see
``MODELS.md``), ship inside facefile and run on ONNX Runtime.

Two models are run on a letterboxed (aspect-preserving, zero-padded) square
copy of the image: *short range* (128 px input, faces filling much of the
frame, as in portraits) and *full range* (192 px input, faces down to about
1/20 of the image side). Detections of both are merged by weighted NMS.
Boxes are then calibrated to the geometry of dlib's HOG boxes, which dlib's
5-point shape predictor was trained on, so every detector hands the aligner
the same kind of box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facefile.errors import ConfigError
from facefile.models import model_file
from facefile.models.onnx_runtime import onnx_session
from facefile.types import BBox, Detection, RGBImage


@dataclass(frozen=True)
class _ModelSpec:
    model: str  # name in facefile.models.MODEL_FILES
    input_px: int
    strides: tuple[int, ...]
    anchors_per_layer: int  # anchors per cell contributed by each layer


# MediaPipe's SSD anchor options: fixed-size anchors, one anchor per aspect
# ratio (only 1.0) plus the interpolated-scale anchor where that ratio is 1.0.
MODELS = {
    "short": _ModelSpec("blazeface_short", 128, (8, 16, 16, 16), 2),
    "full": _ModelSpec("blazeface_full", 192, (4,), 1),
}

# dlib-HOG box = BlazeFace box shifted and scaled, in units of the BlazeFace
# box size; measured on clean LFW faces found by both (see bench notes in
# facefile.detect.cascade).
CALIB_DX, CALIB_DY, CALIB_SCALE = -0.04, -0.04, 1.0


def ssd_anchors(spec: _ModelSpec) -> NDArray[np.float32]:
    """Anchor centres of one model.

    Returns:
        ``float32 (n, 2)`` ``(x, y)`` in ``[0, 1]`` of the input square, in the
        order of the model's outputs (cell by cell, row-major, layer by layer
        of equal stride merged).
    """
    out: list[NDArray[np.float32]] = []
    i = 0
    while i < len(spec.strides):
        stride = spec.strides[i]
        n_same = 1
        while i + n_same < len(spec.strides) and spec.strides[i + n_same] == stride:
            n_same += 1
        cells = spec.input_px // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        out.append(np.repeat(centres, n_same * spec.anchors_per_layer, axis=0))
        i += n_same
    return np.concatenate(out).astype(np.float32)


def iou_matrix(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """IoU of boxes ``(n, 4)`` against ``(m, 4)``, both ``[x0, y0, x1, y1]``."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def weighted_nms(
    boxes: NDArray[np.float32], kps: NDArray[np.float32], scores: NDArray[np.float32], iou: float
) -> list[tuple[NDArray[np.float32], NDArray[np.float32], float]]:
    """Merge overlapping candidates: each cluster becomes its score-weighted mean.

    Args:
        boxes: ``(n, 4)`` ``[x0, y0, x1, y1]``; kps: ``(n, k, 2)``; scores: ``(n,)``.
        iou: candidates overlapping the current best by more than this join it.

    Returns:
        ``(box (4,), keypoints (k, 2), best score)`` per face, best first.
    """
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    alive = np.ones(len(scores), dtype=bool)
    out = []
    overlaps = iou_matrix(boxes, boxes)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (overlaps[i] > iou)
        members[i] = True
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(0) / w.sum()
        kp = (kps[members] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, kp, float(scores[i])))
        alive &= ~members
    return out


class BlazeFaceDetector:
    """BlazeFace short- and full-range models, merged.

    Args:
        models: which of ``"short"``, ``"full"`` to run.
        min_score: probability a candidate needs (MediaPipe uses 0.5). 0.45
            finds a face in 3 more of every 100 real masked photos
            (rwmfd-masked sample: 87.7% against 84.7%), as many as facefile
            0.1's BlazeFace + HOG cascade, and recalls more half-covered faces.
        nms_iou: overlap at which candidates are merged.
        num_threads: ONNX Runtime threads per model.
        tile_px: images whose longest side exceeds 1.5x this also get the
            full-range model on overlapping ``tile_px`` squares, so faces of
            about ``tile_px / 16`` pixels and up are found in big photos;
            0 turns tiling off.
        portrait_margin: the short-range model also sees the image centred in
            a black square this many times its longest side (1 turns it off).
        is_shrunk_first: shrink the image to the model's input before it is
            letterboxed, instead of letterboxing it at full size and
            shrinking the square: the same picture but for the blend of its
            edge pixels with the black border, at a fraction of the cost (a
            960x540 video frame: about 5 ms less a model). Off by default,
            so photos keep the detections they were measured with.
    """

    name = "blazeface"

    def __init__(
        self,
        models: tuple[str, ...] = ("short", "full"),
        min_score: float = 0.45,
        nms_iou: float = 0.3,
        num_threads: int = 1,
        tile_px: int = 640,
        portrait_margin: float = 1.6,
        is_shrunk_first: bool = False,
    ) -> None:
        unknown = [m for m in models if m not in MODELS]
        if unknown or not models:
            raise ConfigError(f"blazeface models={models!r}; choose from {sorted(MODELS)}.")
        if not 0.0 < min_score < 1.0:
            raise ConfigError(f"blazeface min_score={min_score} must be in (0, 1), e.g. 0.5.")
        self.models = tuple(models)
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)
        self.num_threads = int(num_threads)
        if tile_px and tile_px < 192:
            raise ConfigError(f"blazeface tile_px={tile_px} is too small; use 0 (off) or >= 192.")
        self.tile_px = int(tile_px)
        self.portrait_margin = float(portrait_margin)
        self.is_shrunk_first = bool(is_shrunk_first)
        self._runners: dict[str, Any] = {}

    @property
    def input_px(self) -> int:
        """The largest input side of its models: a whole image is seen at most this big (tiles aside)."""
        return max(MODELS[m].input_px for m in self.models)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runners"] = {}
        return state

    def _runner(self, key: str) -> tuple[Any, NDArray[np.float32]]:
        if key not in self._runners:
            spec = MODELS[key]
            session = onnx_session(model_file(spec.model), self.num_threads)
            self._runners[key] = (session, ssd_anchors(spec))
        return self._runners[key]

    def candidates(
        self, image: RGBImage, key: str, margin: float = 1.0
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Raw decoded candidates of one model above ``min_score``.

        Returns:
            boxes ``float32 (n, 4)`` ``[x0, y0, x1, y1]`` in image pixels (raw
            BlazeFace geometry), keypoints ``(n, 6, 2)`` ``(x, y)`` pixels,
            scores ``(n,)``.
        """
        spec = MODELS[key]
        session, anchors = self._runner(key)
        h, w = image.shape[:2]
        side = round(max(h, w) * margin)
        n = spec.input_px
        # letterbox: centre the photo on a black square so aspect is kept
        if self.is_shrunk_first:
            tw, th = max(1, round(w * n / side)), max(1, round(h * n / side))
            pad_x, pad_y = (n - tw) // 2, (n - th) // 2
            if (tw, th) == (w, h):
                small = image  # already the model's size (a video frame's preview)
            else:
                small = np.asarray(Image.fromarray(image).resize((tw, th), Image.Resampling.BILINEAR))
            resized = np.zeros((n, n, 3), dtype=np.uint8)
            resized[pad_y : pad_y + th, pad_x : pad_x + tw] = small
            off = np.array([pad_x, pad_y], dtype=np.float32)
            factor = np.array([w / tw, h / th], dtype=np.float32)
        else:
            pad_x, pad_y = (side - w) // 2, (side - h) // 2
            square = np.zeros((side, side, 3), dtype=np.uint8)
            square[pad_y : pad_y + h, pad_x : pad_x + w] = image
            resized = np.asarray(Image.fromarray(square).resize((n, n), Image.Resampling.BILINEAR))
            off = np.array([pad_x, pad_y], dtype=np.float32)  # image pixels, before the scale
            factor = None
        x = (resized.astype(np.float32) / 127.5 - 1.0)[None]
        reg, cls = (o[0] for o in session.run(None, {session.get_inputs()[0].name: x}))
        if reg.shape[-1] != 16:
            reg, cls = cls, reg
        logits = np.clip(cls[:, 0].astype(np.float64), -100.0, 100.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.min_score
        reg, scores, anc = reg[keep], scores[keep], anchors[keep]
        cx = reg[:, 0] / n + anc[:, 0]
        cy = reg[:, 1] / n + anc[:, 1]
        bw, bh = reg[:, 2] / n, reg[:, 3] / n
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = reg[:, 4:16].reshape(-1, 6, 2) / n + anc[:, None, :]
        if factor is None:
            boxes = boxes * side - np.tile(off, 2)
            kps = kps * side - off
        else:
            boxes = (boxes * n - np.tile(off, 2)) * np.tile(factor, 2)
            kps = (kps * n - off) * factor
        return boxes.astype(np.float32), kps.astype(np.float32), scores.astype(np.float32)

    def detect(self, image: RGBImage) -> list[Detection]:
        """Find faces, including ones behind masks or glasses.

        Args:
            image: RGB ``uint8 (h, w, 3)``.

        Returns:
            Detections in pixels of ``image``, best first; boxes calibrated to
            dlib HOG geometry; ``keypoints`` are BlazeFace's six points (right
            eye, left eye, nose tip, mouth, right ear, left ear); ``score`` is
            the model's probability.
        """
        parts = [self.candidates(image, k) for k in self.models]
        if "short" in self.models and self.portrait_margin > 1.0:
            # a face filling the whole frame is scored low; shrinking it inside
            # a black border recovers tight portraits for ~1 ms
            parts.append(self.candidates(image, "short", self.portrait_margin))
        for x0, y0, x1, y1 in tiles(image.shape[1], image.shape[0], self.tile_px):
            b, k, sc = self.candidates(np.ascontiguousarray(image[y0:y1, x0:x1]), "full")
            off = np.array([x0, y0], dtype=np.float32)
            parts.append((b + np.tile(off, 2), k + off, sc))
        boxes = np.concatenate([p[0] for p in parts])
        if len(boxes) == 0:
            return []
        kps = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        h, w = image.shape[:2]
        out = []
        for box, kp, score in weighted_nms(boxes, kps, scores, self.nms_iou):
            out.append(
                Detection(
                    box=calibrate_box(box).clipped(w, h),
                    score=score,
                    detector=self.name,
                    keypoints=tuple((float(x), float(y)) for x, y in kp),
                )
            )
        return out


def calibrate_box(raw: NDArray[np.float32]) -> BBox:
    """A raw BlazeFace ``[x0, y0, x1, y1]`` box as the square box dlib HOG would give."""
    x0, y0, x1, y1 = (float(v) for v in raw)
    size = max(x1 - x0, y1 - y0)
    cx = (x0 + x1) / 2 + CALIB_DX * size
    cy = (y0 + y1) / 2 + CALIB_DY * size
    half = size * CALIB_SCALE / 2
    return BBox(cx - half, cy - half, cx + half, cy + half)


def tiles(width: int, height: int, tile_px: int) -> list[tuple[int, int, int, int]]:
    """Overlapping ``tile_px`` squares covering a big image, ``[x0, y0, x1, y1]``.

    Empty when tiling is off or the image is at most 1.5 tiles long.
    """
    if not tile_px or max(width, height) <= 1.5 * tile_px:
        return []
    step = int(tile_px * 0.75)

    def starts(n: int) -> list[int]:
        if n <= tile_px:
            return [0]
        k = -(-(n - tile_px) // step)
        return [round(i * (n - tile_px) / k) for i in range(k + 1)]

    return [
        (x, y, min(x + tile_px, width), min(y + tile_px, height))
        for y in starts(height)
        for x in starts(width)
    ]
