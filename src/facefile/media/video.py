"""Videos: open one, and sample frames in their displayed orientation at a reduced size.

Decoding is PyAV's (the ``av`` wheel, which bundles FFmpeg: H.264, HEVC, VP9
and AV1 among others). Frames are sampled, never all decoded:

* keyframes first: a keyframe costs one decode, any other frame the decode of
  every frame since its keyframe, so a sample due at ``t`` takes the keyframe
  before ``t`` when that keyframe is new since the last sample;
* about one sample every ``video.sample_seconds``; longer videos are spread
  over at most ``video.max_samples`` samples;
* more at scene cuts: when two samples in a row look unalike (a cut, or the
  camera swung), the moment between them is sampled too, and the sample after
  is marked ``is_cut`` so no face track runs across it;
* every frame is turned as its display matrix says (phones store portrait
  videos as landscape frames plus a rotation), so boxes are in the frame the
  user sees, and reduced so its longest side is at most ``video.frame_px``
  (and, for the detector, to a small ``preview``);
* a keyframe the container's index promises is decoded alone (its packet,
  then the decoder drained), not with the frames a decoder reads ahead.

Times are the frames' own timestamps (seconds from the first frame), so
variable frame rates need nothing special. A file that is not a video, holds
no video track, or whose codec this FFmpeg lacks raises
:class:`~facefile.errors.MediaError` with one line; a video damaged partway
gives the frames before the damage.
"""

from __future__ import annotations

import bisect
import functools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from facefile.errors import ConfigError, MediaError
from facefile.media.raw import check_file
from facefile.types import RGBImage

VIDEO_EXTENSIONS = frozenset(
    {
        ".mov", ".mp4", ".m4v", ".avi", ".mkv", ".3gp", ".3g2", ".mts", ".m2ts", ".wmv",
        ".webm", ".mpg", ".mpeg",
    }
)  # fmt: skip
"""Extensions read as videos (lower case)."""

_KEY_SLACK = 0.05
"""Seconds by which an indexed keyframe time (a decode time) may precede its display time."""
CUT_CHANGE = 0.18
"""Mean absolute change of a 16x16 grey thumbnail (0-1) that marks a scene cut."""
_THUMB = 16


@dataclass(frozen=True)
class VideoConfig:
    """Settings of video scanning.

    Attributes:
        is_enabled: read videos at all; off, a scan counts them as not read
            (``--no-videos`` turns them off for one scan).
        sample_seconds: about one frame is analysed every this many seconds.
        max_samples: at most this many frames of one video are analysed; a
            longer video is sampled more sparsely (a two-hour video at 300:
            one frame every 24 s).
        max_seconds: time for one video's decoding and analysis; past it, the
            rest of the video is not sampled (the faces found so far are kept
            and the scan says so). 0: no limit.
        frame_px: frames are decoded at most this long (longest side;
            smaller ones, 1080p included, as they are): keypoints, chips and
            quality come from them. Faces are found in a copy the decoder
            shrinks to the detector's input (192 px for BlazeFace), so faces
            under about 1/20 of the frame's longest side (about 96 px in
            1080p, 64 in 720p) are not found, nor ones under
            ``analyze.min_face_px`` at this size.
        link_distance: descriptor distance up to which a face in the next
            sample, overlapping the track's last box, continues that track.
        jump_distance: distance up to which a face anywhere in the frame
            continues a track (someone who moved far between samples).
        max_gap_seconds: a track whose face is unseen for longer ends.
        descriptor: a track's descriptor: ``"mean"`` of its best views
            (the three of highest quality), or the ``"best"`` view alone.
    """

    is_enabled: bool = True
    sample_seconds: float = 1.0
    max_samples: int = 300
    max_seconds: float = 120.0
    frame_px: int = 1920
    link_distance: float = 0.62
    jump_distance: float = 0.45
    max_gap_seconds: float = 3.0
    descriptor: str = "mean"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ConfigError(f"video.{f.name}={value!r} must be a number.")
        if not 0.1 <= self.sample_seconds <= 600:
            raise ConfigError(f"video.sample_seconds={self.sample_seconds} is out of range; use 0.1..600.")
        if not 1 <= self.max_samples <= 100_000:
            raise ConfigError(f"video.max_samples={self.max_samples} is out of range; use 1..100000.")
        if self.max_seconds < 0:
            raise ConfigError(f"video.max_seconds={self.max_seconds} must be >= 0 (0: no limit).")
        if not 160 <= self.frame_px <= 4096:
            raise ConfigError(f"video.frame_px={self.frame_px} is out of range; use 160..4096.")
        if self.descriptor not in ("mean", "best"):
            raise ConfigError(f"video.descriptor={self.descriptor!r} must be 'mean' or 'best'.")


