"""Face tracks: the faces of one video's samples, linked into one face per appearance.

A face in a sample continues a track of the previous samples when:

* its box overlaps the track's last box by IoU >= :data:`SURE_OVERLAP` and
  no other face or track competes for that overlap (the usual case: someone
  who stays in place; no descriptor is computed for it, and it is measured,
  keypoints, alignment and quality, only where its
  :func:`~facefile.analyze.quality.detection_prospect` beats that of the
  track's :data:`MEAN_OF` best-prospect measured views, so only a view that
  could become one of the track's best is measured);
* or else its descriptor is near the track's recent descriptors: within
  ``link_distance`` where its box overlaps the track's last box, within
  ``jump_distance`` anywhere (someone who crossed the frame between samples).
  Pairs are taken nearest first.

Each face and each track is used at most once per sample. A track ends at a
scene cut or when unseen for ``max_gap_seconds``; nothing links across two
videos (tracks live inside one call).

Each track becomes one :class:`~facefile.types.FaceResult`: its best view
(highest quality) gives the box, landmarks, measures and the frame of the
crop; its "full" descriptor is that view's, or the mean of its best
:data:`MEAN_OF` views (``descriptor="mean"``), at the length the model gives;
its other views (the upper one) are the best view's (where the tracker
kept chips: one network run a track instead of three).
Only those views' chips are kept, so memory stays bounded on long tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facefile.analyze.quality import detection_prospect
from facefile.types import BBox, Detection, FaceResult, RGBImage, VideoSpan

MEAN_OF = 3
"""Views averaged into a track's descriptor (``descriptor="mean"``)."""
RECENT = 3
"""A new face is compared with this many of a track's latest descriptors."""
MIN_OVERLAP = 0.05
"""Box IoU above which a face counts as where the track was."""
SURE_OVERLAP = 0.3
"""Box IoU at which an uncontested face continues a track without a descriptor
(0.5 before: on the bench's videos 0.3 takes a third fewer descriptors, for the
same tracks; a face 100 px wide that moved 40 px across keeps about 0.4)."""
RIVAL_SHARE = 0.5
"""Another face or track contests a face's overlap with a track when it
overlaps either by more than this share of that IoU (and more than
:data:`MIN_OVERLAP`): a box the detector also drew around a face's whole
surroundings does not, a second person crossing does."""

EmbedFn = Callable[[list[RGBImage]], dict[str, NDArray[np.float32]]]
"""Chips in, ``{view: float32 (n, d)}`` out; the tracker needs the ``"full"`` view only."""


class ViewsEmbedFn(Protocol):
    """Chips in, ``{view: float32 (n, d)}`` out, less the views excluded (``FaceAnalyzer.embed_chips``)."""

    def __call__(
        self, chips: Sequence[RGBImage], exclude: Sequence[str] = ()
    ) -> dict[str, NDArray[np.float32]]: ...


MeasureFn = Callable[[], tuple[FaceResult, RGBImage]]
"""Measures one detected face: ``(FaceResult without embeddings, aligned chip)``."""


@dataclass
class View:
    """One face of one sample: ``t`` seconds, its measures, its chip and its "full" descriptor once known.

    A view is made either measured (``face`` given) or from a detection
    with a ``measure`` to call if the tracker needs its measures (then
    ``face`` stays ``None`` until :meth:`measured`); ``measure`` is dropped
    once its sample is linked, so a track holds no frames.
    """

    t: float
    face: FaceResult | None
    chip: RGBImage | None = None
    vector: NDArray[np.float32] | None = None
    detection: Detection | None = None
    measure: MeasureFn | None = field(default=None, repr=False, compare=False)

    @property
    def box(self) -> BBox:
        return self.face.detection.box if self.face is not None else self._detection.box

    @property
    def _detection(self) -> Detection:
        det = self.face.detection if self.face is not None else self.detection
        if det is None:
            raise ValueError("a View needs a face or a detection")
        return det

    @cached_property
    def prospect(self) -> float:
        """:func:`~facefile.analyze.quality.detection_prospect` of its detection as found.

        The detection before measuring (its keypoints unrefined), so that
        measured and unmeasured views compare alike.
        """
        det = self.detection if self.detection is not None else self._detection
        points = det.keypoints[:3] if len(det.keypoints) >= 3 else []  # eyes and nose, or none
        eyes_nose = np.asarray(points, np.float32).reshape(-1, 2)
        return detection_prospect(det.box.size_px, det.score, eyes_nose)

    def measured(self) -> FaceResult:
        """Its measures, measuring it now if not yet done."""
        if self.face is None:
            if self.measure is None:
                raise ValueError("a View without face has to come with measure")
            self.face, self.chip = self.measure()
            self.measure = None
        return self.face


