"""Per-photo analysis: detect, align, score and embed every face.

This is the one entry point other stages use::

    analyzer = FaceAnalyzer(AnalyzeConfig())
    faces = analyzer.analyze(rgb)          # list[FaceResult]

Detection may run on a resized copy (big photos are shrunk to
``max_detect_px``, small ones enlarged so small faces are found); boxes are
mapped back and landmarks, chips, quality and embeddings use the original
pixels. Models load on first use, and a :class:`FaceAnalyzer` pickles without
them, so it can be sent to process-pool workers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facefile.align.keypoints import KeypointAligner
from facefile.analyze.facelike import nonface_direction, nonface_similarity
from facefile.analyze.quality import face_quality
from facefile.detect import DETECTORS, create_detector
from facefile.embed import EMBEDDERS, create_embedder, model_id
from facefile.errors import ConfigError
from facefile.registry import Registry
from facefile.types import MATCH_IOU, BBox, Detection, FaceResult, RGBImage, match_boxes, region_fit

ChipView = Callable[[RGBImage], RGBImage]
"""A view: aligned chip in, chip of the same shape out, applied before embedding."""

VIEWS: Registry[ChipView] = Registry("view", "views")
"""Named chip transforms; ``VIEWS.create(name)`` returns the transform."""

VIEW_GREY = 128
CROP_GREY = 128
"""Grey of the border a tight face crop gets before a second look (:func:`frame`)."""
MIRROR_SUFFIX = "+mirror"
"""Added to the model id of descriptors averaged with their mirror image
(``analyze.mirror``). A face's plain and mirror-averaged MobileFaceNet
descriptors lie about 0.06 apart (median; 0.09-0.12 for the farthest 5%, a
fifth of the linking bar), so a library switched either way is analysed
again, as after a change of model, instead of mixing the two kinds."""
UPPER_CUT = {"keypoints": 0.62, "dlib": 0.5}
"""Where the upper view's grey starts, as a share of the chip's height, per
chip geometry: just above the nose tip (ArcFace chips: eyes at 0.47, nose
tip at 0.66; dlib chips: eyes at 0.31, nose tip at 0.52)."""

KEYPOINT_DETECTOR: dict[str, Any] = {
    "models": ("short",),
    "min_score": 0.3,
    "tile_px": 0,
    "portrait_margin": 1.0,
}
"""BlazeFace's settings for the second look at one face (``refine_keypoints``): its portrait model alone."""


def full_view(chip: RGBImage) -> RGBImage:
    """The whole aligned face."""
    return chip


def upper_view(chip: RGBImage, cut: float = 0.5) -> RGBImage:
    """Eyes and brows only: the chip below ``cut`` of its height becomes flat grey.

    For faces behind masks or scarves; compare only with other ``"upper"``
    descriptors.
    """
    out = chip.copy()
    out[round(chip.shape[0] * cut) :] = VIEW_GREY
    return out


VIEWS.register("full", lambda **_: full_view)
VIEWS.register("upper", lambda cut=0.5: partial(upper_view, cut=cut))


