"""Faces in videos: sampling, rotation, tracks, the scan path, bad input, resuming after a kill."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facefile.analyze.analyzer import FaceAnalyzer
from facefile.api import Library
from facefile.cli import app
from facefile.media.video import Sample, VideoConfig, probe, sample_frames
from facefile.scan.video_worker import analyze_video
from facefile.types import BBox
from tests.conftest import SHARED_DATA
from tests.fakes import BLUE, FAKE_SETTINGS, GREEN
from tests.hostile import REPO_ROOT, cli, cli_env, read_library
from tests.videos import canvas, encode, fake_face, fake_video, lfw_face, steady

CLIP = SHARED_DATA / "video" / "short_hamilton_clip.mp4"
# workers forked after this process ran ONNX Runtime (the analyzer fixture) can hang in it
ONE_WORKER = {"scan.workers": 1}


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


def _faces_json(lib: Path) -> list[dict]:
    result = CliRunner().invoke(app, ["faces", "--json", "-L", str(lib)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- sampling ---------------------------------------------------------------------
def test_real_clip_is_sampled_about_once_a_second_and_its_faces_are_tracks(tmp_path: Path) -> None:
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} not found (see shared/data/README.md)")
    info = probe(CLIP)
    assert (info.width, info.height, info.rotation) == (640, 360, 0)
    assert 9.0 < info.duration_s < 9.3
    times = [s.t for s in sample_frames(CLIP, VideoConfig())]
    assert 9 <= len(times) <= 11 and times == sorted(times)
    assert all(0.7 < b - a < 1.3 for a, b in itertools.pairwise(times))
    (tmp_path / "in").mkdir()
    os.symlink(CLIP, tmp_path / "in" / CLIP.name)
    with Library(tmp_path / "lib", settings=ONE_WORKER) as lib:
        summary = lib.scan(tmp_path / "in")
    assert summary.videos_analyzed == 1 and not summary.problems
    rows = _faces_json(tmp_path / "lib")
    assert 4 <= len(rows) <= len(times) * 4  # tracks, not one face per sample
    for r in rows:
        v = r["video"]
        assert 0 <= v["t_start"] <= v["t_frame"] <= v["t_end"] <= info.duration_s
        left, top, right, bottom = r["box"]
        assert 0 <= left < right <= 640 and 0 <= top < bottom <= 360
    assert any(r["video"]["t_end"] - r["video"]["t_start"] >= 2 for r in rows)


def test_variable_frame_rate_samples_the_frames_own_times(astronaut: np.ndarray, tmp_path: Path) -> None:
    times = [0.0, 0.3, 0.35, 1.4, 2.9, 3.0, 4.6, 4.62]
    path = encode(tmp_path / "vfr.mp4", [(t, astronaut) for t in times])
    sampled = [round(s.t, 3) for s in sample_frames(path, VideoConfig())]
    assert set(sampled) <= set(times)
    assert sampled[0] == 0.0 and sampled[-1] >= 4.6 and len(sampled) >= 4


def test_each_sample_is_the_frame_shown_at_its_time(astronaut: np.ndarray, tmp_path: Path) -> None:
    def shown(i: int) -> np.ndarray:  # a white mark that steps along the top edge, frame by frame
        frame = astronaut.copy()
        frame[:32] = 0
        frame[:32, 12 * (i % 40) : 12 * (i % 40) + 12] = 255
        return frame

    def mark(image: np.ndarray) -> int:
        return int(np.argmax(image[8:24].mean(axis=(0, 2))) // 12)

    # B-frames: the decoder reads ahead to reorder them; a sample must still be its own frame
    path = encode(tmp_path / "reordered.mp4", [(i / 25, shown(i)) for i in range(25 * 5)], is_reordered=True)
    samples = list(sample_frames(path, VideoConfig(), preview_px=192))
    assert [round(s.t, 2) for s in samples] == [0.0, 1.0, 2.0, 3.0, 4.0]  # the keyframes, one a second
    for s in samples:
        assert mark(s.image) == round(s.t * 25) % 40  # that frame, not one decoded after it
        assert np.abs(s.image.astype(int) - shown(round(s.t * 25))).mean() < 4  # H.264's loss aside
        assert s.preview is not None and s.preview.shape == (192, 192, 3)
        small = np.asarray(Image.fromarray(s.image).resize((192, 192), Image.Resampling.BOX))
        assert np.abs(s.preview.astype(int) - small).mean() < 3  # the same picture, small


def test_a_track_is_filed_by_its_sharpest_view_even_where_overlap_placed_it(
    astronaut: np.ndarray, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    from PIL import ImageFilter

    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(3)))
    # the same face in place: out of focus for 4 s, then sharp; no descriptor is needed to track it
    path = encode(tmp_path / "focus.mp4", steady(blurred, 0, 4, fps=10) + steady(astronaut, 4, 8, fps=10))
    result = analyze_video(os.fsencode(path), analyzer, VideoConfig())
    (face,) = result.faces
    assert face.span is not None and face.span.t_frame >= 4  # the crop and descriptor come from a sharp frame
    sharp = analyzer.examine(astronaut)[0][0].quality.score
    assert face.quality.score >= 0.9 * sharp


def test_a_tracks_descriptor_is_the_same_whether_the_tracker_embedded_its_views_or_not(
    astronaut: np.ndarray, analyzer: FaceAnalyzer
) -> None:
    from facefile.analyze.tracks import Track, View, track_face

    # three views of one face: shifted and dimmed a little, as consecutive samples differ
    views = [
        analyzer.examine(
            np.ascontiguousarray(np.roll(astronaut, 9 * k, axis=1) * (1 - 0.05 * k)).astype(np.uint8)
        )[0]
        for k in range(3)
    ]
    fresh = Track([View(float(k), face, chip) for k, (face, chip) in enumerate(views)])
    tracked = Track([View(float(k), face, chip) for k, (face, chip) in enumerate(views)])
    tracked.views[0].vector = analyzer.embed_chips([views[0][1]], exclude=["upper"])["full"][
        0
    ]  # as linking does
    tracked.views[2].vector = analyzer.embed_chips([views[2][1]], exclude=["upper"])["full"][0]
    a = track_face(fresh, "mean", analyzer.embed_chips).embeddings
    b = track_face(tracked, "mean", analyzer.embed_chips).embeddings
    assert list(a) == list(b) == ["full", "upper"]
    for name in a:
        assert np.allclose(a[name], b[name], atol=1e-5)
    best = max(range(3), key=lambda k: views[k][0].quality.score)
    upper = analyzer.embed_chips([views[best][1]])["upper"][0]
    assert np.allclose(a["upper"], upper, atol=1e-5)  # the best view's alone
    full = analyzer.embed_chips([chip for _, chip in views])["full"]
    assert not np.allclose(a["full"], full[best], atol=1e-3)  # the mean of three views


def test_scene_cut_ends_tracks_and_is_sampled_between(
    astronaut: np.ndarray, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    shot_a = canvas([(astronaut[:300, 100:400], 40, 100)])
    shot_b = canvas([(np.ascontiguousarray(astronaut[:300, 100:400][:, ::-1]), 600, 200)])
    shot_b[:, :300] = 20  # a darker room: the whole picture changes
    path = encode(tmp_path / "cut.mp4", steady(shot_a, 0, 3) + steady(shot_b, 3, 3))
    samples: list[Sample] = list(sample_frames(path, VideoConfig(sample_seconds=2)))
    cuts = [s.t for s in samples if s.is_cut]
    assert len(cuts) == 1 and 2 < cuts[0] <= 4
    assert any(2 < s.t < 4 for s in samples)  # more at the cut than the 2 s grid gives
    result = analyze_video(os.fsencode(path), analyzer, VideoConfig(sample_seconds=2))
    assert result.error is None
    spans = sorted((f.span.t_start, f.span.t_end) for f in result.faces if f.span)
    assert len(spans) == 2
    assert spans[0][1] < 3 <= spans[1][0]


@pytest.mark.parametrize(
    ("codec", "name"),
    [
        ("libx264", "phone.mov"),
        ("libx265", "iphone.mov"),  # HEVC, as phones record by default
        ("libvpx-vp9", "web.webm"),
        ("libsvtav1", "new.mkv"),
        ("mpeg4", "old.avi"),
    ],
)
def test_common_codecs_and_containers_are_read(
    codec: str, name: str, astronaut: np.ndarray, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    path = encode(tmp_path / name, steady(astronaut, 0, 2, fps=10), codec=codec)
    result = analyze_video(os.fsencode(path), analyzer, VideoConfig())
    assert result.error is None and (result.width, result.height) == (512, 512)
    (face,) = result.faces
    assert face.detection.box.iou(BBox(175, 76, 265, 166)) >= 0.5  # where the astronaut's face is


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotated_video_boxes_sit_on_the_face(
    turn: int, astronaut: np.ndarray, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    upright = np.ascontiguousarray(astronaut[:, 64:448])  # portrait 384x512
    (truth,) = [f.detection.box for f in analyzer.analyze(upright)]
    stored = np.ascontiguousarray(np.rot90(upright, k=turn // 90))  # as the camera stored it
    # the display matrix turns it back: FFmpeg's counter-clockwise degrees
    path = encode(tmp_path / f"rot{turn}.mp4", steady(stored, 0, 2), rotation=-turn)
    result = analyze_video(os.fsencode(path), analyzer, VideoConfig())
    assert (result.width, result.height) == (384, 512)
    assert len(result.faces) == 1
    assert result.faces[0].detection.box.iou(truth) >= 0.8


def test_a_long_video_is_capped_in_samples_and_time(
    astronaut: np.ndarray, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    path = encode(tmp_path / "long.mp4", steady(astronaut[::2, ::2], 0, 20, fps=5))
    times = [s.t for s in sample_frames(path, VideoConfig(max_samples=4))]
    assert len(times) == 4 and times[-1] >= 14  # spread over the whole video, not its start
    result = analyze_video(os.fsencode(path), analyzer, VideoConfig(max_seconds=1e-6))
    assert result.error is None and result.faces == ()
    assert result.note is not None and "video.max_seconds" in result.note


# -- two people, appearances, grouping with their photos ------------------------------
@pytest.mark.slow
def test_two_people_video_gives_one_face_per_appearance_in_their_people(
    lfw_dir: Path, tmp_path: Path
) -> None:
    names = ("Colin_Powell", "Tony_Blair")
    files = {n: sorted((lfw_dir / n).glob("*.jpg")) for n in names}
    photos = tmp_path / "in"
    for n in names:
        for src in files[n][1:6]:
            (photos / n).mkdir(parents=True, exist_ok=True)
            (photos / n / src.name).write_bytes(src.read_bytes())
    a, b = (lfw_face(files[n][0]) for n in names)
    # three shots, cut from room to room: A alone, B alone, both side by side
    shots = (
        steady(canvas([(a, 100, 120)], bg=(90, 110, 100)), 0, 3)
        + steady(canvas([(b, 560, 80)], bg=(210, 180, 130)), 3, 3)
        + steady(canvas([(a, 120, 120), (b, 560, 120)], bg=(30, 30, 70)), 6, 3)
    )
    encode(photos / "shots.mp4", shots)
    # one shot: A alone, B walks in, A walks out
    room = [
        (i / 25, canvas(([(a, 100, 120)] if i < 150 else []) + ([(b, 560, 120)] if i >= 75 else [])))
        for i in range(225)
    ]
    encode(photos / "room.mp4", room)
    with Library(tmp_path / "lib", settings=ONE_WORKER) as lib:
        summary = lib.scan(photos)
    assert summary.videos_analyzed == 2 and not summary.problems
    rows = _faces_json(tmp_path / "lib")
    person_of = {
        n: {r["person"] for r in rows if f"/{n}/" in r["photo"]} for n in names
    }  # the person each one's photos went to
    assert all(len(p) == 1 and None not in p for p in person_of.values()), person_of
    pa, pb = (next(iter(person_of[n])) for n in names)
    assert pa != pb
    video = {name: [r for r in rows if r["photo"].endswith(name)] for name in ("shots.mp4", "room.mp4")}
    shots_faces = sorted((r["video"]["t_start"], r["person"]) for r in video["shots.mp4"])
    assert [p for _, p in shots_faces] in ([pa, pb, pa, pb], [pa, pb, pb, pa]), shots_faces
    assert [t // 3 for t, _ in shots_faces] == [0, 1, 2, 2]
    room_faces = sorted((r["video"]["t_start"], r["video"]["t_end"], r["person"]) for r in video["room.mp4"])
    assert len(room_faces) == 2
    (a0, a1, who_a), (b0, b1, who_b) = room_faces
    assert (who_a, who_b) == (pa, pb)
    assert a0 == 0 and 5 <= a1 < 6 and 3 <= b0 < 4 and b1 >= 8
    show = CliRunner().invoke(app, ["show", pa, "-L", str(tmp_path / "lib")], env={"COLUMNS": "300"})
    assert show.exit_code == 0 and "room.mp4" in show.output and "0:00-0:05" in show.output


# -- bad input ---------------------------------------------------------------------
def _unknown_codec(good_mkv: Path, out: Path) -> Path:
    """The same Matroska file naming a codec no FFmpeg knows (codec id of the same length)."""
    data = good_mkv.read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    out.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_FACEFILE/NONE", 1))
    return out


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(20):
            silence = np.zeros((1, 1024), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_bad_videos_get_one_line_each_and_the_scan_goes_on(astronaut: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "src"
    good = encode(src / "good.mp4", steady(astronaut, 0, 4))
    good_mkv = encode(src / "good.mkv", steady(astronaut, 0, 4))
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    (photos / "empty.mp4").write_bytes(b"")
    (photos / "noise.mov").write_bytes(np.random.default_rng(1).bytes(50_000))
    (photos / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    _unknown_codec(good_mkv, photos / "unknown_codec.mkv")
    _audio_only(photos / "sound.mp4")
    # a Matroska file cut short keeps the frames before the cut
    (photos / "cut_short.mkv").write_bytes(good_mkv.read_bytes()[: good_mkv.stat().st_size * 2 // 3])
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    with Library(tmp_path / "lib", settings=ONE_WORKER) as lib:
        summary = lib.scan(photos)
    reasons = dict(summary.problems)
    assert sorted(Path(p).name for p in reasons) == [
        "empty.mp4", "noise.mov", "sound.mp4", "truncated.mp4", "unknown_codec.mkv",
    ]  # fmt: skip
    by_name = {Path(p).name: r for p, r in reasons.items()}
    assert by_name["empty.mp4"] == "empty file (0 bytes)"
    assert "no video track" in by_name["sound.mp4"]
    assert "no decoder" in by_name["unknown_codec.mkv"]
    assert all("\n" not in r for r in reasons.values())
    rows = _faces_json(tmp_path / "lib")
    assert {Path(r["photo"]).name for r in rows} == {"astronaut.png", "cut_short.mkv"}
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before  # videos are never modified


def test_videos_off_or_without_decoder_are_counted_once_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "in"
    fake_video(photos / "a.mkv", 2)
    fake_video(photos / "b.mkv", 2)
    (photos / "c.mp4").write_bytes((photos / "a.mkv").read_bytes())
    with Library(tmp_path / "off", settings={**FAKE_SETTINGS, "video.is_enabled": False}) as lib:
        summary = lib.scan(photos)
        assert summary.unsupported == {
            "videos: not read (video.is_enabled is off; scan --videos reads them)": 3
        }
        assert lib.faces() == []
    monkeypatch.setattr("facefile.media.files.has_decoder", lambda: False)  # as without PyAV
    with Library(tmp_path / "bare", settings=FAKE_SETTINGS) as lib:
        summary = lib.scan(photos)
        assert summary.unsupported == {"videos: no video decoder installed (pip install av)": 3}
        assert summary.problems == [] and lib.faces() == []


# -- the library: ids kept on change, forget, kill mid-video ---------------------------
def test_changed_video_keeps_face_ids_where_tracks_overlap_and_forget_erases(
    tmp_path: Path, library_location: str
) -> None:
    photos = tmp_path / "in"
    video = fake_video(photos / "home.mkv", 10)
    settings = {**FAKE_SETTINGS, "video.sample_seconds": 0.5}
    with Library(library_location, settings=settings) as lib:
        lib.scan(photos)
        before = {(f.span.t_start, f.span.t_end): f.id for f in lib.faces() if f.span}
        (a0, a1), (b0, b1) = sorted(before)  # person 1 throughout, person 2 from 3 s to 7 s
        assert a0 == 0 and 9.4 <= a1 <= 9.8 and 3 <= b0 <= 3.4 and 6.4 <= b1 <= 6.8, before
        fake_video(video, 12)  # two seconds more
        lib.scan(photos)
        after = {f.id: f.span for f in lib.faces() if f.span}
        assert set(after) == set(before.values())  # same faces, same ids
        assert max(s.t_end for s in after.values()) > 11
        crop = lib.store.library_dir / "crops"
        from facefile.web.crops import face_crop

        shown = face_crop(lib.store, min(after), 96)
        assert shown.is_file() and Image.open(shown).size == (96, 96)
        person = lib.move(min(after), "new")
        (seen,) = lib.videos(person.id)
        assert seen.face_id == min(after) and os.fsdecode(seen.path) == str(video)
        lib.export(tmp_path / "out")
        linked = tmp_path / "out" / person.key / "home.mkv"
        assert linked.is_symlink() and linked.resolve() == video.resolve()
        listed = json.loads((tmp_path / "out" / "people.json").read_text())
        assert [r["video"]["t_start"] for r in listed if r["person"] == person.key] == [0.0]
        lib.forget(person.id)
        assert min(after) not in {f.id for f in lib.faces()}
        assert not list(crop.glob(f"*/{min(after)}.jpg"))
        lib.scan(photos)
        assert min(after) not in {f.id for f in lib.faces()}
        assert len([f for f in lib.faces() if f.span]) == 1  # the forgotten face stays forgotten


def _videos_stored(library: Path) -> int | None:
    """Videos stored; ``None`` before the scan began analysing (no library yet, or no scan run)."""
    if not (library / "library.db").exists():
        return None
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            return None
        if not conn.execute("SELECT 1 FROM runs WHERE kind = 'scan'").fetchone():
            return None
        return int(conn.execute("SELECT COUNT(*) FROM photos WHERE kind = 'video'").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.long
def test_kill_during_a_video_then_rescan_gives_the_same_library(tmp_path: Path) -> None:
    photos = tmp_path / "in"
    for k in (1, 3):
        fake_video(photos / f"v{k}.mkv", 8, first=k)
    env = cli_env("fake_hostile", FACEFILE_TEST_DETECT_SECONDS="0.4")  # about 4 s a video
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])  # this tree's facefile
    clean = tmp_path / "clean"
    done = subprocess.run(cli("scan", photos, "-L", clean, "-q"), env=env, cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    seen = []
    for attempt, delay in enumerate((5.0, 4.0, 6.5, 3.0, 8.0)):
        killed = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen(
            cli("scan", photos, "-L", killed, "-q"), env=env, cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(delay)
        if proc.poll() is not None:
            seen.append((delay, "finished"))
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stored = _videos_stored(killed)
        seen.append((delay, stored))
        if stored is not None and stored < 2:
            break  # killed while analysing a video
    else:
        pytest.fail(f"no kill landed during a video: {seen}")
    again = subprocess.run(
        cli("scan", photos, "-L", killed, "-q"), env=env, cwd=REPO_ROOT, capture_output=True
    )
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert read_library(killed) == read_library(clean)
    assert _videos_stored(killed) == 2


def test_web_shows_a_video_face_and_plays_it_from_its_time(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from facefile.web.app import create_app

    photos = tmp_path / "in"
    video = fake_video(photos / "home.mkv", 10)
    Image.fromarray(canvas([(fake_face(1), 100, 100)], (400, 300))).save(photos / "still.png")
    with Library(tmp_path / "lib", settings=FAKE_SETTINGS) as lib:
        lib.scan(photos)
        late = next(f for f in lib.faces() if f.span and f.span.t_start > 0)
        early = next(f for f in lib.faces() if f.span and f.span.t_start == 0)
        still = next(f for f in lib.faces() if f.span is None)
        person = lib.move([late.id], "new")
        lib.unassign(early.id)
        lib.unassign(still.id)
    app = create_app(str(tmp_path / "lib"), settings=FAKE_SETTINGS)
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        page = client.get(f"/face/{late.id}").text
        assert f'src="/video/{late.photo_id}#t=3.00"' in page and "seen 0:03-0:06" in page
        tiles = client.get(f"/person/{person.id}").text
        assert "▶ 0:03" in tiles
        unassigned = client.get("/unassigned").text
        tile = unassigned.split(f"/crop/{early.id}.jpg")[1].split("</li>")[0]
        assert "▶ 0:00" in tile and "seen 0:00-" in tile
        assert "▶" not in unassigned.split(f"/crop/{still.id}.jpg")[1].split("</li>")[0]
        assert "media-src 'self'" in client.get("/").headers["content-security-policy"]
        played = client.get(f"/video/{late.photo_id}", headers={"Range": "bytes=0-99"})
        assert played.status_code == 206 and played.content == video.read_bytes()[:100]
        assert client.get(f"/video/{still.photo_id}").status_code == 404  # a photo is not served as video
        frame = client.get(f"/frame/{late.id}.jpg")
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        crop = client.get(f"/crop/{late.id}.jpg?size=96")
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        # the crop is the face: the fake face's colours fill its middle
        middle = np.asarray(Image.open(io.BytesIO(crop.content)))[40:56, 40:56].astype(float)
        assert abs(middle[..., 1].mean() - GREEN) < 20 and abs(middle[..., 2].mean() - BLUE) < 20


def test_tracks_seen_together_are_never_one_person_and_tracks_apart_may_be(tmp_path: Path) -> None:
    from tests.fakes import draw_photo

    photos = tmp_path / "in"
    for i in range(3):
        draw_photo(photos / f"p{i}.png", [1], size=(320, 240), face_px=90)
    two = canvas([(fake_face(1), 40, 100), (fake_face(1), 400, 100)], (640, 360))
    one = canvas([(fake_face(1), 250, 120)], (640, 360), bg=(20, 20, 60))
    frames = [(i / 5, two if i < 20 else one) for i in range(40)]  # together 0-4 s, then (a cut) alone
    encode(photos / "twins.mkv", frames, codec="ffv1")
    with Library(tmp_path / "lib", settings=FAKE_SETTINGS) as lib:
        lib.scan(photos)
        tracks = sorted((f for f in lib.faces() if f.span), key=lambda f: (f.span.t_start, f.box.left))
        spans = [(f.span.t_start, f.span.t_end) for f in tracks if f.span]
        assert len(spans) == 3 and spans[0] == spans[1] and spans[0][0] == 0
        assert spans[0][1] < 4 <= spans[2][0]
        people = {f.person_id for f in tracks[:2]}
        assert len(people) == 2  # seen together: never one person (one may stay alone, unassigned)
        assert tracks[2].person_id is not None and tracks[2].person_id in people  # later: one of them


def test_a_track_never_spans_two_videos_but_their_faces_join_one_person(tmp_path: Path) -> None:
    photos = tmp_path / "in"
    for name in ("morning.mkv", "evening.mkv"):  # the same person, the same place, two files
        fake_video(photos / name, 4)
    with Library(tmp_path / "lib", settings=FAKE_SETTINGS) as lib:
        lib.scan(photos)
        faces = [f for f in lib.faces() if f.span]
    by_video = sorted((Path(f.photo).name, f.span.t_start) for f in faces if f.span and f.span.t_start == 0)
    assert by_video == [("evening.mkv", 0.0), ("morning.mkv", 0.0)]  # one track in each file
    assert len({f.person_id for f in faces if f.span and f.span.t_start == 0} - {None}) == 1