@dataclass
class Track:
    """The views of one person's appearance, in time order."""

    views: list[View] = field(default_factory=list)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)
    """The latest "full" descriptors computed for it (at most :data:`RECENT`)."""
    best_prospects: list[float] = field(default_factory=list)
    """The highest prospects of its measured views, best first (at most :data:`MEAN_OF`)."""

    @property
    def t_start(self) -> float:
        return self.views[0].t

    @property
    def t_end(self) -> float:
        return self.views[-1].t

    @property
    def last_box(self) -> BBox:
        return self.views[-1].box

    def is_worth_measuring(self, view: View) -> bool:
        """Whether ``view`` (placed here, unmeasured) could be one of this track's best views.

        True while the track has fewer than :data:`MEAN_OF` measured views,
        or when the view's prospect beats the prospect of each of the
        :data:`MEAN_OF` best-prospect views measured so far.
        """
        return len(self.best_prospects) < MEAN_OF or view.prospect > self.best_prospects[-1]

    def add(self, view: View) -> None:
        """Append ``view`` (the latest in time); measure it first if its measures are to count."""
        self.views.append(view)
        if view.face is not None:
            self.best_prospects = sorted([*self.best_prospects, view.prospect], reverse=True)[:MEAN_OF]
        if view.vector is not None:
            self.vectors = [*self.vectors[-(RECENT - 1) :], view.vector]
        # keep the chips of the best views only
        with_chips = [v for v in self.views if v.chip is not None and v.face is not None]
        if len(with_chips) > MEAN_OF:
            min(with_chips, key=lambda v: v.measured().quality.score).chip = None


@dataclass(frozen=True)
class SampleFaces:
    """The faces found in one sample: time in seconds, whether a scene cut precedes it."""

    t: float
    faces: Sequence[View]
    is_cut: bool = False


def link_tracks(
    samples: Iterable[SampleFaces],
    *,
    link_distance: float,
    jump_distance: float,
    max_gap_seconds: float,
    embed: EmbedFn | None = None,
) -> list[Track]:
    """Link the faces of consecutive samples into tracks.

    Args:
        samples: in time order, consumed one at a time (a generator keeps
            only the tracks in memory, each with its best chips); a view
            not yet measured is measured where it could be one of its
            track's best views or an overlap alone cannot place it, and a
            view without ``vector`` is embedded (its chip, by ``embed``)
            only in the second case.
        link_distance: descriptor distance ("full" view, the model's scale)
            up to which an overlapping face continues a track.
        jump_distance: distance up to which any face continues a track.
        max_gap_seconds: a track unseen for longer ends.
        embed: computes descriptors of chips; ``None`` when every view has its ``vector``.

    Returns:
        Tracks in order of their first face.
    """
    done: list[Track] = []
    live: list[Track] = []
    for sample in samples:
        if sample.is_cut:
            done += live
            live = []
        still = [tr for tr in live if sample.t - tr.t_end <= max_gap_seconds]
        done += [tr for tr in live if tr not in still]
        live = still
        faces = list(sample.faces)
        iou = np.array([[tr.last_box.iou(v.box) for v in faces] for tr in live]).reshape(
            len(live), len(faces)
        )
        taken_faces: set[int] = set()
        taken_tracks: set[int] = set()
        for i in range(len(live)):
            for j in range(len(faces)):
                bar = max(MIN_OVERLAP, RIVAL_SHARE * iou[i, j])
                rivals = np.count_nonzero(iou[i] > bar) + np.count_nonzero(iou[:, j] > bar)
                if iou[i, j] >= SURE_OVERLAP and rivals == 2:  # only each other
                    if live[i].is_worth_measuring(faces[j]):
                        faces[j].measured()
                    live[i].add(faces[j])
                    taken_tracks.add(i)
                    taken_faces.add(j)
        rest = [j for j in range(len(faces)) if j not in taken_faces]
        for j in rest:
            faces[j].measured()
        _fill_vectors([faces[j] for j in rest], embed)
        pairs = []
        for j in rest:
            for i, tr in enumerate(live):
                if i in taken_tracks:
                    continue
                d = _distance(faces[j].vector, tr)
                if d <= jump_distance or (iou[i, j] > MIN_OVERLAP and d <= link_distance):
                    pairs.append((d - iou[i, j] * 0.1, i, j))
        for _, i, j in sorted(pairs):
            if i in taken_tracks or j in taken_faces:
                continue
            live[i].add(faces[j])
            taken_tracks.add(i)
            taken_faces.add(j)
        for j in rest:
            if j not in taken_faces:
                track = Track()
                track.add(faces[j])
                live.append(track)
        for v in faces:
            v.measure = None  # the sample's frame is not kept
    done += live
    return sorted(done, key=lambda tr: (tr.t_start, tr.views[0].face.detection.box.left))


