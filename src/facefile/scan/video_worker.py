"""The scan's worker side for a video: sampled frames -> faces -> tracks -> one face per appearance.

Runs where photos are analysed (:mod:`facefile.scan.worker`), with the same
analyser. Boxes come back in the video's full displayed pixels (frames are
analysed reduced, :mod:`facefile.media.video`), each face carrying its
:class:`~facefile.types.VideoSpan`. The video file is only read.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from facefile.analyze.analyzer import KEYPOINT_DETECTOR, FaceAnalyzer
from facefile.analyze.tracks import MeasureFn, SampleFaces, View, link_tracks, track_face
from facefile.detect import create_detector
from facefile.detect.blazeface import BlazeFaceDetector
from facefile.errors import MediaError
from facefile.media.files import display_path
from facefile.media.video import Sample, SampleLog, VideoConfig, probe, sample_frames
from facefile.types import BBox, Detection, FaceResult, PhotoResult, RGBImage


def analyze_video(path: bytes, analyzer: FaceAnalyzer, config: VideoConfig) -> PhotoResult:
    """Every appearance of a face in one video, as a :class:`PhotoResult` of kind video.

    File-level failures become ``error`` (one line); a video cut short by
    ``config.max_seconds`` or by damage keeps what was found, with a ``note``.
    """
    display = display_path(path)
    log = SampleLog()
    analyzer = _for_frames(analyzer)
    others = [v for v in analyzer.config.views if v != "full"]
    try:
        info = probe(path)
        tracks = link_tracks(
            _sampled_faces(path, analyzer, config, log),
            link_distance=config.link_distance,
            jump_distance=config.jump_distance,
            max_gap_seconds=config.max_gap_seconds,
            embed=lambda chips: analyzer.embed_chips(chips, exclude=others),  # linking needs "full" only
        )
        faces = tuple(track_face(tr, config.descriptor, analyzer.embed_chips) for tr in tracks)
    except MediaError as exc:
        return PhotoResult(path=display, error=exc.reason)
    except (RuntimeError, ValueError, MemoryError) as exc:  # a model refusing odd pixels
        return PhotoResult(path=display, error=f"face analysis failed ({exc})")
    note = None
    if log.stopped_at is not None:
        note = (
            f"video analysed up to {log.stopped_at:.0f} s of {info.duration_s:.0f} s within "
            f"video.max_seconds={config.max_seconds:g} (raise it to analyse the rest)"
        )
    elif log.damaged_at is not None:
        note = f"video damaged at {log.damaged_at:.1f} s; the faces before it are kept"
    return PhotoResult(
        path=display,
        width=info.width,
        height=info.height,
        faces=faces,
        duration_s=info.duration_s,
        note=note,
    )


_FOR_FRAMES: weakref.WeakKeyDictionary[FaceAnalyzer, FaceAnalyzer] = weakref.WeakKeyDictionary()


def _for_frames(analyzer: FaceAnalyzer) -> FaceAnalyzer:
    """The analyser for video frames, made once per analyser (it shares the loaded embedder).

    Its BlazeFace runs without the portrait pass, without tiles, and shrinks
    before letterboxing, for both the whole-frame look (on the decoder's
    192-px preview) and the second look at each face. The whole-frame look
    runs the full-range model alone: on 150 lfw-dev faces pasted into
    1280x720 frames at 15-100% of the frame's height it found every face the
    short- and full-range pair found (101, 150, 150, 150, 150), for 1.8 ms a
    frame less. The portrait pass
    (the short-range model on the image inside a larger black square) finds
    faces that fill a photo; a video frame is wider than a face is tall, so
    its plain letterboxed pass finds even a face that fills the frame's
    height (checked on close-ups of the astronaut at 16:9, 1:1 and 9:16). It
    was half of the detector's time on a frame. Tiles: the frames were 960
    px before, too small for any, so the faces found are the same.
    """
    if analyzer.config.detector != "blazeface":
        return analyzer
    if analyzer not in _FOR_FRAMES:
        _FOR_FRAMES[analyzer] = analyzer.with_detectors(
            create_detector(
                "blazeface", models=("full",), portrait_margin=1.0, tile_px=0, is_shrunk_first=True
            ),
            keypoints=create_detector("blazeface", **KEYPOINT_DETECTOR, is_shrunk_first=True),
        )
    return _FOR_FRAMES[analyzer]


def _sampled_faces(
    path: bytes, analyzer: FaceAnalyzer, config: VideoConfig, log: SampleLog
) -> Iterator[SampleFaces]:
    """The faces of each sample, detected; the tracker measures and embeds only where it must."""
    # BlazeFace sees a whole frame at 192 px: the decoder gives it that small (cheaper than shrinking
    # the frame afterwards); keypoints, chips and quality come from the full frame
    preview_px = analyzer.detector.input_px if isinstance(analyzer.detector, BlazeFaceDetector) else 0
    for sample in sample_frames(path, config, log, preview_px=preview_px):
        views = [
            View(
                sample.t,
                None,
                detection=_scaled_detection(d, sample.scale),
                measure=_measurer(analyzer, sample, d),
            )
            for d in analyzer.detect(sample.image, sample.preview)
        ]
        yield SampleFaces(sample.t, views, sample.is_cut)


def _measurer(analyzer: FaceAnalyzer, sample: Sample, det: Detection) -> MeasureFn:
    def measure() -> tuple[FaceResult, RGBImage]:
        face, chip = analyzer.measure(sample.image, det)
        return _scaled(face, sample.scale), chip

    return measure


def _scaled_detection(det: Detection, factor: float) -> Detection:
    """``det`` in pixels ``factor`` times larger (the video's full size)."""
    if factor == 1.0:
        return det
    b = det.box
    return replace(
        det,
        box=BBox(b.left * factor, b.top * factor, b.right * factor, b.bottom * factor),
        keypoints=tuple((x * factor, y * factor) for x, y in det.keypoints),
    )


def _scaled(face: FaceResult, factor: float) -> FaceResult:
    """``face`` in pixels ``factor`` times larger (the video's full size)."""
    if factor == 1.0:
        return face
    det = _scaled_detection(face.detection, factor)
    landmarks = (np.asarray(face.landmarks, dtype=np.float32) * np.float32(factor)).astype(np.float32)
    quality = replace(face.quality, size_px=face.quality.size_px * factor)
    return replace(face, detection=det, landmarks=landmarks, quality=quality)
