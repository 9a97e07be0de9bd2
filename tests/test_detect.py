"""Detectors on real faces: boxes on the known face, hard cases, registry."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from facefile.detect import DETECTORS, create_detector
from facefile.detect.blazeface import MODELS, ssd_anchors, tiles, weighted_nms
from facefile.detect.dlib_hog import squash_svm_score
from facefile.errors import ConfigError, UnknownBackendError
from facefile.types import BBox

ASTRONAUT_FACE = BBox(175, 76, 265, 166)


def _ious(dets, box):
    return [d.box.iou(box) for d in dets]


@pytest.mark.parametrize("name", ["dlib_hog", "blazeface", "cascade"])
def test_finds_astronaut_face(name, astronaut):
    dets = create_detector(name).detect(astronaut)
    assert max(_ious(dets, ASTRONAUT_FACE)) > 0.6
    assert all(0.0 <= d.score <= 1.0 for d in dets)


def test_hog_upsample_fires_weak_false_positive_that_cascade_drops(astronaut):
    hog = create_detector("dlib_hog", upsample=1).detect(astronaut)
    false = [d for d in hog if d.box.iou(ASTRONAUT_FACE) < 0.1]
    assert len(false) == 1 and false[0].box.top > 300 and false[0].score < 0.7
    cascade = create_detector("cascade", upsample=1).detect(astronaut)
    assert len(cascade) == 1 and cascade[0].box.iou(ASTRONAUT_FACE) > 0.8
    assert cascade[0].detector == "cascade" and len(cascade[0].keypoints) == 6


def test_blazeface_keypoints_on_the_face(astronaut):
    (det,) = create_detector("blazeface").detect(astronaut)
    right_eye, left_eye, nose = det.keypoints[:3]
    assert right_eye[0] < nose[0] < left_eye[0]  # subject's right eye is image-left
    for x, y in det.keypoints[:4]:
        assert 175 <= x <= 265 and 76 <= y <= 166


def test_blazeface_finds_masked_face_hog_misses(astronaut):
    masked = astronaut.copy()
    masked[120:175, 170:270] = (230, 230, 235)  # mask over nose, mouth and chin
    blaze = create_detector("blazeface").detect(masked)
    assert max(_ious(blaze, ASTRONAUT_FACE), default=0) > 0.5


def test_blazeface_tiles_find_face_in_big_photo(astronaut):
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256)))  # face ~45 px
    canvas = np.full((1200, 1600, 3), 90, dtype=np.uint8)
    canvas[800:1056, 1200:1456] = small
    face = BBox(1200 + 87.5, 800 + 38, 1200 + 132.5, 800 + 83)
    untiled = create_detector("blazeface", tile_px=0).detect(canvas)
    tiled = create_detector("blazeface").detect(canvas)
    assert max(_ious(untiled, face), default=0) < 0.3
    assert max(_ious(tiled, face)) > 0.4


def test_anchor_counts_match_models():
    assert ssd_anchors(MODELS["short"]).shape == (896, 2)
    assert ssd_anchors(MODELS["full"]).shape == (2304, 2)
    first = ssd_anchors(MODELS["short"])[:2]
    np.testing.assert_allclose(first, [[0.5 / 16, 0.5 / 16]] * 2)


def test_weighted_nms_merges_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    kps = np.zeros((3, 6, 2), dtype=np.float32)
    merged = weighted_nms(boxes, kps, np.array([0.9, 0.6, 0.8], dtype=np.float32), 0.3)
    assert len(merged) == 2 and merged[0][2] == pytest.approx(0.9)
    assert 0 < merged[0][0][0] < 1  # weighted mean of 0 and 1


def test_tiles_cover_image():
    ts = tiles(4000, 3000, 640)
    assert ts[0][:2] == (0, 0) and ts[-1][2:] == (4000, 3000)
    assert tiles(800, 600, 640) == []


def test_lfw_tight_portrait_found(lfw_dir):
    paths = sorted(lfw_dir.glob("*/*_0001.jpg"))[:8]
    det = create_detector("cascade")
    for p in paths:
        crop = np.asarray(Image.open(p).convert("RGB"))[75:175, 75:175]  # face fills frame
        assert det.detect(np.ascontiguousarray(crop)), p.name


def test_squash_is_monotonic_and_centred():
    assert squash_svm_score(0.0) == pytest.approx(0.5)
    assert squash_svm_score(-1) < squash_svm_score(0.5) < squash_svm_score(2) < 1.0


def test_registry_and_errors():
    assert {"dlib_hog", "dlib_cnn", "blazeface", "cascade"} <= set(DETECTORS.names())
    with pytest.raises(UnknownBackendError, match="available: blazeface"):
        create_detector("retina")
    with pytest.raises(ConfigError, match="upsample=9"):
        create_detector("dlib_hog", upsample=9)
    with pytest.raises(ConfigError, match="models="):
        create_detector("blazeface", models=("tiny",))


def test_detectors_pickle_after_use(astronaut):
    det = create_detector("cascade")
    det.detect(astronaut)
    clone = pickle.loads(pickle.dumps(det))
    assert max(_ious(clone.detect(astronaut), ASTRONAUT_FACE)) > 0.6