def _fill_vectors(views: list[View], embed: EmbedFn | None) -> None:
    """Give each view its "full" descriptor: from its face's embeddings, or its chip."""
    missing = []
    for v in views:
        if v.vector is None and "full" in v.measured().embeddings:
            v.vector = v.measured().embeddings["full"]
        if v.vector is None and v.chip is not None:
            missing.append(v)
    if missing and embed is not None:
        full = embed([v.chip for v in missing if v.chip is not None])["full"]
        for v, vec in zip(missing, full, strict=True):
            v.vector = vec


def _distance(vec: NDArray[np.float32] | None, track: Track) -> float:
    if vec is None or not track.vectors:
        return float("inf")
    return float(min(np.linalg.norm(vec - r) for r in track.vectors))


def track_face(track: Track, descriptor: str = "mean", embed: ViewsEmbedFn | None = None) -> FaceResult:
    """One face for a whole track: its best view, with the track's span and descriptors.

    Args:
        track: at least one measured view.
        descriptor: ``"mean"`` (of the best :data:`MEAN_OF` views, per view
            name, rescaled to the best view's length) or ``"best"``.
        embed: computes every view of the kept chips (the ``"full"`` one
            only where the tracker has not already); ``None`` uses the
            views' own embeddings.
    """
    measured = [v for v in track.views if v.face is not None] or track.views[:1]
    ranked = sorted(measured, key=lambda v: (-v.measured().quality.score, v.t))
    if embed is not None:
        ranked = [v for v in ranked if v.chip is not None] or ranked  # the best views keep their chips
    best = ranked[0]
    best_face = best.measured()
    top = ranked[:MEAN_OF] if descriptor == "mean" else ranked[:1]
    if embed is not None and all(v.chip is not None for v in top):
        per_view = _embed_views(top, embed)
    else:
        per_view = {name: [v.measured().embeddings[name] for v in top if name in v.measured().embeddings]
                    for name in best_face.embeddings}  # fmt: skip
    embeddings: dict[str, NDArray[np.float32]] = {}
    for name, vecs in per_view.items():
        first = np.asarray(vecs[0], dtype=np.float32)
        mean = np.mean(np.stack(vecs), axis=0)
        norm = float(np.linalg.norm(mean))
        ok = norm > 0 and bool(np.all(np.isfinite(mean)))
        embeddings[name] = (mean * (float(np.linalg.norm(first)) / norm)).astype(np.float32) if ok else first
    span = VideoSpan(t_start=track.t_start, t_end=track.t_end, t_frame=best.t)
    return replace(best_face, embeddings=embeddings, span=span)


def _embed_views(views: list[View], embed: ViewsEmbedFn) -> dict[str, list[NDArray[np.float32]]]:
    """The "full" descriptor of each of ``views`` (reusing known ones) and the other views of the first.

    The other views (the upper one) come from the best view alone: frames
    of one track differ little, and each costs a network run.
    """
    chips = [v.chip for v in views if v.chip is not None]
    assert len(chips) == len(views), "track_face embeds only views that kept their chips"
    best = embed(chips[:1], ("full",) if views[0].vector is not None else ())
    full: list[NDArray[np.float32] | None] = [v.vector for v in views]
    if "full" in best:
        full[0] = best["full"][0]
    unknown = [i for i, v in enumerate(views) if full[i] is None]
    if unknown:
        others = tuple(name for name in best if name != "full")
        got = embed([chips[i] for i in unknown], others)["full"]
        for i, vec in zip(unknown, got, strict=True):
            full[i] = vec
    per_view = {"full": [v for v in full if v is not None]}
    per_view.update({name: [arr[0]] for name, arr in best.items() if name != "full"})
    return per_view


def co_occurring(spans: Sequence[tuple[int, float, float]]) -> list[tuple[int, int]]:
    """Pairs of tracks of one video seen at the same time: never one person.

    Args:
        spans: ``(key, t_start, t_end)`` of each track of one video.

    Returns:
        ``(key, key)`` pairs whose spans overlap (a track is seen in every
        sample of its span, save gaps the tracker bridged).
    """
    order = sorted(spans, key=lambda s: s[1])
    out = []
    for a in range(len(order)):
        ka, _, ea = order[a]
        for b in range(a + 1, len(order)):
            kb, sb, _ = order[b]
            if sb > ea:
                break
            out.append((ka, kb))
    return out
