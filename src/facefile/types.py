"""Data that crosses a stage boundary.

Vocabulary (fixed across the code base):

* a *photo* is one image file;
* a *face* is one detection in one photo, or one track in one video (one
  person's appearance, :class:`VideoSpan`); a video is stored as a photo of
  kind ``"video"``;
* a *cluster* is raw output inside the grouping stage;
* a *person* is what the user sees, names and corrects.

Image arrays are RGB ``uint8`` of shape ``(height, width, 3)`` in the
EXIF-oriented frame. Coordinates are pixels of that frame, ``x`` to the right,
``y`` down, as floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

RGBImage = NDArray[np.uint8]
"""An RGB image, ``uint8``, shape ``(height, width, 3)``."""


@dataclass(frozen=True)
class BBox:
    """An axis-aligned box in pixels: ``left <= right``, ``top <= bottom``."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def size_px(self) -> float:
        """Side of the square with the same area: the face size users think in."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def scaled_about_centre(self, factor: float) -> BBox:
        """The box grown (or shrunk) by ``factor`` around its centre."""
        cx, cy = self.center
        hw, hh = self.width * factor / 2.0, self.height * factor / 2.0
        return BBox(cx - hw, cy - hh, cx + hw, cy + hh)

    def scaled(self, factor: float) -> BBox:
        """The same box in an image resized by ``factor``."""
        return BBox(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor)

    def clipped(self, width: int, height: int) -> BBox:
        return BBox(
            min(max(self.left, 0.0), width),
            min(max(self.top, 0.0), height),
            min(max(self.right, 0.0), width),
            min(max(self.bottom, 0.0), height),
        )

    def iou(self, other: BBox) -> float:
        ix = max(0.0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0.0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0

    def to_list(self) -> list[float]:
        """``[left, top, right, bottom]``, the order of ``faces --json``."""
        return [self.left, self.top, self.right, self.bottom]


MATCH_IOU = 0.3
"""Box overlap at which a face analysed anew takes an old face's place."""


def match_boxes(old: list[BBox], new: list[BBox]) -> dict[int, int]:
    """Pair new boxes with old ones by overlap, best overlaps first.

    Returns:
        ``{new index: old index}`` for pairs with IoU >= :data:`MATCH_IOU`;
        each old and each new box is used at most once.
    """
    pairs = sorted(((o.iou(n), i, j) for i, o in enumerate(old) for j, n in enumerate(new)), reverse=True)
    out: dict[int, int] = {}
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i not in used and j not in out:
            out[j] = i
            used.add(i)
    return out


def region_fit(region: BBox, face: BBox) -> float:
    """How well a face region from metadata fits a detected face; 0 when it does not.

    The rule: the boxes overlap by IoU >= :data:`MATCH_IOU`, or each box's
    centre lies inside the other (programs draw regions tighter or looser
    than facefile's detector: Picasa tight, Windows Photo Gallery loose).
    The value is the IoU (a tiny positive number for a centre-only fit),
    so of two faces the better-overlapping one wins.
    """
    iou = region.iou(face)
    if iou >= MATCH_IOU:
        return iou
    if _inside(region.center, face) and _inside(face.center, region):
        return max(iou, 1e-6)
    return 0.0


def _inside(point: tuple[float, float], box: BBox) -> bool:
    return box.left <= point[0] <= box.right and box.top <= point[1] <= box.bottom


@dataclass(frozen=True)
class Detection:
    """One face found by a detector.

    ``keypoints`` are detector-specific landmark points ``(x, y)`` in image
    pixels (BlazeFace: right eye, left eye, nose tip, mouth, right ear, left
    ear; dlib: none). ``score`` is in ``[0, 1]``.
    """

    box: BBox
    score: float
    detector: str
    keypoints: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class AlignedFace:
    """A face chip cut from the original pixels, ready for an embedder.

    ``chip`` is ``uint8 (size, size, 3)`` in the embedder's geometry;
    ``landmarks`` are the points used for alignment, ``(n, 2)`` float32 in
    image pixels; ``quality_chip`` is ``uint8 (150, 150, 3)`` in dlib's chip
    geometry, where :mod:`facefile.analyze.quality` measures; ``eyes_nose`` is
    ``float32 (3, 2)``: the eye on the image's left, the eye on its right and
    the nose, in image pixels (for the head's yaw).
    """

    chip: RGBImage
    landmarks: NDArray[np.float32]
    quality_chip: RGBImage
    eyes_nose: NDArray[np.float32]


@dataclass(frozen=True)
class FaceQuality:
    """Measures that decide how far a face can be trusted.

    ``size_px``: face size in original pixels; ``sharpness``: variance of the
    Laplacian of the grey chip (higher is sharper); ``det_score``: detector
    score in ``[0, 1]``; ``yaw``: head turn from landmarks, ``-1`` (left
    profile) to ``1`` (right profile), 0 frontal; ``score``: a combined
    quality in ``[0, 1]`` (lowered by occlusion, and to 0 for what looks like no face). ``occlusion_lower``,
    ``occlusion_eyes``, ``occlusion_side``: how likely, in ``[0, 1]``, a mask
    or scarf, dark glasses, or a cover over one half hides that part of the
    face; ``nonface``: how close the descriptor is to what the embedder
    gives things that are not faces (cosine, NaN when not measured; see
    :mod:`facefile.analyze.facelike`). Only ``score`` is stored.
    """

    size_px: float
    sharpness: float
    det_score: float
    yaw: float
    score: float
    occlusion_lower: float = 0.0
    occlusion_eyes: float = 0.0
    occlusion_side: float = 0.0
    nonface: float = float("nan")


