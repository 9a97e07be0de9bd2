"""FaceAnalyzer on real faces: boxes, scaling, views, config errors, pickling."""

from __future__ import annotations

import pickle
import sqlite3

import numpy as np
import pytest
from PIL import Image

import facefile
from facefile.analyze.analyzer import VIEWS, AnalyzeConfig, FaceAnalyzer, upper_view
from facefile.errors import ConfigError, UnknownBackendError
from facefile.types import BBox

ASTRONAUT_FACE = BBox(175, 76, 265, 166)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(AnalyzeConfig(views=("full", "upper")))


def _best_iou(results, box: BBox) -> float:
    return max((r.detection.box.iou(box) for r in results), default=0.0)


def test_astronaut_face_found_with_all_fields(analyzer, astronaut):
    results = analyzer.analyze(astronaut)
    assert _best_iou(results, ASTRONAUT_FACE) > 0.6
    face = max(results, key=lambda r: r.detection.box.iou(ASTRONAUT_FACE))
    assert face.landmarks.shape == (4, 2) and face.landmarks.dtype == np.float32
    assert set(face.embeddings) == {"full", "upper"}
    for vec in face.embeddings.values():
        assert vec.shape == (192,) and vec.dtype == np.float32
    assert not np.allclose(face.embeddings["full"], face.embeddings["upper"])
    assert 0.0 <= face.quality.score <= 1.0 and face.quality.score > 0.6
    assert abs(face.quality.yaw) < 0.3
    assert 80 < face.quality.size_px < 110  # the face is about 90 px; boxes include some forehead


def test_big_photo_boxes_in_original_pixels(analyzer, astronaut):
    canvas = np.full((3000, 4000, 3), 90, dtype=np.uint8)
    canvas[1200:1712, 2500:3012] = astronaut
    results = analyzer.analyze(canvas)
    expected = BBox(2500 + 175, 1200 + 76, 2500 + 265, 1200 + 166)
    assert _best_iou(results, expected) > 0.5
    assert len(results) == 1  # no false positive on the suit or the grey canvas
    face = max(results, key=lambda r: r.detection.box.iou(expected))
    # landmarks and embedding come from original pixels
    assert np.all(face.landmarks[:, 0] > 2600) and np.all(face.landmarks[:, 1] > 1250)
    direct = max(analyzer.analyze(astronaut), key=lambda r: r.detection.box.iou(ASTRONAUT_FACE))
    # keypoints from a second look at the face itself: as sharp as in the small photo
    assert np.abs(face.landmarks - direct.landmarks - [2500, 1200]).max() < 3
    assert np.linalg.norm(face.embeddings["full"] - direct.embeddings["full"]) < 0.15


def test_small_face_found_and_tiny_face_dropped(astronaut):
    small = np.asarray(Image.fromarray(astronaut).resize((170, 170), Image.Resampling.BILINEAR))
    results = FaceAnalyzer().analyze(small)
    assert _best_iou(results, ASTRONAUT_FACE.scaled(170 / 512)) > 0.4  # face ~30 px
    strict = FaceAnalyzer(AnalyzeConfig(min_face_px=40)).analyze(small)
    assert strict == []


def test_tight_portrait_found(analyzer, astronaut):
    crop = np.ascontiguousarray(astronaut[66:176, 165:275])  # face fills the frame
    results = analyzer.analyze(crop)
    assert len(results) >= 1
    assert results[0].detection.box.size_px > 60


def test_tight_crop_is_framed_and_mapped_back(analyzer, astronaut):
    """A face filling the whole photo: analysed inside a grey border, reported in the photo's pixels."""
    reference = max(analyzer.analyze(astronaut), key=lambda r: r.detection.box.iou(ASTRONAUT_FACE))
    top, left = 76, 175
    offset = np.array([left, top], dtype=np.float32)
    crop = np.ascontiguousarray(astronaut[top:166, left:265])  # 90 px, brow to chin
    assert analyzer.crop_margin_px(crop, analyzer.detect(crop)) > 0
    faces = analyzer.analyze(crop)
    assert len(faces) == 1
    box = faces[0].detection.box
    assert 0 <= box.left < box.right <= 90 and 0 <= box.top < box.bottom <= 90
    assert box.size_px > 70
    # the eyes, nose and mouth land where they are in the whole photo
    assert np.abs(faces[0].landmarks + offset - reference.landmarks).max() < 5
    kps = np.asarray(faces[0].detection.keypoints[:4])
    assert np.abs(kps + offset - reference.landmarks).max() < 5


def test_ordinary_photos_are_not_framed(analyzer, astronaut):
    assert analyzer.crop_margin_px(astronaut, analyzer.detect(astronaut)) == 0
    sky = np.full((120, 160, 3), 180, dtype=np.uint8)  # nothing found: no second look
    assert analyzer.crop_margin_px(sky, []) == 0
    assert FaceAnalyzer(AnalyzeConfig(crop_margin=0)).crop_margin_px(astronaut[76:166, 175:265], []) == 0


