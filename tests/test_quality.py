"""Face quality measures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from facefile.align.keypoints import KeypointAligner
from facefile.analyze.quality import combined_score, face_quality, occlusion, sharpness, yaw_from_landmarks
from facefile.detect import create_detector
from facefile.types import BBox

FRONTAL = np.array([[35, 50], [65, 50], [50, 75]], dtype=np.float32)  # eyes, then nose


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    """The astronaut's face as the default pipeline aligns it."""
    det = max(
        create_detector("blazeface").detect(astronaut), key=lambda d: d.box.iou(BBox(175, 76, 266, 167))
    )
    return KeypointAligner().align(astronaut, det)


def test_sharpness_drops_with_blur(astronaut_face):
    chip = astronaut_face.quality_chip
    blurred = ndimage.gaussian_filter(chip, sigma=(2, 2, 0))
    assert sharpness(chip) > 4 * sharpness(blurred) > 0
    assert sharpness(np.full((150, 150, 3), 100, dtype=np.uint8)) == 0.0


def test_yaw_sign_and_range():
    assert yaw_from_landmarks(FRONTAL) == pytest.approx(0.0)
    turned = FRONTAL.copy()
    turned[2, 0] = 62  # nose toward the image's right
    assert 0.3 < yaw_from_landmarks(turned) <= 1.0
    turned[2, 0] = 0
    assert yaw_from_landmarks(turned) == -1.0
    assert yaw_from_landmarks(np.zeros((3, 2), dtype=np.float32)) == 0.0
    assert yaw_from_landmarks(np.zeros((5, 2), dtype=np.float32)) == 0.0


def test_combined_score_orders_faces():
    good = combined_score(100, 300, 0.95, 0.0)
    assert 0.8 < good <= 1.0
    assert combined_score(30, 300, 0.95, 0.0) < good
    assert combined_score(100, 10, 0.95, 0.0) < good
    assert combined_score(100, 300, 0.95, 0.9) < good
    assert combined_score(10, 300, 0.95, 0.0) == 0.0


def test_face_quality_on_astronaut(astronaut_face):
    face = astronaut_face
    q = face_quality(91.0, face.quality_chip, 0.9, face.eyes_nose)
    assert q.size_px == 91.0 and q.det_score == 0.9
    assert abs(q.yaw) < 0.2 and q.sharpness > 50 and 0.7 < q.score <= 1.0


def _covered(chip: np.ndarray, rows: slice, cols: slice, rgb: tuple[int, int, int]) -> np.ndarray:
    out = chip.copy()
    out[rows, cols] = rgb
    return out


def test_occluded_chip_scores_lower_than_the_clean_chip(astronaut_face):
    landmarks = FRONTAL
    chip = astronaut_face.quality_chip
    clean = face_quality(90, chip, 0.95, landmarks)
    assert max(clean.occlusion_lower, clean.occlusion_eyes, clean.occlusion_side) < 0.5
    mask = _covered(chip, slice(78, 140), slice(30, 120), (160, 200, 230))
    glasses = _covered(chip, slice(50, 70), slice(33, 117), (20, 20, 30))
    half = _covered(chip, slice(20, 140), slice(0, 75), (120, 120, 120))
    q_mask = face_quality(90, mask, 0.95, landmarks)
    q_glasses = face_quality(90, glasses, 0.95, landmarks)
    q_half = face_quality(90, half, 0.95, landmarks)
    assert q_mask.occlusion_lower > 0.8 and q_mask.score < 0.4 < clean.score
    assert q_glasses.occlusion_eyes > 0.8 and q_glasses.score < clean.score
    assert q_half.occlusion_side > 0.5 and q_half.score < 0.4


def test_tinted_lenses_do_not_read_as_a_covered_lower_face():
    """A see-through tint over brows and eyes darkens the patches the skin is read from.

    A plain skin-toned chip: bare forehead above, a dark tinted band over
    the brows and eyes, bare cheeks and mouth below.
    """
    rng = np.random.default_rng(0)
    skin = np.array([205.0, 150.0, 120.0])
    chip = skin + rng.normal(0.0, 4.0, size=(150, 150, 3))
    chip[105:115, 55:95] = (150, 70, 70)  # lips
    tinted = chip.copy()
    tinted[22:72] = 0.4 * tinted[22:72] + 0.6 * np.array([40.0, 60.0, 30.0])  # green lenses
    tinted = tinted.clip(0, 255).astype(np.uint8)
    lower, _, side = occlusion(tinted)
    assert lower < 0.5 and side < 0.5
    # the same tint over a masked face: still a masked face
    for colour in ((230, 170, 190), (160, 200, 230)):
        assert occlusion(_covered(tinted, slice(78, 140), slice(30, 120), colour))[0] > 0.8