@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of :class:`FaceAnalyzer`; checked by :meth:`validate`.

    Attributes:
        detector: name in ``facefile.detect.DETECTORS``.
        max_detect_px: longest side the detector sees; bigger photos are
            shrunk for detection only (faces below about
            ``min_face_px * longest / max_detect_px`` original pixels may then be missed).
        small_image_px: photos whose longest side is below this are enlarged
            2x for detection, so small faces in small images are found.
        min_face_px: faces smaller than this (``BBox.size_px``, original pixels)
            are dropped; their descriptors are too unreliable to group.
        upsample: dlib HOG/CNN pyramid upsampling (1 finds ~40 px faces in the
            detector's image, 0 ~80 px but 4x faster); the dlib detectors only.
        embedder: name in ``facefile.embed.EMBEDDERS``, or ``onnx:PATH``.
        refine_keypoints: take each face's keypoints from a second detector
            pass over the face alone, at full resolution (sharper alignment).
        views: embedding views per face, names in :data:`VIEWS`; ``"full"``
            must be first.
        crop_margin: a photo that is a tight face crop (a face comes near
            its edge) is analysed again inside a grey border this many times the
            face's size wide, so keypoints and chips are right; 0 turns it off.
        mirror: each descriptor averages the face's and its mirror image's
            (twice the embedding time; its own model id, :data:`MIRROR_SUFFIX`).
    """

    detector: str = "blazeface"
    max_detect_px: int = 1600
    small_image_px: int = 200
    min_face_px: int = 20
    upsample: int = 1
    embedder: str = "mobilefacenet"
    refine_keypoints: bool = True
    views: tuple[str, ...] = ("full", "upper")
    crop_margin: float = 0.5
    mirror: bool = False

    @property
    def model_id(self) -> str:
        """The model id vectors are stored under: :attr:`embedder`'s, from the embedder
        registry (no model is loaded), plus :data:`MIRROR_SUFFIX` with :attr:`mirror`.

        Raises:
            ConfigError, UnknownBackendError: as :meth:`validate`.
        """
        return model_id(self.validate().embedder) + (MIRROR_SUFFIX if self.mirror else "")

    def validate(self) -> AnalyzeConfig:
        """Check every setting; return ``self``.

        Raises:
            ConfigError: naming the bad key, its value and the fix.
            UnknownBackendError: unknown detector, embedder or view name.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int",) and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"analyze.{f.name}={value!r} must be an integer.")
        if self.detector not in DETECTORS.names():
            DETECTORS.create(self.detector)  # raises UnknownBackendError listing names
        if not EMBEDDERS.knows(self.embedder):
            EMBEDDERS.create(self.embedder)
        if not 160 <= self.max_detect_px <= 8000:
            raise ConfigError(
                f"analyze.max_detect_px={self.max_detect_px} is out of range; use 160..8000 "
                "(1600 is a good laptop default)."
            )
        if not 0 <= self.small_image_px <= self.max_detect_px:
            raise ConfigError(
                f"analyze.small_image_px={self.small_image_px} must be 0..max_detect_px "
                f"({self.max_detect_px}); use 0 to never enlarge."
            )
        if not 8 <= self.min_face_px <= 1000:
            raise ConfigError(
                f"analyze.min_face_px={self.min_face_px} is out of range; use 8..1000 (20 default)."
            )
        if not isinstance(self.crop_margin, int | float) or not 0.0 <= self.crop_margin <= 2.0:
            raise ConfigError(
                f"analyze.crop_margin={self.crop_margin!r} is out of range; "
                "use 0..2 (0.5 default, 0 turns it off)."
            )
        if not 0 <= self.upsample <= 3:
            raise ConfigError(f"analyze.upsample={self.upsample} is out of range; use 0..3.")
        if isinstance(self.views, str) or not self.views or self.views[0] != "full":
            raise ConfigError(
                f"analyze.views={self.views!r} must be a tuple starting with 'full', e.g. ('full', 'upper')."
            )
        if len(set(self.views)) != len(self.views):
            raise ConfigError(f"analyze.views={self.views!r} repeats a view; list each once.")
        for v in self.views:
            VIEWS.create(v)
        return self


class FaceAnalyzer:
    """Detects, aligns, scores and embeds the faces of one photo at a time.

    Construction only validates the config; models load on the first
    :meth:`analyze`. Pickling drops loaded models (they reload in the worker).
    """

    def __init__(self, config: AnalyzeConfig | None = None) -> None:
        self.config = (config or AnalyzeConfig()).validate()
        det_kw: dict[str, Any] = {}
        if self.config.detector in ("dlib_hog", "dlib_cnn", "cascade"):
            det_kw["upsample"] = self.config.upsample
        self.detector = create_detector(self.config.detector, **det_kw)
        # keypoints from a face alone: BlazeFace's portrait model, which ships with facefile
        self._keypoints = create_detector("blazeface", **KEYPOINT_DETECTOR)
        self.embedder = create_embedder(self.config.embedder)
        self.aligner = _aligner_for(self.embedder)
        cut = UPPER_CUT.get(getattr(self.embedder, "alignment", "dlib"), 0.5)
        self._views = {v: VIEWS.create(v, cut=cut) for v in self.config.views}
        self._nonface: NDArray[np.float64] | None = None  # the embedder's non-face direction, on first use

    def with_detectors(self, detector: Any, keypoints: Any | None = None) -> FaceAnalyzer:
        """A copy that finds faces with ``detector`` (and refines keypoints with ``keypoints``).

        The copy shares this analyser's embedder and aligner (loaded models
        included); for images unlike photos, e.g. video frames.
        """
        other = copy.copy(self)
        other.detector = detector
        if keypoints is not None:
            other._keypoints = keypoints
        return other

    @property
    def model_id(self) -> str:
        """The model id vectors are stored under, e.g. ``"mobilefacenet_192d_v1"``
        (:attr:`AnalyzeConfig.model_id`)."""
        return self.embedder.model_id + (MIRROR_SUFFIX if self.config.mirror else "")

    def detection_scale(self, width: int, height: int) -> float:
        """Factor from original pixels to the pixels the detector sees."""
        longest = max(width, height)
        if longest > self.config.max_detect_px:
            return self.config.max_detect_px / longest
        if 0 < longest < self.config.small_image_px:
            return 2.0
        return 1.0

    def detect(self, image: RGBImage, preview: RGBImage | None = None) -> list[Detection]:
        """Faces of ``image`` in original pixel coordinates, best first.

        Faces smaller than ``min_face_px`` are dropped.

        Args:
            image: RGB ``uint8 (h, w, 3)``.
            preview: a smaller copy of ``image`` (same picture and aspect),
                detected in as it is instead of ``image``: a video frame the
                decoder also gave at the detector's input size.
        """
        h, w = image.shape[:2]
        scale = self.detection_scale(w, h)
        if preview is not None:
            ph, pw = preview.shape[:2]
            dets = [_rescale(d, w / pw, h / ph, w, h) for d in self.detector.detect(preview)]
        elif scale == 1.0:
            dets = self.detector.detect(image)
        else:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
            fx, fy = w / size[0], h / size[1]
            dets = [_rescale(d, fx, fy, w, h) for d in self.detector.detect(small)]
        return [d for d in dets if d.box.size_px >= self.config.min_face_px]

    def analyze(
        self, image: RGBImage, keep_boxes: Sequence[BBox] = (), region_boxes: Sequence[BBox] = ()
    ) -> list[FaceResult]:
        """Everything about each face of one photo.

        Args:
            image: RGB ``uint8 (h, w, 3)``, EXIF-oriented.
            keep_boxes: faces that must come back even where the detector no
                longer finds them (a library's faces when it changes model):
                each box that no detection takes (``facefile.types.match_boxes``)
                is analysed as a face of its own, after the detections.
            region_boxes: named face regions from the photo's metadata; each
                that no face so far fits (``facefile.types.region_fit``) is
                analysed as a face of its own (detector ``"metadata"``), last.

        Returns:
            One :class:`FaceResult` per face, best detection first; ``embeddings``
            maps each configured view to ``float32 (dim,)``.

        Raises:
            ValueError: ``image`` is not an RGB ``uint8 (h, w, 3)`` array.
        """
        image = _check_image(image)
        dets = self.detect(image)
        margin = self.crop_margin_px(image, dets)
        if not margin:
            return self._analyze_framed(image, dets, keep_boxes, region_boxes)
        # a tight crop: look again with a grey border, then map every face back
        h, w = image.shape[:2]
        framed = frame(image, margin)
        again = self.detect(framed)
        if len(again) < len(dets):  # the border cost faces (a crowd at the edge): keep the first look
            return self._analyze_framed(image, dets, keep_boxes, region_boxes)
        faces = self._analyze_framed(
            framed,
            again,
            [_shift_box(b, margin) for b in keep_boxes],
            [_shift_box(b, margin) for b in region_boxes],
        )
        return [_unframe(f, margin, w, h) for f in faces]

    def crop_margin_px(self, image: RGBImage, dets: Sequence[Detection]) -> int:
        """Grey border, in pixels per side, that a tight face crop needs; 0 for other photos.

        A photo is taken for a tight crop (an export from another tool, an ID
        photo, a web thumbnail) when a face found in it comes near its edge
        (:data:`EDGE_GROW`). Faces that fill the frame lose their brow, chin
        or ears to the edge: the detector places keypoints badly and the
        aligned chip fills with black where the photo ends. A photo where
        nothing is found gets no second look: in small photos of pets, food
        and objects, a bordered copy shows the detector more false faces
        (31 in 384 face-free photos) than it recovers crops (17 of 1,010
        in rmfrd-dev, half of them hardly face-like).

        Args:
            image: RGB ``uint8 (h, w, 3)``.
            dets: the faces found in it, original pixels.

        Returns:
            ``crop_margin`` times the biggest such face's side, rounded; 0
            when the photo is not a crop or ``crop_margin`` is 0.
        """
        h, w = image.shape[:2]
        if self.config.crop_margin <= 0:
            return 0
        edge = [d.box for d in dets if _touches_edge(d.box, w, h)]
        if not edge:
            return 0
        return max(1, round(self.config.crop_margin * max(max(b.width, b.height) for b in edge)))

    def _analyze_framed(
        self, image: RGBImage, dets: list[Detection], keep_boxes: Sequence[BBox], region_boxes: Sequence[BBox]
    ) -> list[FaceResult]:
        """:meth:`analyze` after detection, all in pixels of ``image``."""
        if self.config.refine_keypoints:
            dets = [self._refine(image, d) for d in dets]
        # one detection takes one old face's place (as Store.save_photo pairs them); the rest stay
        taken = set(match_boxes(list(keep_boxes), [d.box for d in dets]).values())
        for i, box in enumerate(keep_boxes):
            if i not in taken:
                found = self._look_again(image, box)
                dets.append(replace(found or Detection(box, 0.0, ""), box=box, detector="kept"))
        for box in region_boxes:
            if not any(region_fit(box, d.box) > 0 for d in dets):
                found = self._look_again(image, box)
                dets.append(replace(found or Detection(box, 0.0, ""), box=box, detector="metadata"))
        if not dets:
            return []
        aligned = [self.aligner.align(image, d) for d in dets]
        vectors, nonface = self._embed([a.chip for a in aligned])
        return [
            FaceResult(
                detection=d,
                landmarks=a.landmarks,
                quality=face_quality(d.box.size_px, a.quality_chip, d.score, a.eyes_nose, nonface[i]),
                embeddings={v: vectors[v][i] for v in self._views},
            )
            for i, (d, a) in enumerate(zip(dets, aligned, strict=True))
        ]

    def examine(self, image: RGBImage) -> list[tuple[FaceResult, RGBImage]]:
        """Each detected face measured but not embedded, with its aligned chip.

        For callers that embed only some faces (a video's tracks,
        :mod:`facefile.analyze.tracks`): :meth:`embed_chips` takes the chips.

        Returns:
            ``(FaceResult with no embeddings, chip uint8 (s, s, 3))`` per face, best first.
        """
        image = _check_image(image)
        return [self.measure(image, d) for d in self.detect(image)]

    def measure(self, image: RGBImage, det: Detection) -> tuple[FaceResult, RGBImage]:
        """One face of ``image`` measured but not embedded (:meth:`examine` of one detection).

        Args:
            image: RGB ``uint8 (h, w, 3)``, contiguous (as :meth:`detect` took it).
            det: a detection of :meth:`detect` in ``image``'s pixels.

        Returns:
            ``(FaceResult with no embeddings, chip uint8 (s, s, 3))``; the
            keypoints refined when ``refine_keypoints`` is on.
        """
        if self.config.refine_keypoints:
            det = self._refine(image, det)
        a = self.aligner.align(image, det)
        quality = face_quality(det.box.size_px, a.quality_chip, det.score, a.eyes_nose)
        return FaceResult(detection=det, landmarks=a.landmarks, quality=quality), a.chip

    def _refine(self, image: RGBImage, det: Detection) -> Detection:
        """``det`` with keypoints from a second look at its face alone, at full resolution.

        The first pass sees a whole (often shrunk) photo, where a face may
        span a few dozen of the model's pixels; its keypoints then miss by
        several original pixels, and alignment with them. The box stays.
        """
        if not det.keypoints:
            return det
        found = self._look_again(image, det.box)
        return replace(det, keypoints=found.keypoints) if found and found.keypoints else det

    def _look_again(self, image: RGBImage, box: BBox) -> Detection | None:
        """BlazeFace's best detection overlapping ``box`` in the area around it, or ``None``."""
        h, w = image.shape[:2]
        grown = box.scaled_about_centre(2.0).clipped(w, h)
        x0, y0 = int(grown.left), int(grown.top)
        crop = np.ascontiguousarray(image[y0 : int(np.ceil(grown.bottom)), x0 : int(np.ceil(grown.right))])
        best: Detection | None = None
        if crop.shape[0] >= 16 and crop.shape[1] >= 16:
            for d in self._keypoints.detect(crop):
                d = _rescale(d, 1.0, 1.0, w, h, x0, y0)
                if d.box.iou(box) >= MATCH_IOU and (best is None or d.score > best.score):
                    best = d
        return best

    def embed_chips(
        self, chips: Sequence[RGBImage], exclude: Sequence[str] = ()
    ) -> dict[str, NDArray[np.float32]]:
        """Descriptors of aligned chips for every configured view, one batch.

        With ``mirror``, each descriptor is the mean of the chip's and its
        mirror image's, at the embedder's length.

        Args:
            chips: aligned chips, RGB ``uint8 (s, s, 3)``.
            exclude: views not to compute (their descriptors already known).

        Returns:
            view name -> ``float32 (len(chips), dim)``, for each configured view not excluded.
        """
        return self._embed(chips, exclude)[0]

    def _embed(
        self, chips: Sequence[RGBImage], exclude: Sequence[str] = ()
    ) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float32]]:
        """:meth:`embed_chips`, and each full descriptor's similarity to no face (NaN if not measured)."""
        names = [v for v in self._views if v not in exclude]
        batch = [self._views[v](c) for v in names for c in chips]
        n, n_views = len(chips), len(names)
        if not names:
            return {}, np.full(n, np.nan, np.float32)
        if self.config.mirror:
            batch += [np.ascontiguousarray(c[:, ::-1]) for c in batch]
        vecs = self.embedder.embed(batch)
        if self.config.mirror:
            vecs = _mean_direction(vecs[: n * n_views], vecs[n * n_views :])
        views = {v: vecs[i * n : (i + 1) * n] for i, v in enumerate(names)}
        if (
            getattr(self.embedder, "alignment", "dlib") != "keypoints" or "full" not in views
        ):  # measured on ArcFace-style models only
            return views, np.full(n, np.nan, np.float32)
        if self._nonface is None:
            self._nonface = nonface_direction(self.embedder.embed, self.embedder.chip_size)
        return views, nonface_similarity(views["full"], self._nonface)