@dataclass(frozen=True)
class VideoInfo:
    """A video as displayed: full size after rotation, in pixels; duration in seconds."""

    width: int
    height: int
    duration_s: float
    rotation: int = 0
    """Degrees the stored frames are turned clockwise for display: 0, 90, 180 or 270."""


@dataclass(frozen=True)
class Sample:
    """One analysed moment of a video.

    ``image`` is RGB ``uint8 (h, w, 3)`` in the displayed orientation, its
    longest side at most ``frame_px``; ``scale`` takes its pixels to the
    video's full displayed size; ``t`` is seconds from the first frame;
    ``is_cut``: the picture changed wholly since the previous sample;
    ``preview``: the same picture with its longest side at most the
    ``preview_px`` asked of :func:`sample_frames` (for a detector that sees
    whole frames that small), or ``None``.
    """

    t: float
    image: RGBImage
    scale: float
    is_cut: bool = False
    preview: RGBImage | None = None


@dataclass
class SampleLog:
    """What sampling did, for the scan's report: samples taken, and whether time ran out at ``stopped_at``."""

    samples: int = 0
    stopped_at: float | None = None
    damaged_at: float | None = None


def is_video_name(path: str | bytes) -> bool:
    """Whether a file name has a video extension."""
    name = os.fsdecode(path)
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


@functools.cache
def has_decoder() -> bool:
    """Whether PyAV is installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _open(path: str | bytes, *, is_sampling: bool = False) -> tuple[Any, Any, str]:
    """``(container, video stream, display path)``; raises MediaError with one line.

    ``is_sampling``: frames for the detector, not for people's eyes: the
    decoder skips its deblocking filter (15% less CPU a 1080p H.264 keyframe;
    the frames are shrunk anyway).
    """
    import av

    display = check_file(os.fsdecode(path))
    try:
        container = av.open(os.fsdecode(path), metadata_errors="ignore")
    except PermissionError:
        raise MediaError(display, "permission denied (check the file's read access)") from None
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(display, f"not a video, or a damaged one ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(display, "no video track (audio only, or not a video)")
    stream = container.streams.video[0]
    try:
        ctx = stream.codec_context
    except (av.FFmpegError, ValueError) as exc:
        container.close()
        raise MediaError(display, f"no decoder for this video's codec ({_short(exc)})") from None
    if ctx is None or not ctx.width or not ctx.height:
        container.close()
        name = getattr(getattr(stream, "codec", None), "name", None) or "unknown"
        raise MediaError(display, f"no decoder for this video's codec ({name}) in this FFmpeg")
    # slice threads only: frame threads make the decoder run several frames ahead of a seek,
    # decoding frames no sample uses (about 25% more CPU per sample on 1080p H.264)
    ctx.thread_type = "SLICE"
    if is_sampling:
        ctx.options = {"skip_loop_filter": "all"}  # a generic decoder option; codecs without one ignore it
    return container, stream, display


def _rotation(frame: Any) -> int:
    """Clockwise degrees that display ``frame`` upright, from its display matrix (FFmpeg's rule)."""
    try:
        ccw = float(frame.rotation)
    except (AttributeError, TypeError, ValueError):
        return 0
    return round(-ccw / 90.0) % 4 * 90


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return max(0.0, float(stream.duration * stream.time_base))
    if container.duration is not None:
        return max(0.0, container.duration / 1_000_000)
    return 0.0


def probe(path: str | bytes) -> VideoInfo:
    """Size as displayed, duration and rotation of a video, from its first frame.

    Raises:
        MediaError: not a readable video.
    """
    container, stream, display = _open(path, is_sampling=True)
    with container:
        frame = _first_keyframe_alone(container, stream)
        if frame is None:
            container.seek(0, stream=stream, backward=True, any_frame=False)  # the decoder afresh
            frame = _first_frame(container, stream, display)
        w, h = _display_size(frame, stream)
        rot = _rotation(frame)
        if rot in (90, 270):
            w, h = h, w
        return VideoInfo(w, h, _duration(container, stream), rot)


def _first_keyframe_alone(container: Any, stream: Any) -> Any | None:
    """The first frame, when the first packet is a keyframe: decoded alone (see ``_Reader._keyframe_alone``).

    ``None`` when it is not, or cannot be decoded alone; the decoder is
    then drained and must be sought before decoding on.
    """
    import av

    try:
        packet = next((p for p in container.demux(stream) if p.size), None)
        if packet is None or not packet.is_keyframe:
            return None
        ctx = stream.codec_context
        frames = [*ctx.decode(packet), *ctx.decode(None)]
    except (av.FFmpegError, ValueError, MemoryError):
        return None
    return frames[0] if frames else None


def _first_frame(container: Any, stream: Any, display: str) -> Any:
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, ValueError, MemoryError) as exc:
        raise MediaError(display, f"damaged video, no frame could be decoded ({_short(exc)})") from None
    raise MediaError(display, "video without any frame (empty or truncated)")


