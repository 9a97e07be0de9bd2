"""Face tracks: the faces of one video's samples, linked into one face per appearance.

A face in a sample continues a track of the previous samples when its
descriptor is near the track's recent faces and its box overlaps the track's
last box (``link_distance``), or when the descriptor alone is very near
(``jump_distance``: someone who crossed the frame between samples). Pairs are
taken nearest first, each face and each track at most once per sample. A
track ends at a scene cut or when unseen for ``max_gap_seconds``; nothing
links across two videos (tracks live inside one call).

Each track becomes one :class:`~facefile.types.FaceResult`: its best view
(highest quality) gives the box, landmarks, measures and the frame of the
crop; its descriptors are that view's, or the mean of its best three views
(``descriptor="mean"``), carried at the length the model gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from facefile.types import BBox, FaceResult, VideoSpan

MEAN_OF = 3
"""Views averaged into a track's descriptor (``descriptor="mean"``)."""
RECENT = 3
"""A new face is compared with this many of a track's latest faces."""
MIN_OVERLAP = 0.05
"""Box IoU above which a face counts as where the track was."""


@dataclass
class Track:
    """The faces of one person's appearance: ``(seconds, face)`` in time order."""

    views: list[tuple[float, FaceResult]] = field(default_factory=list)

    @property
    def t_start(self) -> float:
        return self.views[0][0]

    @property
    def t_end(self) -> float:
        return self.views[-1][0]

    @property
    def last_box(self) -> BBox:
        return self.views[-1][1].detection.box


@dataclass(frozen=True)
class SampleFaces:
    """The faces found in one sample: time in seconds, whether a scene cut precedes it."""

    t: float
    faces: Sequence[FaceResult]
    is_cut: bool = False


def link_tracks(
    samples: Sequence[SampleFaces],
    *,
    link_distance: float,
    jump_distance: float,
    max_gap_seconds: float,
) -> list[Track]:
    """Link the faces of consecutive samples into tracks.

    Args:
        samples: in time order.
        link_distance: descriptor distance ("full" view, the model's scale)
            up to which an overlapping face continues a track.
        jump_distance: distance up to which any face continues a track.
        max_gap_seconds: a track unseen for longer ends.

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
        taken_faces: set[int] = set()
        taken_tracks: set[int] = set()
        pairs = []
        for j, face in enumerate(sample.faces):
            vec = face.embeddings.get("full")
            for i, tr in enumerate(live):
                d = _distance(vec, tr)
                overlap = tr.last_box.iou(face.detection.box)
                if d <= jump_distance or (overlap > MIN_OVERLAP and d <= link_distance):
                    pairs.append((d - overlap * 0.1, i, j))
        for _, i, j in sorted(pairs):
            if i in taken_tracks or j in taken_faces:
                continue
            live[i].views.append((sample.t, sample.faces[j]))
            taken_tracks.add(i)
            taken_faces.add(j)
        for j, face in enumerate(sample.faces):
            if j not in taken_faces:
                live.append(Track([(sample.t, face)]))
    done += live
    return sorted(done, key=lambda tr: (tr.t_start, tr.views[0][1].detection.box.left))


def _distance(vec: NDArray[np.float32] | None, track: Track) -> float:
    if vec is None:
        return float("inf")
    recent = [f.embeddings["full"] for _, f in track.views[-RECENT:] if "full" in f.embeddings]
    if not recent:
        return float("inf")
    return float(min(np.linalg.norm(vec - r) for r in recent))


def track_face(track: Track, descriptor: str = "mean") -> FaceResult:
    """One face for a whole track: its best view, with the track's span and descriptors.

    Args:
        track: at least one view.
        descriptor: ``"mean"`` (of the best :data:`MEAN_OF` views, per view
            name, rescaled to the best view's length) or ``"best"``.
    """
    ranked = sorted(track.views, key=lambda tv: (-tv[1].quality.score, tv[0]))
    t_best, best = ranked[0]
    span = VideoSpan(t_start=track.t_start, t_end=track.t_end, t_frame=t_best)
    embeddings = dict(best.embeddings)
    if descriptor == "mean" and len(ranked) > 1:
        top = [f for _, f in ranked[:MEAN_OF]]
        for view, vec in best.embeddings.items():
            stack = np.stack([f.embeddings[view] for f in top if view in f.embeddings])
            mean = stack.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0 and np.all(np.isfinite(mean)):
                embeddings[view] = (mean * (float(np.linalg.norm(vec)) / norm)).astype(np.float32)
    return replace(best, embeddings=embeddings, span=span)


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