def _mean_direction(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Row-wise mean of two sets of descriptors, at the length of ``a``'s rows."""
    mean = a + b
    length = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean * (np.linalg.norm(a, axis=1, keepdims=True) / np.maximum(length, 1e-12))).astype(np.float32)


def _aligner_for(embedder: Any) -> Any:
    """The aligner that cuts the chips ``embedder`` was trained on."""
    if getattr(embedder, "alignment", "keypoints") == "dlib":
        from facefile.align.dlib import DlibAligner

        return DlibAligner(chip_size=embedder.chip_size, padding=embedder.chip_padding)
    return KeypointAligner(chip_size=embedder.chip_size)


def _rescale(
    d: Detection, fx: float, fy: float, w: int, h: int, dx: float = 0.0, dy: float = 0.0
) -> Detection:
    b = d.box
    box = BBox(b.left * fx + dx, b.top * fy + dy, b.right * fx + dx, b.bottom * fy + dy).clipped(w, h)
    kps = tuple((x * fx + dx, y * fy + dy) for x, y in d.keypoints)
    return replace(d, box=box, keypoints=kps)


EDGE_PX = 1.0
"""A box within this many pixels of a photo's edge touches it (boxes are clipped to the photo)."""
EDGE_GROW = 1.5
"""A face counts as touching the edge when its box grown this much about its
centre does: the aligned chip reaches about that far, and where it passes the
edge it would show black (on rmfrd-dev's crops, BCubed F 0.392 against 0.378
when only boxes that touch the edge count)."""


