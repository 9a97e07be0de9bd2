"""Face quality measures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from facefile.align import FaceAligner
from facefile.quality import combined_score, face_quality, sharpness, yaw_from_landmarks
from facefile.types import BBox

FRONTAL = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 75]], dtype=np.float32)


def test_sharpness_drops_with_blur(astronaut):
    chip = FaceAligner().align(astronaut, BBox(175, 76, 266, 167)).chip
    blurred = ndimage.gaussian_filter(chip, sigma=(2, 2, 0))
    assert sharpness(chip) > 4 * sharpness(blurred) > 0
    assert sharpness(np.full((150, 150, 3), 100, dtype=np.uint8)) == 0.0


def test_yaw_sign_and_range():
    assert yaw_from_landmarks(FRONTAL) == pytest.approx(0.0)
    turned = FRONTAL.copy()
    turned[4, 0] = 62  # nose toward the image's right
    assert 0.3 < yaw_from_landmarks(turned) <= 1.0
    turned[4, 0] = 0
    assert yaw_from_landmarks(turned) == -1.0
    assert yaw_from_landmarks(np.zeros((3, 2), dtype=np.float32)) == 0.0


def test_combined_score_orders_faces():
    good = combined_score(100, 300, 0.95, 0.0)
    assert 0.8 < good <= 1.0
    assert combined_score(30, 300, 0.95, 0.0) < good
    assert combined_score(100, 10, 0.95, 0.0) < good
    assert combined_score(100, 300, 0.95, 0.9) < good
    assert combined_score(10, 300, 0.95, 0.0) == 0.0


def test_face_quality_on_astronaut(astronaut):
    face = FaceAligner().align(astronaut, BBox(175, 76, 266, 167))
    q = face_quality(91.0, face.chip, 0.9, face.landmarks)
    assert q.size_px == 91.0 and q.det_score == 0.9
    assert abs(q.yaw) < 0.2 and q.sharpness > 50 and 0.7 < q.score <= 1.0
