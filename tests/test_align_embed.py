"""Alignment and dlib ResNet descriptors on real faces."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facefile.align import FaceAligner
from facefile.embed import EMBEDDERS, create_embedder
from facefile.errors import ConfigError, UnknownBackendError
from facefile.types import BBox

ASTRONAUT_FACE = BBox(175, 76, 266, 167)


@pytest.fixture(scope="module")
def aligner() -> FaceAligner:
    return FaceAligner()


@pytest.fixture(scope="module")
def embedder():
    return create_embedder("dlib_resnet")


def test_landmarks_in_dlib_order(aligner, astronaut):
    lm = aligner.landmarks(astronaut, ASTRONAUT_FACE)
    assert lm.shape == (5, 2) and lm.dtype == np.float32
    assert lm[0, 0] > lm[1, 0] > lm[3, 0] > lm[2, 0]  # image-right eye first, outer first
    assert lm[4, 1] > lm[:4, 1].max()  # nose below the eyes
    assert ASTRONAUT_FACE.left < lm[:, 0].min() and lm[:, 0].max() < ASTRONAUT_FACE.right


def test_chip_shape_and_content(aligner, astronaut):
    face = aligner.align(astronaut, ASTRONAUT_FACE)
    assert face.chip.shape == (150, 150, 3) and face.chip.dtype == np.uint8
    assert face.chip.std() > 20  # a face, not padding


def test_embed_shapes_and_self_distance(aligner, embedder, astronaut):
    chip = aligner.align(astronaut, ASTRONAUT_FACE).chip
    vecs = embedder.embed([chip, chip[:, ::-1].copy()])
    assert vecs.shape == (2, 128) and vecs.dtype == np.float32
    assert 0.5 < np.linalg.norm(vecs[0]) < 1.5  # native dlib space, not normalised to 1
    assert np.linalg.norm(vecs[0] - vecs[1]) < 0.4  # mirrored face is still the same person
    assert embedder.embed([]).shape == (0, 128)
    assert embedder.model_id == "dlib_resnet_v1" and embedder.dim == 128


def test_embed_rejects_wrong_chip(embedder):
    with pytest.raises(ValueError, match="150, 150, 3"):
        embedder.embed([np.zeros((100, 100, 3), dtype=np.uint8)])


def _lfw_people(lfw_dir, n_people: int):
    people = []
    for d in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 2:
            people.append(imgs[:2])
        if len(people) == n_people:
            break
    return people


def test_same_person_closer_than_different(lfw_dir, aligner, embedder):
    box = BBox(68, 68, 182, 182)  # LFW faces are centred at about this size
    vecs = []
    for pair in _lfw_people(lfw_dir, 6):
        chips = [aligner.align(np.asarray(Image.open(p).convert("RGB")), box).chip for p in pair]
        vecs.append(embedder.embed(chips))
    same = [np.linalg.norm(v[0] - v[1]) for v in vecs]
    diff = [np.linalg.norm(vecs[i][0] - vecs[j][1]) for i in range(6) for j in range(6) if i != j]
    assert np.median(same) < 0.6 < np.median(diff)
    assert np.mean(same) + 0.1 < np.mean(diff)


def test_errors():
    with pytest.raises(ConfigError, match="chip_size=8"):
        FaceAligner(chip_size=8)
    with pytest.raises(UnknownBackendError, match="dlib_resnet"):
        create_embedder("arcface")
    with pytest.raises(ConfigError, match="num_jitters"):
        create_embedder("dlib_resnet", num_jitters=-1)
    assert "dlib_resnet" in EMBEDDERS.names()


def test_detector_eyes_place_dlibs_points_on_a_clean_face(aligner, astronaut):
    from facefile.align import KEYPOINT_DISAGREEMENT, disagreement, points_from_eyes
    from facefile.detect import create_detector

    points = create_detector("cascade").eye_points(astronaut, ASTRONAUT_FACE)
    placed = points_from_eyes(np.asarray(points[:2], dtype=np.float32))
    dlib_points = aligner.landmarks(astronaut, ASTRONAUT_FACE)
    # on a clean face both agree, so the chip is dlib's own
    assert disagreement(dlib_points, placed) < KEYPOINT_DISAGREEMENT
    with_eyes = aligner.align(astronaut, ASTRONAUT_FACE, points)
    assert np.array_equal(with_eyes.chip, aligner.align(astronaut, ASTRONAUT_FACE).chip)


def test_points_from_eyes_turn_with_the_head():
    from facefile.align import points_from_eyes

    upright = points_from_eyes(np.array([[100, 100], [140, 100]], dtype=np.float32))
    assert upright[4, 1] > 120  # nose below the eyes
    assert upright[0, 0] > upright[1, 0] > 120 > upright[3, 0] > upright[2, 0]  # dlib's order
    # head turned a quarter: the eyes stacked, subject's right eye on top
    turned = points_from_eyes(np.array([[120, 80], [120, 120]], dtype=np.float32))
    assert turned[4, 0] < 100  # nose to the side the face now points
    assert points_from_eyes(np.array([[5, 5], [5, 5]], dtype=np.float32)) is None


def _half_covered(image, points, rng):
    """Grey over one half of the face, from the brows to the chin, as a hand or a door would."""
    out = image.copy()
    xs, ys = points[:, 0], points[:, 1]
    mid = round(float(points[4, 0]))
    top = int(max(0, ys[:4].min() - 0.6 * (xs.max() - xs.min())))
    bottom = int(min(out.shape[0], points[4, 1] + 1.5 * (xs.max() - xs.min())))
    if rng.random() < 0.5:
        out[top:bottom, max(0, int(xs.min() - 30)) : mid] = rng.integers(40, 200)
    else:
        out[top:bottom, mid : int(xs.max() + 30)] = rng.integers(40, 200)
    return out


def test_alignment_holds_better_when_half_the_face_is_covered(lfw_dir):
    """Against dlib's landmarks on the uncovered image, the guarded alignment
    misplaces the eyes of half-covered faces less than dlib alone."""
    from facefile.analyze import FaceAnalyzer
    from facefile.media import load_image

    analyzer = FaceAnalyzer()
    rng = np.random.default_rng(3)
    paths = sorted(lfw_dir.glob("*/*.jpg"))
    paths = [paths[i] for i in rng.choice(len(paths), 60, replace=False)]

    def eyes(p):
        return np.array([p[0:2].mean(axis=0), p[2:4].mean(axis=0)])

    def err(p, ref):
        return np.linalg.norm(eyes(p) - eyes(ref), axis=1).max() / np.linalg.norm(np.subtract(*eyes(ref)))

    plain, guarded = [], []
    for path in paths:
        image = load_image(path)
        clean = analyzer.detect(image)
        if not clean:
            continue
        ref = analyzer.aligner.landmarks(image, clean[0].box)
        covered = _half_covered(image, ref, rng)
        dets = analyzer.detect(covered)
        if not dets:
            continue
        d = min(dets, key=lambda d: np.hypot(*(np.array(d.box.center) - ref[4])))
        points = analyzer.detector.eye_points(covered, d.box)
        if points is None:
            continue
        plain.append(err(analyzer.aligner.landmarks(covered, d.box), ref))
        guarded.append(err(analyzer.aligner.align(covered, d.box, points).landmarks, ref))
    assert len(plain) >= 40
    assert np.median(guarded) < 0.8 * np.median(plain)
    assert np.mean(np.array(guarded) > 0.4) < np.mean(np.array(plain) > 0.4)


def test_eye_points_read_at_full_resolution(astronaut):
    from facefile.detect import create_detector

    detector = create_detector("cascade")
    canvas = np.full((3000, 4000, 3), 90, dtype=np.uint8)
    canvas[1200:1712, 2500:3012] = astronaut
    box = BBox(2500 + 175, 1200 + 76, 2500 + 266, 1200 + 167)
    near = np.array(detector.eye_points(canvas, box)[:2]) - [2500, 1200]
    direct = np.array(detector.eye_points(astronaut, ASTRONAUT_FACE)[:2])
    assert np.abs(near - direct).max() < 1.0  # same pixels, same points, whatever the photo size
    assert 195 < direct[0, 0] < 212 < 238 < direct[1, 0] < 255  # subject's right eye first
    assert detector.eye_points(np.full((400, 400, 3), 90, np.uint8), BBox(100, 100, 200, 200)) is None
