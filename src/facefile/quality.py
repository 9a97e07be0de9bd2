"""How far a face can be trusted: size, sharpness, detector score and pose."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from facefile.types import FaceQuality, RGBImage

FULL_SIZE_PX = 80.0
"""Faces this big or bigger get the full size factor; dlib's descriptor was
trained on faces of about this size."""
MIN_SIZE_PX = 16.0
"""Faces this small or smaller get a size factor of 0."""
SHARPNESS_HALF = 60.0
"""Laplacian variance of a 150 px chip that gets a sharpness factor of 0.5.
Clean LFW chips measure 100-1000; 20 px faces upscaled measure under 30."""


def sharpness(chip: RGBImage) -> float:
    """Variance of the Laplacian of the grey chip.

    Args:
        chip: RGB ``uint8 (s, s, 3)`` aligned chip.

    Returns:
        Non-negative float; higher is sharper. Only comparable between chips
        of the same size.
    """
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(ndimage.laplace(grey).var())


def yaw_from_landmarks(landmarks: NDArray[np.float32]) -> float:
    """Head turn from dlib's 5 points (4 eye corners, then the nose base).

    Args:
        landmarks: ``float32 (5, 2)`` ``(x, y)`` pixels, dlib 5-point order.

    Returns:
        ``-1`` .. ``1``: the nose's offset from the midpoint between the eyes,
        along the eye line, in half eye distances. 0 is frontal; positive means
        the nose points toward the image's right. Profiles saturate at +-1.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2):
        return 0.0
    eye_a, eye_b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    axis = eye_a - eye_b
    dist = float(np.hypot(*axis))
    if dist < 1e-6:
        return 0.0
    offset = float(np.dot(pts[4] - (eye_a + eye_b) / 2.0, axis / dist))
    return float(np.clip(offset / (dist / 2.0), -1.0, 1.0))


def combined_score(size_px: float, sharp: float, det_score: float, yaw: float) -> float:
    """One quality number in ``[0, 1]``: a weighted geometric mean of factors.

    Size weighs most (small faces give the least reliable descriptors), then
    sharpness, then detector confidence and frontality.
    """
    size_f = np.clip((size_px - MIN_SIZE_PX) / (FULL_SIZE_PX - MIN_SIZE_PX), 0.0, 1.0)
    sharp_f = sharp / (sharp + SHARPNESS_HALF) if sharp > 0 else 0.0
    pose_f = 1.0 - 0.7 * min(abs(yaw), 1.0)
    det_f = float(np.clip(det_score, 0.0, 1.0))
    score = size_f**0.35 * sharp_f**0.25 * det_f**0.2 * pose_f**0.2
    return float(np.clip(score, 0.0, 1.0))


def face_quality(
    size_px: float, chip: RGBImage, det_score: float, landmarks: NDArray[np.float32]
) -> FaceQuality:
    """All quality measures of one face.

    Args:
        size_px: face size in original pixels (``BBox.size_px``).
        chip: the aligned RGB ``uint8`` chip.
        det_score: detector score in ``[0, 1]``.
        landmarks: ``float32 (5, 2)`` dlib 5-point landmarks in image pixels.
    """
    sharp = sharpness(chip)
    yaw = yaw_from_landmarks(landmarks)
    return FaceQuality(
        size_px=float(size_px),
        sharpness=sharp,
        det_score=float(det_score),
        yaw=yaw,
        score=combined_score(size_px, sharp, det_score, yaw),
    )