def _display_size(frame: Any, stream: Any) -> tuple[int, int]:
    """Width and height before rotation, with non-square pixels made square."""
    w, h = int(frame.width), int(frame.height)
    sar = stream.sample_aspect_ratio
    if sar is not None and sar.numerator > 0 and sar.denominator > 0 and sar != 1:
        w = max(1, round(w * float(sar)))
    return w, h


def _pixels(frame: Any, stream: Any, frame_px: int, is_preview: bool = False) -> tuple[RGBImage, float]:
    """The frame upright as RGB with its longest side at most ``frame_px``, and the factor to full size.

    ``is_preview``: a small copy for a detector, shrunk by area averaging
    (the decoder's scaler does it for about a millisecond; shrinking the
    full-size RGB frame afterwards costs several).
    """
    w, h = _display_size(frame, stream)
    scale = min(1.0, frame_px / max(w, h))
    tw, th = max(2, round(w * scale)), max(2, round(h * scale))
    if is_preview:
        arr = frame.to_ndarray(format="rgb24", width=tw, height=th, interpolation="AREA")
    else:
        arr = frame.to_ndarray(format="rgb24", width=tw, height=th)
    rot = _rotation(frame)
    if rot:
        arr = np.rot90(arr, k=-(rot // 90))  # numpy turns counter-clockwise
    return np.ascontiguousarray(arr, dtype=np.uint8), max(w, h) / max(tw, th)


def frame_at(path: str | bytes, t: float, frame_px: int = 4096) -> tuple[RGBImage, float]:
    """The frame shown at ``t`` seconds, upright, and the factor from its pixels to full size.

    For crops: a face's box is in the video's full displayed pixels.

    Raises:
        MediaError: not a readable video, or no frame there.
    """
    import av

    container, stream, display = _open(path)
    with container:
        reader = _Reader(container, stream)
        try:
            frame = reader.at(t, accept_key_after=float("inf"))
        except (av.FFmpegError, ValueError, MemoryError) as exc:
            raise MediaError(display, f"damaged video near {t:.1f} s ({_short(exc)})") from None
        if frame is None:
            frame = _first_frame(container, stream, display) if t <= 0 else None
        if frame is None:
            raise MediaError(display, f"no frame at {t:.1f} s (the video is shorter now)")
        return _pixels(frame, stream, frame_px)


class _Reader:
    """Frames by time: seeks to the keyframe before a time, decodes forward only as far as needed."""

    def __init__(self, container: Any, stream: Any) -> None:
        self.container = container
        self.stream = stream
        self.frames: Iterator[Any] | None = None
        self.pos: float | None = None  # time of the last frame decoded
        self.key: float | None = None  # time of the keyframe the decoder started from
        self.start = stream.start_time or 0
        self.tb = stream.time_base
        self.keys = _keyframe_times(stream, self.start)
        """Keyframe times from the container's index (decode times: a frame or two early); [] if none."""
        self.is_gop_long = False  # no index, and a seek forward landed on the keyframe already decoded
        self.is_keyframe_alone = bool(self.keys)
        """Decode a keyframe the index promises alone (:meth:`_keyframe_alone`)."""

    def _time(self, frame: Any) -> float:
        pts = frame.pts if frame.pts is not None else frame.dts
        return float((pts - self.start) * self.tb) if pts is not None else 0.0

    def _next(self) -> Any | None:
        assert self.frames is not None
        frame = next(self.frames, None)
        if frame is not None:
            self.pos = self._time(frame)
        return frame

    def at(self, t: float, accept_key_after: float) -> Any | None:
        """The frame to analyse for time ``t``; ``None`` past the end.

        The keyframe before ``t`` if it is after ``accept_key_after`` (one
        decode), else the first frame at or after ``t``.
        """
        eps = 1e-3
        if self.frames is None or self.pos is None or t < self.pos - eps:
            if self.is_keyframe_alone and self._indexed_key_after(t, accept_key_after):
                frame = self._keyframe_alone(t)
                if (
                    frame is not None
                    and self.pos is not None
                    and (self.pos > accept_key_after or self.pos >= t - eps)
                ):
                    self.key = self.pos
                    return frame
            self._seek(t)
            frame = self._next()
            if frame is None:
                return None
            self.key = self.pos
            if self.pos is not None and (self.pos > accept_key_after or self.pos >= t - eps):
                return frame
        elif self.pos >= t - eps:
            # the frame decoded last is already past t (sparse timestamps): decode the next one
            return self._next()
        else:
            # ahead of us: a seek costs one keyframe's decode, and pays only when a keyframe
            # lies between (else it lands on the keyframe already decoded, and decodes it all again)
            if self._key_between(self.pos, t):
                return self._seek_then(t, accept_key_after)
        while (frame := self._next()) is not None:
            if self.pos is not None and self.pos >= t - eps:
                return frame
        return None

    def _indexed_key_after(self, t: float, after: float) -> bool:
        """Whether the index puts the keyframe before ``t`` after ``after`` (so it will be taken)."""
        i = bisect.bisect_right(self.keys, t + _KEY_SLACK) - 1
        return i >= 0 and self.keys[i] + 3 * _KEY_SLACK > after

    def _keyframe_alone(self, t: float) -> Any | None:
        """The keyframe before ``t``, its packet decoded alone, then the decoder drained.

        Fed packet by packet, a decoder holds frames back to reorder them
        (H.264 with B-frames: two more frames decoded before the keyframe
        comes out); draining it after the one packet gives the keyframe
        for one decode. The decoder must be sought again afterwards
        (``frames`` is left ``None``). ``None`` when the seek did not land
        on a keyframe.
        """
        self._seek(t)
        self.frames = None
        packet = next((p for p in self.container.demux(self.stream) if p.size), None)
        if packet is None or not packet.is_keyframe:
            return None
        ctx = self.stream.codec_context
        frames = [*ctx.decode(packet), *ctx.decode(None)]
        if not frames:
            return None
        self.pos = self._time(frames[0])
        return frames[0]

    def _key_between(self, a: float, b: float) -> bool:
        if self.keys:
            i = bisect.bisect_right(self.keys, a + _KEY_SLACK)
            return i < len(self.keys) and self.keys[i] <= b + _KEY_SLACK
        return b - a > (10.0 if self.is_gop_long else 0.5)

    def _seek_then(self, t: float, accept_key_after: float) -> Any | None:
        before = self.key
        self.frames = None
        frame = self.at(t, accept_key_after)
        if not self.keys and before is not None and self.key == before:
            self.is_gop_long = True
        return frame

    def _seek(self, t: float) -> None:
        if self.keys:
            # land on the keyframe the index puts before t, even where its display time is a
            # frame or two later than its decode time
            i = bisect.bisect_right(self.keys, t + _KEY_SLACK) - 1
            if i >= 0:
                t = max(t, self.keys[i] + 3 * _KEY_SLACK)
        target = int(t / self.tb) + self.start if self.tb else 0
        self.container.seek(max(target, self.start), stream=self.stream, backward=True, any_frame=False)
        self.frames = iter(self.container.decode(self.stream))
        self.pos = None


def _keyframe_times(stream: Any, start: int) -> list[float]:
    """Seconds of the keyframes the container indexes (MP4, MOV, Matroska cues), sorted; [] if none."""
    try:
        entries = stream.index_entries
        times = [float((e.timestamp - start) * stream.time_base) for e in entries if e.is_keyframe]
    except (AttributeError, TypeError, ValueError):
        return []
    return sorted(times) if len(times) > 1 else []


def _thumb(image: RGBImage) -> np.ndarray:
    """A 16x16 grey thumbnail in [0, 1], for telling scene cuts."""
    h, w = image.shape[:2]
    ys = (np.arange(_THUMB) * h // _THUMB)[:, None]
    xs = (np.arange(_THUMB) * w // _THUMB)[None, :]
    # block means would be steadier, but a 16x16 point grid of a 960-px frame is enough for cuts
    grey = image[ys, xs].astype(np.float32).mean(axis=2) / 255.0
    return grey


def sample_frames(
    path: str | bytes, config: VideoConfig, log: SampleLog | None = None, preview_px: int = 0
) -> Iterator[Sample]:
    """Frames of a video to analyse, in time order (see the module docstring).

    Args:
        path: the video file.
        config: sampling settings.
        log: filled with what sampling did (time running out, damage met).
        preview_px: each sample also gets a ``preview`` this long (0: none).

    Yields:
        :class:`Sample`, each at most ``config.frame_px`` on its longest side.

    Raises:
        MediaError: not a readable video (no frame could be decoded at all).
    """
    import av

    log = log if log is not None else SampleLog()
    container, stream, display = _open(path, is_sampling=True)
    deadline = time.monotonic() + config.max_seconds if config.max_seconds > 0 else None
    with container:
        duration = _duration(container, stream)
        step = max(config.sample_seconds, duration / config.max_samples)
        reader = _Reader(container, stream)
        last_t: float | None = None
        last_thumb: np.ndarray | None = None
        t = 0.0
        taken = 0
        while taken < config.max_samples:
            if deadline is not None and time.monotonic() > deadline:
                log.stopped_at = t
                break
            accept = last_t + step / 2 if last_t is not None else -1.0
            try:
                frame = reader.at(t, accept_key_after=accept)
            except (av.FFmpegError, ValueError, MemoryError, OSError) as exc:
                if taken == 0:
                    reason = f"damaged video, no frame could be decoded ({_short(exc)})"
                    raise MediaError(display, reason) from None
                log.damaged_at = t
                break
            if frame is None:
                break
            ft = reader.pos if reader.pos is not None else t
            if last_t is not None and ft <= last_t + 1e-3:
                t += step  # the same frame again (a long GOP, sparse timestamps)
                continue
            image, scale = _pixels(frame, stream, config.frame_px)
            preview = _pixels(frame, stream, preview_px, is_preview=True)[0] if preview_px else None
            thumb = _thumb(image)
            is_cut = last_thumb is not None and float(np.abs(thumb - last_thumb).mean()) > CUT_CHANGE
            if is_cut and last_t is not None and ft - last_t > 0.5 and taken + 1 < config.max_samples:
                # more at scene cuts: the moment between, so a short shot is not missed
                mid = _between(container, stream, last_t, ft, config.frame_px, preview_px)
                if mid is not None:
                    mid_image, mid_t, mid_preview = mid
                    mid_thumb = _thumb(mid_image)
                    mid_cut = float(np.abs(mid_thumb - last_thumb).mean()) > CUT_CHANGE
                    yield Sample(mid_t, mid_image, scale, mid_cut, mid_preview)
                    taken += 1
                    is_cut = float(np.abs(thumb - mid_thumb).mean()) > CUT_CHANGE
                reader.frames = None  # the decoder moved: seek again next time
            yield Sample(ft, image, scale, is_cut, preview)
            taken += 1
            last_t, last_thumb = ft, thumb
            t = max(t + step, ft + step / 2)
        log.samples = taken


def _between(
    container: Any, stream: Any, t0: float, t1: float, frame_px: int, preview_px: int
) -> tuple[RGBImage, float, RGBImage | None] | None:
    """A frame halfway between ``t0`` and ``t1`` (the keyframe before, when it lies between them).

    Returns:
        ``(image, t, preview or None)``, or ``None`` when no frame lies between.
    """
    import av

    reader = _Reader(container, stream)
    mid = (t0 + t1) / 2
    try:
        frame = reader.at(mid, accept_key_after=t0 + 1e-3)
    except (av.FFmpegError, ValueError, MemoryError):
        return None
    if frame is None or reader.pos is None or not t0 < reader.pos < t1:
        return None
    image, _ = _pixels(frame, stream, frame_px)
    preview = _pixels(frame, stream, preview_px, is_preview=True)[0] if preview_px else None
    return image, reader.pos, preview


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
