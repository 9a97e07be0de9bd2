"""Seeded synthetic faces with known identities, shaped like dlib descriptors."""

from __future__ import annotations

import numpy as np

from facefile.cluster.base import GroupingInput


def synth_faces(
    n_people: int = 20,
    per_person: int = 8,
    dim: int = 128,
    spread: float = 0.25,
    seed: int = 0,
) -> tuple[GroupingInput, np.ndarray]:
    """Faces of ``n_people`` people, each face its own photo.

    Centres sit about 0.8 apart and faces about ``spread`` * sqrt(2) from each
    other, like same-person dlib distances (< 0.6) versus others (> 0.6).

    Returns:
        ``(data, truth)``: the input and ``int64 (n,)`` true identity per row.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim)).astype(np.float32)
    centres *= 0.8 / np.sqrt(2 * dim)
    truth = np.repeat(np.arange(n_people), per_person).astype(np.int64)
    emb = centres[truth] + rng.normal(size=(truth.size, dim)).astype(np.float32) * (spread / np.sqrt(2 * dim))
    n = truth.size
    data = GroupingInput(
        face_ids=np.arange(n, dtype=np.int64) + 100,
        embeddings=emb.astype(np.float32),
        quality=np.full(n, 0.9, dtype=np.float32),
        size_px=np.full(n, 100.0, dtype=np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, dtype=np.int64),
        previous_person=np.full(n, -1, dtype=np.int64),
    )
    return data, truth


def pairwise_f(labels: np.ndarray, truth: np.ndarray) -> float:
    """Pairwise F-measure, each ``-1`` counted as its own singleton."""
    lab = np.where(labels >= 0, labels, -np.arange(1, labels.size + 1))
    same_pred = lab[:, None] == lab[None, :]
    same_true = truth[:, None] == truth[None, :]
    off = ~np.eye(labels.size, dtype=bool)
    tp = (same_pred & same_true & off).sum()
    fp = (same_pred & ~same_true & off).sum()
    fn = (~same_pred & same_true & off).sum()
    return float(2 * tp / max(2 * tp + fp + fn, 1))


def glasses_faces(shift: float, gap: float, seed: int = 5):
    """Person 0: six clean and six dark-glassed faces (rows 0-11); person 1:
    six dark-glassed faces (rows 12-17). The glasses move every descriptor by
    one shared vector of length ``shift``; the two people's centres are
    ``gap`` apart."""
    rng = np.random.default_rng(seed)
    d = 128

    def unit():
        v = rng.normal(size=d)
        return v / np.linalg.norm(v)

    a = unit() * 0.5
    b = a + unit() * gap
    glasses = unit() * shift
    noise = lambda k: rng.normal(size=(k, d)) * (0.2 / np.sqrt(d))  # noqa: E731
    full = np.vstack([a + noise(6), a + glasses + noise(6), b + glasses + noise(6)]).astype(np.float32)
    occlusion = np.zeros((full.shape[0], 3), dtype=np.float32)
    occlusion[6:, 1] = 0.9  # the eye score of the quality measure
    return faces_input(full, occlusion=occlusion)


def lookalike_stranger(seed: int = 9) -> tuple[GroupingInput, np.ndarray]:
    """Three people of 6 faces and one clear stranger (last row) who resembles
    person 0 only around the eyes.

    The stranger's full view is about 0.6 from each of person 0's faces (over
    ``threshold``, under ``max_rms``), its upper view about 0.3: the two-view
    mean is well under ``attach_threshold``.

    Returns:
        ``(data, truth)``; the stranger's truth is 3.
    """
    data, truth = synth_faces(n_people=3, per_person=6, spread=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    dim = data.embeddings.shape[1]
    centre = data.embeddings[truth == 0].mean(axis=0)
    away = rng.normal(size=dim).astype(np.float32)
    away *= 0.56 / np.linalg.norm(away)
    face = centre + away
    full = np.vstack([data.embeddings, face]).astype(np.float32)
    upper = full + rng.normal(size=full.shape).astype(np.float32) * (0.1 / np.sqrt(dim))
    upper[-1] = centre + rng.normal(size=dim).astype(np.float32) * (0.3 / np.sqrt(2 * dim))
    return faces_input(full, views={"upper": upper}), np.r_[truth, 3].astype(np.int64)


def faces_input(
    full: np.ndarray, views: dict[str, np.ndarray] | None = None, occlusion: np.ndarray | None = None
) -> GroupingInput:
    """Clear 100-pixel faces with descriptors ``full``, each in its own photo, no user decisions."""
    n = full.shape[0]
    return GroupingInput(
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=np.asarray(full, dtype=np.float32),
        quality=np.full(n, 0.9, dtype=np.float32),
        size_px=np.full(n, 100.0, dtype=np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, dtype=np.int64),
        previous_person=np.full(n, -1, dtype=np.int64),
        views={k: np.asarray(v, dtype=np.float32) for k, v in (views or {}).items()},
        occlusion=occlusion,
    )
