"""Test videos, encoded with PyAV from pictures: H.264 (lossy, as cameras write) or FFV1 (lossless)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from facefile.types import RGBImage
from tests.fakes import BLUE, GREEN, identity_red


def encode(
    path: Path,
    frames: Sequence[tuple[float, RGBImage]],
    *,
    codec: str = "libx264",
    rotation: int = 0,
    gop_s: float = 1.0,
    is_reordered: bool = False,
) -> Path:
    """Write ``(seconds, picture)`` frames as a video; times may be irregular (variable frame rate).

    Args:
        rotation: display matrix rotation, FFmpeg's counter-clockwise degrees
            (a phone held upright stores its frames turned and writes -90).
        gop_s: seconds between keyframes (phones: about 1).
        is_reordered: H.264 with B-frames (stored out of display order, as
            many cameras write; a decoder reads ahead to reorder them);
            regular frame times only.
    """
    import av

    h, w = frames[0][1].shape[:2]
    tb = Fraction(1, 1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = w, h
        stream.time_base = tb
        stream.codec_context.time_base = tb
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        stream.codec_context.gop_size = max(1, round(gop_s * 25))
        if codec == "libx264" and not is_reordered:
            stream.options = {"bf": "0"}  # frames keep their own times, irregular ones too
        if rotation:
            stream.set_display_rotation(rotation)
        for t, picture in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = round(t * 1000)
            frame.time_base = tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def steady(picture: RGBImage, start: float, seconds: float, fps: float = 25) -> list[tuple[float, RGBImage]]:
    """``picture`` held for ``seconds`` from ``start`` at ``fps``."""
    n = round(seconds * fps)
    return [(start + i / fps, picture) for i in range(n)]


def canvas(
    faces: Sequence[tuple[RGBImage, int, int]],
    size: tuple[int, int] = (960, 540),
    bg: tuple[int, int, int] = (90, 110, 100),
) -> RGBImage:
    """A frame of colour ``bg`` with each picture pasted at ``(left, top)``."""
    w, h = size
    out = np.zeros((h, w, 3), dtype=np.uint8)
    out[..., 0], out[..., 1], out[..., 2] = bg
    for picture, left, top in faces:
        ph, pw = picture.shape[:2]
        out[top : top + ph, left : left + pw] = picture
    return out


def lfw_face(path: Path, px: int = 300) -> RGBImage:
    """The centre of an LFW photo (its labelled face, without background faces), ``px`` square."""
    with Image.open(path) as im:
        im = im.convert("RGB").crop((50, 40, 200, 210))
        im = im.resize((px * 150 // 170, px), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def fake_face(k: int, px: int = 90) -> np.ndarray:
    """A face of person ``k`` for the fake detector and embedder (tests.fakes), ``px`` square."""
    yy, xx = np.mgrid[0:px, 0:px]
    out = np.empty((px, px, 3), dtype=np.uint8)
    out[..., 0] = identity_red(k) + np.where((yy // 6 + xx // 6) % 2 == 0, -3, 3)
    out[..., 1], out[..., 2] = GREEN, BLUE
    return out


def fake_video(path: Path, seconds: int, *, first: int = 1) -> Path:
    """Lossless video of fake faces (tests.fakes): person ``first`` throughout, person 2 from 3 s to 7 s."""
    frames = []
    for i in range(seconds * 5):
        t = i / 5
        faces = [(fake_face(first), 40 + i, 100)] + ([(fake_face(2), 400, 150)] if 3 <= t < 7 else [])
        frames.append((t, canvas(faces, (640, 360))))
    return encode(path, frames, codec="ffv1")
