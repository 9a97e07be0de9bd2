"""Face alignment: a similarity transform from detector keypoints onto a template.

The default embedder (MobileFaceNet) was trained on 112 px chips aligned to
the ArcFace five-point template. BlazeFace gives four of those points (two
eyes, the nose tip and the mouth's centre), so each face is warped by the
least-squares similarity that puts BlazeFace's points where they fall, on
average, in a properly aligned ArcFace chip (:data:`BLAZEFACE_IN_ARCFACE_112`).

The same points also cut a second chip in the geometry of dlib's
``get_face_chip`` (150 px, padding 0.25), on which facefile's occlusion and
sharpness measures were defined and calibrated
(:data:`BLAZEFACE_IN_QUALITY_150`). Chips are cut from the original pixels,
whatever resolution the detector saw.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facefile.errors import ConfigError
from facefile.types import AlignedFace, BBox, Detection, RGBImage

ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
"""The ArcFace template: eye on the image's left, eye on the right, nose tip,
mouth corners left and right, in a 112 px chip."""

BLAZEFACE_IN_ARCFACE_112 = np.array(
    [[37.88, 53.16], [75.24, 53.54], [56.46, 74.13], [56.15, 93.22]], dtype=np.float64
)
"""Median position of BlazeFace's eyes, nose tip and mouth in ArcFace chips of
400 lfw-dev faces aligned by dlib's 68-point landmarks (eye centres, nose tip,
mouth corners) onto :data:`ARCFACE_TEMPLATE_112`."""

BLAZEFACE_IN_QUALITY_150 = np.array(
    [[46.08, 46.27], [102.36, 46.96], [74.34, 78.57], [73.69, 107.27]], dtype=np.float64
)
"""Median position of the same four points in dlib's 150 px, padding 0.25
chips of the same faces: the geometry :mod:`facefile.analyze.quality` measures on."""

KEYPOINTS_IN_BOX = np.array(
    [[0.3344, 0.3111], [0.7509, 0.3119], [0.5538, 0.5413], [0.5504, 0.7527]], dtype=np.float64
)
"""Median position of the four points as fractions of BlazeFace's box, for a
box that comes without keypoints."""

QUALITY_CHIP_PX = 150


def similarity_transform(src: NDArray[np.float64], dst: NDArray[np.float64]) -> NDArray[np.float64]:
    """The least-squares similarity (rotation, uniform scale, shift) taking ``src`` to ``dst``.

    Umeyama's method, without reflection.

    Args:
        src, dst: ``(n, 2)`` ``(x, y)`` point pairs, ``n >= 2``.

    Returns:
        ``float64 (2, 3)`` matrix ``M`` with ``dst ~ M @ [x, y, 1]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var_s = float((s**2).sum()) / len(src)
    if var_s < 1e-12:
        raise ValueError("keypoints coincide; no transform is defined")
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ flip @ vt
    scale = float(np.trace(np.diag(sig) @ flip)) / var_s
    return np.c_[scale * rot, mu_d - scale * rot @ mu_s]


def warp_chip(image: RGBImage, matrix: NDArray[np.float64], size: int) -> RGBImage:
    """Cut a ``size`` px chip: chip pixel ``p`` shows image point ``inverse(matrix) @ p``.

    Args:
        image: RGB ``uint8 (h, w, 3)``.
        matrix: ``(2, 3)`` image -> chip similarity (:func:`similarity_transform`).
        size: chip side in pixels.

    Returns:
        RGB ``uint8 (size, size, 3)``; outside the image is black.
    """
    inv = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]  # PIL maps chip -> image
    # only the part of the image under the chip goes to PIL (a whole 1080p frame took 2.5 ms to
    # copy, twice a face); a whole pixel shift of the mapping samples the very same pixels
    corners = np.array([[0.0, 0.0], [size, 0.0], [0.0, size], [size, size]]) @ inv[:, :2].T + inv[:, 2]
    h, w = image.shape[:2]
    x0 = min(max(0, int(np.floor(corners[:, 0].min())) - _WARP_MARGIN), w)
    y0 = min(max(0, int(np.floor(corners[:, 1].min())) - _WARP_MARGIN), h)
    x1 = max(min(w, int(np.ceil(corners[:, 0].max())) + _WARP_MARGIN), x0)
    y1 = max(min(h, int(np.ceil(corners[:, 1].max())) + _WARP_MARGIN), y0)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return np.zeros((size, size, 3), dtype=np.uint8)  # the chip lies wholly outside the image
    inv = inv - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
    chip = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).transform(
        (size, size), Image.Transform.AFFINE, tuple(inv.ravel()), resample=Image.Resampling.BILINEAR
    )
    return np.asarray(chip)


_WARP_MARGIN = 3
"""Pixels kept around the chip's footprint: bilinear sampling reads the neighbours of each point."""


def face_points(detection: Detection) -> NDArray[np.float64]:
    """The eyes, nose tip and mouth centre of a detection, ``float64 (4, 2)`` image pixels.

    BlazeFace's first four keypoints are exactly these (eye on the image's
    left first); a detection without keypoints gets them at their median
    place in its box (:data:`KEYPOINTS_IN_BOX`).
    """
    if len(detection.keypoints) >= 4:
        return np.asarray(detection.keypoints[:4], dtype=np.float64)
    b = detection.box
    return np.array([b.left, b.top]) + KEYPOINTS_IN_BOX * np.array([b.width, b.height])


class KeypointAligner:
    """Cuts template-aligned chips from four face points.

    Args:
        chip_size: side of the embedder's chip in pixels (112 for ArcFace-style models).
        template: where the four points go in a 112 px chip; scaled to ``chip_size``.
    """

    def __init__(
        self, chip_size: int = 112, template: NDArray[np.float64] = BLAZEFACE_IN_ARCFACE_112
    ) -> None:
        if chip_size < 32:
            raise ConfigError(
                f"chip_size={chip_size} is too small; use at least 32 (112 for ArcFace models)."
            )
        self.chip_size = chip_size
        self.template = np.asarray(template, dtype=np.float64) * (chip_size / 112.0)

    def align(self, image: RGBImage, detection: Detection) -> AlignedFace:
        """Chips and landmarks of one face.

        Args:
            image: original RGB ``uint8 (h, w, 3)``.
            detection: the face, in pixels of ``image``.

        Returns:
            An :class:`AlignedFace`: the embedder's chip, the 150 px quality
            chip, and the four points as ``float32 (4, 2)`` landmarks.
        """
        pts = face_points(detection)
        try:
            to_chip = similarity_transform(pts, self.template)
            to_quality = similarity_transform(pts, BLAZEFACE_IN_QUALITY_150)
        except ValueError:  # degenerate keypoints: fall back to the box
            pts = face_points(
                Detection(box=detection.box, score=detection.score, detector=detection.detector)
            )
            to_chip = similarity_transform(pts, self.template)
            to_quality = similarity_transform(pts, BLAZEFACE_IN_QUALITY_150)
        return AlignedFace(
            chip=warp_chip(image, to_chip, self.chip_size),
            landmarks=pts.astype(np.float32),
            quality_chip=warp_chip(image, to_quality, QUALITY_CHIP_PX),
            eyes_nose=pts[:3].astype(np.float32),
        )

    def align_box(self, image: RGBImage, box: BBox) -> AlignedFace:
        """:meth:`align` for a bare box (keypoints at their median place in it)."""
        return self.align(image, Detection(box=box, score=1.0, detector="box"))
