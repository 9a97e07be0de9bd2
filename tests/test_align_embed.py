"""Alignment and descriptors on real faces: the default model, dlib's, and a user's ONNX file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facefile.align.dlib import DlibAligner
from facefile.align.keypoints import (
    BLAZEFACE_IN_ARCFACE_112,
    KeypointAligner,
    similarity_transform,
    warp_chip,
)
from facefile.detect import create_detector
from facefile.embed import EMBEDDERS, create_embedder
from facefile.embed.onnx_face import ARCFACE_DISTANCE_SCALE
from facefile.errors import ConfigError, UnknownBackendError
from facefile.types import BBox, Detection

ASTRONAUT_FACE = BBox(175, 76, 266, 167)


@pytest.fixture(scope="module")
def astronaut_face(astronaut) -> Detection:
    dets = create_detector("blazeface").detect(astronaut)
    return max(dets, key=lambda d: d.box.iou(ASTRONAUT_FACE))


@pytest.fixture(scope="module")
def embedder():
    return create_embedder("mobilefacenet")


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot) and np.allclose(m[:, 2], shift)
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((4, 2)), dst[:4])


def test_warp_puts_the_keypoints_on_the_template(astronaut, astronaut_face):
    """A bright dot at each keypoint lands at its template place in the chip."""
    pts = np.asarray(astronaut_face.keypoints[:4])
    image = np.zeros_like(astronaut)
    for x, y in pts:
        image[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2] = 255
    chip = warp_chip(image, similarity_transform(pts, BLAZEFACE_IN_ARCFACE_112), 112)
    for tx, ty in BLAZEFACE_IN_ARCFACE_112:
        patch = chip[int(ty) - 3 : int(ty) + 4, int(tx) - 3 : int(tx) + 4]
        assert patch.max() > 100


def test_a_chip_is_read_from_the_pixels_under_it_alone(astronaut, astronaut_face):
    """Cutting a chip from the region under it gives the chip PIL cuts from the whole image."""

    def from_whole(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
        inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
        return np.asarray(
            Image.fromarray(image).transform(
                (size, size),
                Image.Transform.AFFINE,
                tuple(inverse.ravel()),
                resample=Image.Resampling.BILINEAR,
            )
        )

    pts = np.asarray(astronaut_face.keypoints[:4])
    frame = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    frame[300:812, 700:1212] = astronaut  # a video frame: the face amid other pixels
    to_frame = np.array([[1.0, 0, -700], [0, 1, -300], [0, 0, 1]])
    turn = np.array([[np.cos(0.6), -np.sin(0.6), 0.0], [np.sin(0.6), np.cos(0.6), 0.0], [0.0, 0.0, 1.0]])
    edge = np.array([[0.5, 0, -20.0], [0, 0.5, 10.0]])  # a chip reaching past the image's corner
    for size, m in ((112, similarity_transform(pts, BLAZEFACE_IN_ARCFACE_112)), (150, edge)):
        for matrix in (m, m @ turn):
            assert np.array_equal(warp_chip(astronaut, matrix, size), from_whole(astronaut, matrix, size))
            assert np.array_equal(
                warp_chip(frame, matrix @ to_frame, size), from_whole(frame, matrix @ to_frame, size)
            )


def test_keypoint_chip_and_quality_chip(astronaut, astronaut_face):
    face = KeypointAligner().align(astronaut, astronaut_face)
    assert face.chip.shape == (112, 112, 3) and face.chip.dtype == np.uint8
    assert face.quality_chip.shape == (150, 150, 3)
    assert face.chip.std() > 20 and face.quality_chip.std() > 20  # a face, not padding
    assert face.landmarks.shape == (4, 2) and face.eyes_nose.shape == (3, 2)
    left_eye, right_eye, nose = face.eyes_nose
    assert left_eye[0] < nose[0] < right_eye[0] and nose[1] > max(left_eye[1], right_eye[1])


def test_box_without_keypoints_is_aligned_from_the_box(astronaut, astronaut_face, embedder):
    aligner = KeypointAligner()
    from_points = embedder.embed([aligner.align(astronaut, astronaut_face).chip])[0]
    from_box = embedder.embed([aligner.align_box(astronaut, astronaut_face.box).chip])[0]
    assert np.linalg.norm(from_points - from_box) < 0.35  # same person, rougher alignment


def test_mobilefacenet_shapes_and_self_distance(astronaut, astronaut_face, embedder):
    chip = KeypointAligner().align(astronaut, astronaut_face).chip
    vecs = embedder.embed([chip, chip[:, ::-1].copy()])
    assert vecs.shape == (2, 192) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), ARCFACE_DISTANCE_SCALE, atol=1e-5)
    assert np.linalg.norm(vecs[0] - vecs[1]) < 0.3  # mirrored face is still the same person
    assert embedder.embed([]).shape == (0, 192)
    assert embedder.model_id == "mobilefacenet_192d_v1" and embedder.dim == 192


def test_embed_rejects_wrong_chip(embedder):
    with pytest.raises(ValueError, match="112, 112, 3"):
        embedder.embed([np.zeros((150, 150, 3), dtype=np.uint8)])


def _lfw_people(lfw_dir, n_people: int):
    people = []
    for d in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 2:
            people.append(imgs[:2])
        if len(people) == n_people:
            break
    return people


@pytest.mark.parametrize("model", ["mobilefacenet", "dlib_resnet"])
def test_same_person_closer_than_different(lfw_dir, model):
    """On real pairs, each model puts a person's two photos nearer than strangers'."""
    embedder = create_embedder(model)
    detector = create_detector("blazeface")
    aligner = DlibAligner() if model == "dlib_resnet" else KeypointAligner()
    vecs = []
    for pair in _lfw_people(lfw_dir, 8):
        chips = []
        for p in pair:
            image = np.asarray(Image.open(p).convert("RGB"))
            det = min(detector.detect(image), key=lambda d: np.hypot(*np.subtract(d.box.center, 125)))
            chips.append(aligner.align(image, det).chip)
        vecs.append(embedder.embed(chips))
    same = [np.linalg.norm(v[0] - v[1]) for v in vecs]
    diff = [np.linalg.norm(vecs[i][0] - vecs[j][1]) for i in range(8) for j in range(8) if i != j]
    assert np.median(same) < 0.55 < np.min(diff)  # the grouping threshold separates them
    assert np.mean(same) + 0.1 < np.mean(diff)


def test_errors():
    with pytest.raises(ConfigError, match="chip_size=8"):
        KeypointAligner(chip_size=8)
    with pytest.raises(ConfigError, match="chip_size=8"):
        DlibAligner(chip_size=8)
    with pytest.raises(UnknownBackendError, match=r"mobilefacenet.*onnx:PATH"):
        create_embedder("arcface")
    with pytest.raises(ConfigError, match="num_jitters"):
        create_embedder("dlib_resnet", num_jitters=-1)
    with pytest.raises(ConfigError, match="no such file"):
        create_embedder("onnx:/nonexistent/model.onnx")
    assert {"dlib_resnet", "mobilefacenet"} <= set(EMBEDDERS.names())