def _touches_edge(box: BBox, width: int, height: int) -> bool:
    box = box.scaled_about_centre(EDGE_GROW)
    return (
        box.left <= EDGE_PX
        or box.top <= EDGE_PX
        or box.right >= width - EDGE_PX
        or box.bottom >= height - EDGE_PX
    )


def frame(image: RGBImage, margin: int) -> RGBImage:
    """``image`` inside a flat grey border ``margin`` pixels wide on every side.

    Returns:
        RGB ``uint8 (h + 2 margin, w + 2 margin, 3)``.
    """
    return np.pad(image, ((margin, margin), (margin, margin), (0, 0)), constant_values=CROP_GREY)


def _shift_box(box: BBox, d: float) -> BBox:
    return BBox(box.left + d, box.top + d, box.right + d, box.bottom + d)


def _unframe(face: FaceResult, margin: int, width: int, height: int) -> FaceResult:
    """A face analysed in a framed photo, in the original photo's pixels.

    The box is clipped to the photo (crops, XMP regions and the web show
    what is in the file); keypoints and landmarks may lie outside it.
    """
    det = face.detection
    kps = tuple((x - margin, y - margin) for x, y in det.keypoints)
    box = _shift_box(det.box, -margin).clipped(width, height)
    return replace(
        face,
        detection=replace(det, box=box, keypoints=kps),
        landmarks=(face.landmarks - np.float32(margin)).astype(np.float32),
    )


def _check_image(image: Any) -> RGBImage:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(
            f"image of shape {arr.shape} {arr.dtype}; FaceAnalyzer needs RGB uint8 (h, w, 3) "
            "(convert with facefile.media.files or PIL .convert('RGB'))."
        )
    return np.ascontiguousarray(arr)
