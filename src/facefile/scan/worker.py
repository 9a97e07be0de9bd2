"""The scan's worker side: one photo in, a :class:`PhotoResult` out.

Runs in pool processes (or in the scanning process with one worker). It
decodes the photo, reads its named face regions (embedded XMP and sidecars),
analyses its faces and settles which face each name belongs to; it never
touches the library, which the main process writes one photo at a time.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from facefile.analyze.analyzer import FaceAnalyzer
from facefile.errors import MediaError
from facefile.media.capture import library_output
from facefile.media.files import display_path, load_image
from facefile.media.raw import is_raw, raw_orientation
from facefile.media.video import VideoConfig
from facefile.metadata.match import match_regions, region_boxes
from facefile.metadata.regions import Region
from facefile.metadata.sidecars import read_photo_regions, sidecar_signature
from facefile.scan.video_worker import analyze_video
from facefile.types import BBox, PhotoResult


@dataclass(frozen=True)
class Job:
    """One photo to analyse.

    ``keep_boxes``: faces the library already has there (kept when a new
    model no longer finds them; see ``FaceAnalyzer.analyze``);
    ``read_metadata``: read its face regions; ``twins``: RAW files shot with
    it, whose sidecars count as its own; ``is_video``: a video, analysed by
    :func:`facefile.scan.video_worker.analyze_video` (tracks, no metadata).
    """

    path: bytes
    keep_boxes: tuple[BBox, ...] = ()
    read_metadata: bool = True
    twins: tuple[bytes, ...] = ()
    is_video: bool = False


_ANALYZER: FaceAnalyzer | None = None
_MAX_MP: float = 200.0
_MAX_SECONDS: float = 0.0
_VIDEO = VideoConfig()


class _PhotoTimeout(BaseException):
    """Raised by the alarm in a worker; a BaseException so no handler swallows it."""


def init_worker(
    analyzer: FaceAnalyzer, max_megapixels: float, max_seconds: float = 0.0, video: VideoConfig | None = None
) -> None:
    global _ANALYZER, _MAX_MP, _MAX_SECONDS, _VIDEO
    _ANALYZER = analyzer
    _MAX_MP = max_megapixels
    _MAX_SECONDS = max_seconds
    _VIDEO = video or VideoConfig()


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_PhotoTimeout` in this thread after ``seconds`` (0: no limit).

    A hostile file must not stall a scan. The alarm interrupts Python code
    and Pillow's decode loop between chunks; it needs the main thread, so
    elsewhere (a scan run from a web server's thread) there is no limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _PhotoTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def analyze(job: Job) -> tuple[bytes, PhotoResult]:
    """Decode and analyse one photo; every file-level failure becomes ``error``."""
    assert _ANALYZER is not None
    path = job.path
    display = display_path(path)
    if job.is_video:
        return path, _analyze_video(path, display)
    try:
        with _time_limit(_MAX_SECONDS):
            try:
                image = load_image(path, _MAX_MP)
            except MediaError as exc:
                return path, PhotoResult(path=display, error=exc.reason)
            height, width = image.shape[:2]
            regions: list[Region] = []
            problems: list[tuple[str, str]] = []
            sidecars = None
            if job.read_metadata:
                # Pillow warns about damaged EXIF it reads around ("Corrupt EXIF data");
                # what matters reaches the user as the photo's metadata problems
                with library_output():
                    regions, problems, sidecars = _read_regions(job, width, height)
            try:
                faces = _ANALYZER.analyze(image, job.keep_boxes, region_boxes(regions, width, height))
            except (RuntimeError, ValueError, MemoryError) as exc:  # a model refusing odd pixels
                return path, PhotoResult(path=display, error=f"face analysis failed ({exc})")
    except _PhotoTimeout:
        reason = (
            f"took longer than {_MAX_SECONDS:g} s to decode and analyse "
            "(raise scan.max_seconds_per_photo to allow more)"
        )
        return path, PhotoResult(path=display, error=reason)
    result = PhotoResult(path=display, width=width, height=height, faces=tuple(faces))
    if not job.read_metadata:
        return path, result
    metadata = match_regions(
        display,
        regions,
        width,
        height,
        [f.detection.box for f in faces],
        [f.detection.detector for f in faces],
        sidecars=sidecars,
        problems=problems,
    )
    return path, replace(result, metadata=metadata)


def _analyze_video(path: bytes, display: str) -> PhotoResult:
    """One video, under a hard time limit well past ``video.max_seconds`` (a decoder that hangs)."""
    assert _ANALYZER is not None
    limit = 2 * _VIDEO.max_seconds + 60 if _VIDEO.max_seconds > 0 else 0.0
    try:
        with _time_limit(limit):
            return analyze_video(path, _ANALYZER, _VIDEO)
    except _PhotoTimeout:
        reason = f"took longer than {limit:g} s to decode and analyse (raise video.max_seconds to allow more)"
        return PhotoResult(path=display, error=reason)


def _read_regions(job: Job, width: int, height: int) -> tuple[list[Region], list[tuple[str, str]], str]:
    """The named face regions of the photo and of its twins' sidecars, the problems met, the sidecar state."""
    orientation = photo_orientation(job.path)
    regions: list[Region] = []
    problems: list[tuple[str, str]] = []
    for i, file in enumerate((job.path, *job.twins)):
        found = read_photo_regions(
            file, orientation=orientation, displayed_size=(width, height), use_embedded=i == 0
        )
        regions += found.regions
        problems += found.problems
    return regions, problems, photo_sidecars(job.path, job.twins)


def photo_sidecars(path: bytes, twins: tuple[bytes, ...] = ()) -> str:
    """The sidecar state of a photo and its twins ('' when none has a sidecar)."""
    return "|".join(s for s in (sidecar_signature(p) for p in (path, *twins)) if s)


def photo_orientation(path: bytes) -> int:
    """The photo's EXIF orientation, 1..8 (1 where there is none or it cannot be read).

    For a RAW file, the orientation LibRaw turns it by: the frame its faces
    were found in (Pillow reads no orientation from most RAW formats).
    """
    from PIL import Image

    if is_raw(os.fsdecode(path)):
        try:
            return raw_orientation(path)
        except MediaError:
            return 1
    try:
        with Image.open(os.fsdecode(path)) as im:
            value = int(im.getexif().get(0x0112, 1))
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1
    return value if 1 <= value <= 8 else 1
