"""Face tracks: the faces of one video's samples, linked into one face per appearance.

A face in a sample continues a track of the previous samples when:

* its box overlaps the track's last box by IoU >= :data:`SURE_OVERLAP` and
  no other face or track competes for that overlap (the usual case: someone
  who stays in place; no descriptor is computed for it);
* or else its descriptor is near the track's recent descriptors: within
  ``link_distance`` where its box overlaps the track's last box, within
  ``jump_distance`` anywhere (someone who crossed the frame between samples).
  Pairs are taken nearest first.

Each face and each track is used at most once per sample. A track ends at a
scene cut or when unseen for ``max_gap_seconds``; nothing links across two
videos (tracks live inside one call).

Each track becomes one :class:`~facefile.types.FaceResult`: its best view
(highest quality) gives the box, landmarks, measures and the frame of the
crop; its descriptors are that view's, or the mean of its best
:data:`MEAN_OF` views (``descriptor="mean"``), at the length the model gives.
Only those views' chips are kept, so memory stays bounded on long tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from facefile.types import BBox, FaceResult, RGBImage, VideoSpan

MEAN_OF = 3
"""Views averaged into a track's descriptor (``descriptor="mean"``)."""
RECENT = 3
"""A new face is compared with this many of a track's latest descriptors."""
MIN_OVERLAP = 0.05
"""Box IoU above which a face counts as where the track was."""
SURE_OVERLAP = 0.5
"""Box IoU at which an uncontested face continues a track without a descriptor."""

EmbedFn = Callable[[list[RGBImage]], dict[str, NDArray[np.float32]]]
"""Chips in, ``{view: float32 (n, d)}`` out (``FaceAnalyzer.embed_chips``)."""


@dataclass
class View:
    """One face of one sample: ``t`` seconds, its measures, its chip and its "full" descriptor once known."""

    t: float
    face: FaceResult
    chip: RGBImage | None = None
    vector: NDArray[np.float32] | None = None


@dataclass
class Track:
    """The views of one person's appearance, in time order."""

    views: list[View] = field(default_factory=list)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)
    """The latest "full" descriptors computed for it (at most :data:`RECENT`)."""

    @property
    def t_start(self) -> float:
        return self.views[0].t

    @property
    def t_end(self) -> float:
        return self.views[-1].t

    @property
    def last_box(self) -> BBox:
        return self.views[-1].face.detection.box

    def add(self, view: View) -> None:
        self.views.append(view)
        if view.vector is not None:
            self.vectors = [*self.vectors[-(RECENT - 1) :], view.vector]
        # keep the chips of the best views only
        with_chips = [v for v in self.views if v.chip is not None]
        if len(with_chips) > MEAN_OF:
            min(with_chips, key=lambda v: v.face.quality.score).chip = None


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
            without ``vector`` is embedded (its chip, by ``embed``) only
            when an overlap alone cannot place it.
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
        iou = np.array([[tr.last_box.iou(v.face.detection.box) for v in faces] for tr in live]).reshape(
            len(live), len(faces)
        )
        taken_faces: set[int] = set()
        taken_tracks: set[int] = set()
        for i in range(len(live)):
            for j in range(len(faces)):
                rivals = np.count_nonzero(iou[i] > MIN_OVERLAP) + np.count_nonzero(iou[:, j] > MIN_OVERLAP)
                if iou[i, j] >= SURE_OVERLAP and rivals == 2:  # only each other
                    live[i].add(faces[j])
                    taken_tracks.add(i)
                    taken_faces.add(j)
        rest = [j for j in range(len(faces)) if j not in taken_faces]
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
    done += live
    return sorted(done, key=lambda tr: (tr.t_start, tr.views[0].face.detection.box.left))


def _fill_vectors(views: list[View], embed: EmbedFn | None) -> None:
    """Give each view its "full" descriptor: from its face's embeddings, or its chip."""
    missing = []
    for v in views:
        if v.vector is None and "full" in v.face.embeddings:
            v.vector = v.face.embeddings["full"]
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


def track_face(track: Track, descriptor: str = "mean", embed: EmbedFn | None = None) -> FaceResult:
    """One face for a whole track: its best view, with the track's span and descriptors.

    Args:
        track: at least one view.
        descriptor: ``"mean"`` (of the best :data:`MEAN_OF` views, per view
            name, rescaled to the best view's length) or ``"best"``.
        embed: computes every view of the kept chips; ``None`` uses the
            views' own embeddings.
    """
    ranked = sorted(track.views, key=lambda v: (-v.face.quality.score, v.t))
    if embed is not None:
        ranked = [v for v in ranked if v.chip is not None] or ranked  # the best views keep their chips
    best = ranked[0]
    top = ranked[:MEAN_OF] if descriptor == "mean" else ranked[:1]
    if embed is not None and all(v.chip is not None for v in top):
        vectors = embed([v.chip for v in top if v.chip is not None])
        per_view = {name: list(arr) for name, arr in vectors.items()}
    else:
        per_view = {name: [v.face.embeddings[name] for v in top if name in v.face.embeddings]
                    for name in best.face.embeddings}  # fmt: skip
    embeddings: dict[str, NDArray[np.float32]] = {}
    for name, vecs in per_view.items():
        first = np.asarray(vecs[0], dtype=np.float32)
        mean = np.mean(np.stack(vecs), axis=0)
        norm = float(np.linalg.norm(mean))
        ok = norm > 0 and bool(np.all(np.isfinite(mean)))
        embeddings[name] = (mean * (float(np.linalg.norm(first)) / norm)).astype(np.float32) if ok else first
    span = VideoSpan(t_start=track.t_start, t_end=track.t_end, t_frame=best.t)
    return replace(best.face, embeddings=embeddings, span=span)


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