def test_mirror_averages_face_and_mirror_image(astronaut):
    plain, mirror = FaceAnalyzer(), FaceAnalyzer(AnalyzeConfig(mirror=True))
    a, b = plain.analyze(astronaut)[0], mirror.analyze(astronaut)[0]
    chip = plain.aligner.align(astronaut, a.detection).chip
    flipped = plain.embed_chips([np.ascontiguousarray(chip[:, ::-1])])["full"][0]
    expected = a.embeddings["full"] + flipped
    expected *= np.linalg.norm(a.embeddings["full"]) / np.linalg.norm(expected)
    assert np.allclose(b.embeddings["full"], expected, atol=1e-5)
    assert not np.allclose(b.embeddings["full"], a.embeddings["full"], atol=1e-3)


def test_switching_the_mirror_analyses_the_library_again(astronaut, tmp_path):
    """Plain and mirror-averaged descriptors never mix: the first scan after the switch
    re-embeds every face under the mirror's model id, and each face keeps its id."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.jpg", quality=92)
    lib_dir = tmp_path / "lib"
    with facefile.Library(lib_dir, settings={"scan.workers": 1}) as lib:
        lib.scan(photos)
        before = {f.id for f in lib.faces()}
    with facefile.Library(lib_dir, settings={"scan.workers": 1, "analyze.mirror": True}) as lib:
        assert lib.settings.analyze.model_id == "mobilefacenet_192d_v1+mirror"
        lib.scan(photos)
        after = {f.id for f in lib.faces()}
    conn = sqlite3.connect(f"file:{lib_dir / 'library.db'}?mode=ro", uri=True)
    try:
        stored = {row[0] for row in conn.execute("SELECT DISTINCT model_id FROM embeddings")}
    finally:
        conn.close()
    assert before and after == before
    assert stored == {"mobilefacenet_192d_v1+mirror"}


def test_upper_view_greys_lower_half():
    chip = np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8)
    out = upper_view(chip)
    assert np.all(out[75:] == 128) and np.array_equal(out[:75], chip[:75])
    arc = upper_view(chip[:112, :112], cut=0.62)  # ArcFace chips: grey from just above the nose tip
    assert np.all(arc[69:] == 128) and np.array_equal(arc[:69], chip[:69, :112])
    assert "upper" in VIEWS.names() and "full" in VIEWS.names()


def test_pickles_without_models(analyzer, astronaut):
    analyzer.analyze(astronaut)  # load models
    clone = pickle.loads(pickle.dumps(analyzer))
    assert clone.model_id == "mobilefacenet_192d_v1"
    assert _best_iou(clone.analyze(astronaut), ASTRONAUT_FACE) > 0.6


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_detect_px": 10}, "max_detect_px=10"),
        ({"min_face_px": 2}, "min_face_px=2"),
        ({"upsample": 7}, "upsample=7"),
        ({"views": ("upper",)}, "views="),
        ({"views": ("full", "full")}, "repeats"),
        ({"min_face_px": 20.5}, "must be an integer"),
        ({"crop_margin": -0.5}, "crop_margin=-0.5"),
    ],
)
def test_bad_config_names_the_key(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        FaceAnalyzer(AnalyzeConfig(**kwargs))


@pytest.mark.parametrize("kwargs", [{"detector": "retina"}, {"views": ("full", "side")}])
def test_unknown_backend_lists_names(kwargs):
    with pytest.raises(UnknownBackendError, match="available"):
        FaceAnalyzer(AnalyzeConfig(**kwargs))


def test_kept_boxes_come_back_as_faces(analyzer, astronaut):
    """A library's face the detector no longer finds is analysed at its old box."""
    found = analyzer.analyze(astronaut)
    elsewhere = BBox(380, 300, 470, 390)  # no face there
    results = analyzer.analyze(astronaut, keep_boxes=[found[0].detection.box, elsewhere])
    assert len(results) == len(found) + 1  # the detected face is not repeated
    kept = results[-1]
    assert kept.detection.box == elsewhere and kept.detection.detector == "kept"
    assert kept.quality.score == 0.0  # no detector vouches for it: it may join, never link
    assert kept.embeddings["full"].shape == (192,)


def test_one_detection_takes_one_kept_face(analyzer, astronaut):
    """Two old faces over one new detection: one takes its place, the other stays."""
    found = analyzer.analyze(astronaut)
    twins = [BBox(175, 76, 266, 167), BBox(160, 60, 290, 190)]  # both overlap the detection
    results = analyzer.analyze(astronaut, keep_boxes=twins)
    assert len(results) == len(found) + 1
    assert [r.detection.box for r in results if r.detection.detector == "kept"] == [twins[1]]


def test_rejects_non_rgb(analyzer):
    with pytest.raises(ValueError, match="RGB uint8"):
        analyzer.analyze(np.zeros((10, 10), dtype=np.uint8))
