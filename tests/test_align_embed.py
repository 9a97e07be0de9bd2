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
