"""Video analysis speed: how many times faster than real time, and peak memory.

Test videos are encoded here with PyAV (H.264, 30 fps, a keyframe a second as
phones write them) from the labelled faces: four people at a quarter of the
frame's height, two always on screen and moving, the others coming and going
every five seconds, on a textured background. They are cached under
``~/.cache/facefile/bench/video`` (encoding a 1080p minute takes minutes).

Each video is analysed by :func:`facefile.scan.video_worker.analyze_video`
at the default settings in a fresh process, as a scan's worker would: wall
time, CPU time, peak resident memory of that process, samples and faces.
The models are loaded and warmed first by two samples of the video, not
timed: what a worker loads once, for its first video (PyAV, SciPy, the
frame detector), is not counted against every video.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "facefile" / "bench" / "video"
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}
FPS = 30

_CHILD = """
import json, resource, sys, time
import numpy as np
from facefile.analyze.analyzer import FaceAnalyzer
from facefile.media.video import VideoConfig
from facefile.scan.video_worker import analyze_video
analyzer = FaceAnalyzer()
analyzer.analyze(np.zeros((480, 640, 3), dtype=np.uint8))  # load the models
analyzer.embed_chips([np.zeros((112, 112, 3), dtype=np.uint8)])
# a worker that has analysed a video before: PyAV, the frame detector and SciPy loaded (once per worker)
analyze_video(sys.argv[1].encode(), analyzer, VideoConfig(max_samples=2))
wall, cpu = time.perf_counter(), time.process_time()
result = analyze_video(sys.argv[1].encode(), analyzer, VideoConfig())
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
boxes = [[f.span.t_frame, *f.detection.box.center] for f in result.faces]
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "duration_s": result.duration_s, "boxes": boxes,
                  "faces": len(result.faces), "error": result.error, "peak_mb": peak_mb}))
"""


def _faces(photos: list[Path], px: int) -> list[np.ndarray]:
    out = []
    for path in photos:
        with Image.open(path) as im:
            im = im.convert("RGB").crop((50, 40, 200, 210))
            out.append(np.asarray(im.resize((px * 150 // 170, px), Image.Resampling.BILINEAR)))
    return out


def make_video(path: Path, photos: list[Path], size: tuple[int, int], seconds: int) -> Path:
    """Encode the test video (see the module docstring) unless it is cached."""
    import av

    if path.is_file():
        return path
    w, h = size
    faces = _faces(photos, h // 4)
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, size=(h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = FPS
        stream.options = {"preset": "veryfast"}
        for i in range(seconds * FPS):
            t = i / FPS
            img = background.copy()
            for k, face in enumerate(faces):
                if _is_on(k, t):
                    x, y = _place(k, t, w, h, face.shape[1])
                    img[y : y + face.shape[0], x : x + face.shape[1]] = face
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path


def _is_on(k: int, t: float) -> bool:
    """Whether person ``k`` is on screen at ``t`` s: 0 and 1 always, 2 and 3 five seconds in twenty."""
    return k < 2 or (t // 5) % 4 == k


def _place(k: int, t: float, w: int, h: int, face_w: int) -> tuple[int, int]:
    """Top left corner of person ``k``'s photo at ``t`` s (person 0 wraps round the edges)."""
    return int((k * w // 4 + 40 * np.sin(t + k)) % (w - face_w)), h // 3 + int(30 * np.cos(t * 0.7 + k))


def appearances(size: tuple[int, int], seconds: int) -> list[tuple[int, float, float]]:
    """``(person, start s, end s)`` of each time a person is on screen in the test video."""
    out = []
    for k in range(4):
        start = None
        for i in range(seconds * FPS + 1):
            t = i / FPS
            on = i < seconds * FPS and _is_on(k, t)
            if on and start is None:
                start = t
            elif not on and start is not None:
                out.append((k, start, t))
                start = None
    return out


def score_faces(faces: list[list[float]], size: tuple[int, int], seconds: int) -> dict[str, int]:
    """How the faces found match the people on screen.

    A face (``[t_frame, centre x, centre y]``, full-size pixels) is on an
    appearance when it was taken during it and its centre lies on that
    person's photo in that frame.

    Returns:
        ``appearances``: how many there are; ``found``: how many have a
        face; ``extra``: faces beyond the first on an appearance (a track
        broken in two, or a second box on one photo); ``stray``: faces on
        no one.
    """
    w, h = size
    face_h = h // 4
    face_w = face_h * 150 // 170
    shown = appearances(size, seconds)
    hits = [0] * len(shown)
    stray = 0
    for t, cx, cy in faces:
        on = [
            a for a, (k, t0, t1) in enumerate(shown)
            if t0 <= t < t1 and _inside(_place(k, round(t * FPS) / FPS, w, h, face_w), face_w, face_h, cx, cy)
        ]  # fmt: skip
        for a in on[:1]:
            hits[a] += 1
        stray += not on
    return {
        "appearances": len(shown),
        "found": sum(1 for n in hits if n),
        "extra": sum(max(0, n - 1) for n in hits),
        "stray": stray,
    }


def _inside(corner: tuple[int, int], face_w: int, face_h: int, cx: float, cy: float) -> bool:
    return corner[0] <= cx < corner[0] + face_w and corner[1] <= cy < corner[1] + face_h


def measure(path: Path, processes: int = 1) -> dict[str, Any]:
    """Analyse the video in ``processes`` fresh processes at once (a scan's workers, one video each).

    Returns:
        The first process's timings and peak memory; ``x_realtime``: video
        seconds analysed per second of wall time, all processes together.
    """
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]  # fmt: skip
    rows = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"video analysis failed: {err[-2000:]}")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    row = dict(rows[0])
    row["cpu_s_max"] = max(r["cpu_s"] for r in rows)
    wall = max(r["wall_s"] for r in rows)
    row["processes"] = processes
    row["x_realtime"] = sum(r["duration_s"] for r in rows) / wall if wall else 0.0
    # what the work costs, whatever else runs on the machine: video seconds per CPU second
    row["x_realtime_cpu"] = row["duration_s"] / row["cpu_s"] if row["cpu_s"] else 0.0
    return row


