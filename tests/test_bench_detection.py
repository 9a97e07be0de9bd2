"""The detection bench: share of unlabelled photos in which a face is found."""

from __future__ import annotations

import numpy as np
from facefile_bench.detection import run_detection
from PIL import Image


def test_counts_photos_with_a_face(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "face.jpg")
    Image.fromarray(np.full((200, 300, 3), 140, np.uint8)).save(tmp_path / "wall.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    row = run_detection(tmp_path, workers=1)
    assert row["photos"] == 2 and row["unreadable"] == 1
    assert row["photos_with_face"] == 1 and row["share_with_face"] == 0.5
    assert row["faces"] == 1 and 80 < row["median_face_px"] < 110
