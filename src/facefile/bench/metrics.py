"""Scores of a grouping against identity labels, in plain numpy.

Conventions (they are real losses for a user, so they cost in every metric):

* a face left unassigned (label ``-1``) is its own singleton cluster;
* an image whose labelled face was not detected is scored by the caller as an
  unassigned face (label ``-1``), so it is a singleton too.

Pairwise precision/recall count same-cluster pairs; BCubed averages per-face
precision/recall (Amigó et al., 2009); NMI uses the arithmetic mean of the two
entropies, as scikit-learn's ``normalized_mutual_info_score`` does by default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Scores:
    """Quality of one grouping; all ratios in ``[0, 1]``."""

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    nmi: float
    n_people: int
    """Predicted clusters with at least one assigned face (``-1`` excluded)."""
    n_true_people: int
    unassigned_share: float
    """Share of faces with label ``-1`` (undetected faces included)."""
    n_faces: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def singletons_for_unassigned(labels: ArrayLike) -> NDArray[np.int64]:
    """Replace every ``-1`` by a fresh label of its own.

    Args:
        labels: ``(n,)`` integer cluster labels, ``-1`` for unassigned.

    Returns:
        ``int64 (n,)`` labels with no ``-1``; assigned labels keep their values.
    """
    out = np.asarray(labels, dtype=np.int64).copy()
    free = out < 0
    start = int(out.max(initial=-1)) + 1
    out[free] = start + np.arange(int(free.sum()), dtype=np.int64)
    return out


def contingency(truth: ArrayLike, pred: ArrayLike) -> NDArray[np.int64]:
    """Dense contingency table ``(n_classes, n_clusters)`` of two labelings."""
    _, t = np.unique(np.asarray(truth), return_inverse=True)
    _, p = np.unique(np.asarray(pred), return_inverse=True)
    n_t, n_p = int(t.max(initial=-1)) + 1, int(p.max(initial=-1)) + 1
    table = np.bincount(t * n_p + p, minlength=n_t * n_p)
    return table.reshape(n_t, n_p).astype(np.int64)


def _pairs(counts: NDArray[np.int64]) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1.0) / 2.0).sum())


def _entropy(counts: NDArray[np.int64], n: int) -> float:
    p = counts[counts > 0].astype(np.float64) / n
    return float(-(p * np.log(p)).sum())


def _f(p: float, r: float) -> float:
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def score(truth: ArrayLike, pred: ArrayLike) -> Scores:
    """Score predicted clusters against true identities.

    Args:
        truth: ``(n,)`` identity labels (any hashable integer or string values).
        pred: ``(n,)`` integer cluster labels, ``-1`` for unassigned faces.

    Returns:
        :class:`Scores`. Pairwise precision is 1 when no pair is predicted
        (nothing was wrongly joined); recall is 1 when no true pair exists.

    Raises:
        ValueError: if the two arrays differ in length or are empty.
    """
    truth_a = np.asarray(truth)
    pred_raw = np.asarray(pred, dtype=np.int64)
    if truth_a.shape[0] != pred_raw.shape[0] or pred_raw.shape[0] == 0:
        raise ValueError(
            f"truth and pred must be non-empty and equally long; got {truth_a.shape[0]} "
            f"and {pred_raw.shape[0]}"
        )
    n = int(pred_raw.shape[0])
    pred_a = singletons_for_unassigned(pred_raw)
    table = contingency(truth_a, pred_a)
    class_sizes = table.sum(axis=1)
    cluster_sizes = table.sum(axis=0)

    tp = _pairs(table)
    pred_pairs = _pairs(cluster_sizes)
    true_pairs = _pairs(class_sizes)
    pw_p = tp / pred_pairs if pred_pairs > 0 else 1.0
    pw_r = tp / true_pairs if true_pairs > 0 else 1.0

    cells = table.astype(np.float64)
    sq = cells * cells
    bc_p = float((sq / cluster_sizes[None, :]).sum()) / n
    bc_r = float((sq / class_sizes[:, None]).sum()) / n

    h_t = _entropy(class_sizes, n)
    h_p = _entropy(cluster_sizes, n)
    nz = table > 0
    joint = cells[nz] / n
    outer = (class_sizes[:, None] * cluster_sizes[None, :]).astype(np.float64)[nz] / (n * n)
    mi = float((joint * np.log(joint / outer)).sum())
    nmi = 1.0 if h_t == 0.0 and h_p == 0.0 else max(0.0, mi) / ((h_t + h_p) / 2.0)

    return Scores(
        pairwise_precision=pw_p,
        pairwise_recall=pw_r,
        pairwise_f=_f(pw_p, pw_r),
        bcubed_precision=bc_p,
        bcubed_recall=bc_r,
        bcubed_f=_f(bc_p, bc_r),
        nmi=min(1.0, nmi),
        n_people=len(np.unique(pred_raw[pred_raw >= 0])),
        n_true_people=int(table.shape[0]),
        unassigned_share=float((pred_raw < 0).mean()),
        n_faces=n,
    )