def run_video(photos: list[Path], seconds: int, sizes: list[str]) -> list[dict[str, Any]]:
    """Rows of ``{size, processes, duration_s, wall_s, cpu_s, x_realtime, x_realtime_by_cpu, peak_mb, ...}``.

    ``x_realtime_by_cpu``: video seconds per second on ``processes`` free
    cores, from the slowest process's CPU time (the wall clock's
    ``x_realtime`` counts what else the machine runs); ``appearances``,
    ``found``, ``extra``, ``stray``: :func:`score_faces`.

    Per size: one video alone (one core), then two at once (two cores).
    """
    rows = []
    for name in sizes:
        size = SIZES[name]
        path = make_video(CACHE / f"faces-{name}-{seconds}s.mp4", photos, size, seconds)
        for processes in (1, 2):
            row = measure(path, processes)
            row.update(score_faces(row.pop("boxes"), size, seconds))
            # on free cores, one video per core: what the CPU time allows, whatever the machine's load
            row["x_realtime_by_cpu"] = (
                processes * row["duration_s"] / row["cpu_s_max"] if row["cpu_s_max"] else 0.0
            )
            rows.append({"size": name, "file_mb": path.stat().st_size / 1e6, **row})
    return rows


def load_average() -> float:
    """The 1-minute load average (other people's work on a shared machine shows here)."""
    return os.getloadavg()[0]


def descriptor_choice(lfw: Path, n_people: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """Which track descriptor groups better: the best view, or the mean of the best three.

    For each of ``n_people`` lfw-dev people with at least six photos, three
    photos stand for three views of one track (a track's views differ less
    than three photos do, so this favours neither choice less than video
    does); the other photos of all the people form the gallery. Per choice:
    rank-1 identification (the nearest gallery face is the same person), and
    the mean margin between the nearest other person and the person's own
    nearest gallery face (larger: further from being confused).
    """
    from facefile.analyze.analyzer import FaceAnalyzer
    from facefile.analyze.tracks import Track, View, track_face
    from facefile.media.files import load_image

    analyzer = FaceAnalyzer()
    people = sorted(d for d in lfw.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 6)
    rng = np.random.default_rng(seed)
    chosen = [
        people[i] for i in sorted(rng.choice(len(people), size=min(n_people, len(people)), replace=False))
    ]

    def central(path: Path) -> tuple[Any, Any] | None:
        found = analyzer.examine(load_image(path))
        if not found:
            return None
        return min(
            found,
            key=lambda fc: (
                abs(fc[0].detection.box.center[0] - 125) + abs(fc[0].detection.box.center[1] - 125)
            ),
        )

    tracks: dict[str, Track] = {}
    gallery: list[tuple[str, np.ndarray]] = []
    for person in chosen:
        files = sorted(person.glob("*.jpg"))[:8]
        views = [v for v in (central(p) for p in files[:3]) if v is not None]
        tracks[person.name] = Track([View(float(i), face, chip) for i, (face, chip) in enumerate(views)])
        for p in files[3:]:
            found = central(p)
            if found is not None:
                gallery.append((person.name, analyzer.embed_chips([found[1]])["full"][0]))
    names = [g[0] for g in gallery]
    vectors = np.stack([g[1] for g in gallery])
    rows = []
    for choice in ("best", "mean"):
        hits, margins = 0, []
        for name, track in tracks.items():
            if not track.views:
                continue
            vec = track_face(track, choice, analyzer.embed_chips).embeddings["full"]
            d = np.linalg.norm(vectors - vec, axis=1)
            own = np.array([n == name for n in names])
            hits += int(names[int(np.argmin(d))] == name)
            if own.any() and (~own).any():
                margins.append(float(d[~own].min() - d[own].min()))
        rows.append(
            {"descriptor": choice, "people": len(tracks), "rank1": hits / max(len(tracks), 1),
             "mean_margin": float(np.mean(margins)) if margins else 0.0}
        )  # fmt: skip
    return rows
