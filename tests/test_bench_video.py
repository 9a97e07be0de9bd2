"""The video bench's scoring of faces against the test video's known schedule."""

from __future__ import annotations

from facefile_bench.video import FPS, SIZES, _place, appearances, score_faces


def test_the_test_video_shows_eight_appearances_a_minute() -> None:
    shown = appearances(SIZES["720p"], 60)
    assert [(k, t0, t1) for k, t0, t1 in shown if k < 2] == [(0, 0.0, 60.0), (1, 0.0, 60.0)]
    assert sorted((t0, t1) for k, t0, t1 in shown if k == 2) == [(10.0, 15.0), (30.0, 35.0), (50.0, 55.0)]
    assert len(shown) == 8


def test_faces_are_scored_found_extra_or_stray() -> None:
    w, h = SIZES["720p"]
    face_h = h // 4
    face_w = face_h * 150 // 170

    def on(k: int, t: float) -> list[float]:  # a face at the middle of person k's photo at t
        x, y = _place(k, round(t * FPS) / FPS, w, h, face_w)
        return [t, x + face_w / 2, y + face_h / 2]

    faces = [on(0, 5.0), on(1, 5.0), on(1, 40.0), on(2, 12.0), [12.0, 5.0, 5.0], on(3, 12.0)]
    # person 3 is not on screen at 12 s: that face is on no one, as is the one in the corner
    assert score_faces(faces, (w, h), 60) == {"appearances": 8, "found": 3, "extra": 1, "stray": 2}