@dataclass(frozen=True)
class VideoSpan:
    """When a face of a video is seen: seconds from the video's first frame.

    ``t_start`` and ``t_end`` bound the samples its track was seen in;
    ``t_frame`` is the frame its box, crop and measures come from.
    """

    t_start: float
    t_end: float
    t_frame: float

    @property
    def label(self) -> str:
        """``"0:03-0:07"``: when the face is seen, as a video player shows times."""
        return f"{clock(self.t_start)}-{clock(self.t_end)}"

    def to_dict(self) -> dict[str, float]:
        return {
            "t_start": round(self.t_start, 3),
            "t_end": round(self.t_end, 3),
            "t_frame": round(self.t_frame, 3),
        }


@dataclass(frozen=True)
class FaceResult:
    """Everything the pipeline learned about one face, before it is stored."""

    detection: Detection
    landmarks: NDArray[np.float32]
    quality: FaceQuality
    embeddings: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    """Embedding per *view* (``"full"`` is the whole aligned face)."""
    span: VideoSpan | None = None
    """For a face of a video (one track): when it is seen; ``None`` in a photo."""


@dataclass(frozen=True)
class NameClaim:
    """A name that a photo's metadata gives one of its faces: the user's word, from another program.

    ``box`` is the face's box as analysed (so the store finds the face it
    saved); ``source`` is the file the name was read from.
    """

    name: str
    box: BBox
    source: str


@dataclass(frozen=True)
class PhotoMetadata:
    """What a photo's face regions (embedded XMP and sidecars) said, matched to its faces.

    ``sidecars`` is the sidecar state read (``None``: metadata was not read,
    ``""``: no sidecar); ``problems`` are ``(file, reason)`` for metadata
    skipped; ``conflicts`` are sentences for names that were not applied.
    """

    sidecars: str | None = None
    regions_read: int = 0
    regions_matched: int = 0
    regions_added: int = 0
    claims: tuple[NameClaim, ...] = ()
    conflicts: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PhotoResult:
    """Outcome of processing one photo file."""

    path: str
    width: int = 0
    height: int = 0
    faces: tuple[FaceResult, ...] = ()
    error: str | None = None
    metadata: PhotoMetadata = field(default_factory=PhotoMetadata)
    duration_s: float | None = None
    """A video's length in seconds; ``None`` for a photo."""
    note: str | None = None
    """A remark that is not a failure (a video sampled only in part), shown as a problem line."""


@dataclass(frozen=True)
class Person:
    """A person as the user sees it."""

    id: int
    name: str | None
    is_hidden: bool
    n_faces: int
    n_photos: int
    cover_face_id: int | None = None
    n_confirmed: int = 0
    """Faces whose place here is the user's word (named, moved or merged here)."""

    @property
    def key(self) -> str:
        """The id users type: ``person-0007``."""
        return person_key(self.id)

    @property
    def label(self) -> str:
        return self.name or self.key


@dataclass(frozen=True)
class Face:
    """A stored face as the API returns it."""

    id: int
    photo_id: int
    photo: str
    box: BBox
    person_id: int | None
    confidence: float
    quality: FaceQuality
    source: str | None = None
    """``"auto"`` or ``"user"`` when assigned, else ``None``."""
    span: VideoSpan | None = None
    """For a face of a video: when it is seen (``photo`` is then the video)."""

    @property
    def key(self) -> str:
        return face_key(self.id)

    @property
    def is_video(self) -> bool:
        return self.span is not None


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on) of a time in a video."""
    s = int(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def person_key(person_id: int) -> str:
    return f"person-{person_id:04d}"


def face_key(face_id: int) -> str:
    return f"face-{face_id}"


@dataclass(frozen=True)
class ReviewItem:
    """One question for the user, most useful first.

    ``kind`` is ``"face"`` (is ``face_id`` really ``person_id``?) or
    ``"merge"`` (are ``person_id`` and ``other_person_id`` one person?).
    ``probability`` is the calibrated chance that the answer is yes, in ``[0, 1]``.
    """

    kind: str
    person_id: int
    face_id: int | None
    other_person_id: int | None
    probability: float
    question: str


@dataclass(frozen=True)
class Neighbour:
    """Another face near one being explained, with its person and similarity in ``[0, 1]``."""

    face_id: int
    person_id: int | None
    similarity: float


@dataclass(frozen=True)
class Explanation:
    """Why a face is where it is, in numbers and in words."""

    face_id: int
    person_id: int | None
    confidence: float
    nearest_in_person: tuple[Neighbour, ...]
    closest_other_person: int | None
    closest_other_probability: float | None
    text: str
    source: str | None = None
    """Whose word the face's place is: ``"user"`` (moved, merged, or held by
    a person when the user named it; no regrouping moves it), ``"auto"``
    (the model's grouping; a regroup may move it), ``None`` (nobody's face)."""
    not_people: tuple[int, ...] = ()
    """People the user said this face is not ("not this person", unassign)."""
