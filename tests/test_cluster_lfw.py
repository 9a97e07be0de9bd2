"""The default clusterer on real dlib descriptors of LFW faces (skips without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from facefile_bench.metrics import score

from facefile.cluster import create_clusterer
from facefile.cluster.base import GroupingInput

pytestmark = pytest.mark.slow


def _descriptors(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """dlib "full" and "upper" (lower half grey) descriptors, 128-d each."""
    dlib = pytest.importorskip("dlib")
    frm = pytest.importorskip("face_recognition_models")
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    full, upper = [], []
    for path in paths:
        img = np.asarray(Image.open(path).convert("RGB"))
        found = detector(img, 1)
        box = found[0] if len(found) else dlib.rectangle(70, 70, 180, 180)
        chip = dlib.get_face_chip(img, shape(img, box), 150, 0.25)
        top = chip.copy()
        top[75:] = 128
        full.append(np.array(net.compute_face_descriptor(chip), np.float32))
        upper.append(np.array(net.compute_face_descriptor(top), np.float32))
    return np.stack(full), np.stack(upper)


def test_groups_real_lfw_faces(lfw_dir: Path):
    people = sorted(d for d in lfw_dir.iterdir() if d.is_dir())
    groups = [sorted(d.glob("*.jpg")) for d in people]
    multi = [g[:6] for g in groups if 6 <= len(g) <= 20][:8]
    singles = [g for g in groups if len(g) == 1][:16]
    paths = [p for g in multi + singles for p in g]
    truth = np.array([p.parent.name for p in paths])
    full, upper = _descriptors(paths)
    n = len(paths)
    data = GroupingInput(
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=full,
        quality=np.full(n, 0.8, np.float32),
        size_px=np.full(n, 110.0, np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, np.int64),
        previous_person=np.full(n, -1, np.int64),
        views={"upper": upper},
    )
    g = create_clusterer().fit_predict(data)
    s = score(truth, g.labels)
    assert s.bcubed_f >= 0.9, s
    assert s.pairwise_precision >= 0.95, s
