"""How thresholds documented for other embedding spaces are mapped onto dlib's.

Each peer documents its distance for its *own* model. Distances are not
comparable across models, so we map by operating point: a threshold is
expressed as a fraction of its model's same/different verification
threshold, and that fraction is applied to dlib's documented 0.6.

Steps, for a peer threshold ``t`` on model ``M``:

1. cosine distance ``c`` on L2-normalised vectors -> Euclidean on the unit
   sphere, ``e = sqrt(2 c)`` (exact identity);
2. ``fraction = e / v_M`` with ``v_M`` the model's Euclidean-L2 verification
   threshold as published by DeepFace (``serengil/deepface``,
   ``modules/verification.py``): ArcFace 1.13, Facenet512 1.04, Facenet 0.80,
   Dlib 0.4 (L2) / 0.6 (raw);
3. dlib threshold ``= fraction * 0.6``.

Uncertain: the DeepFace numbers are quoted from memory and are tuned on LFW
by DeepFace, not by the peers. The best-of-grid column removes any
dependence on this mapping: it searches each peer's parameters directly in
the dlib space.
"""

from __future__ import annotations

import math

DLIB_THRESHOLD = 0.6
"""dlib's documented same-person bound on raw ResNet descriptors (Euclidean)."""

VERIFY_L2 = {"arcface": 1.13, "facenet512": 1.04, "facenet": 0.80, "dlib": 0.4}
"""Euclidean-L2 verification thresholds per model (DeepFace; from memory)."""


def cosine_to_l2(cos_dist: float) -> float:
    """Euclidean distance of two unit vectors with the given cosine distance."""
    return math.sqrt(2.0 * cos_dist)


def to_dlib(l2_dist: float, model: str) -> float:
    """Map a Euclidean-L2 distance on ``model``'s unit vectors to the dlib space.

    Raises:
        KeyError: for a model with no known verification threshold.
    """
    return l2_dist / VERIFY_L2[model] * DLIB_THRESHOLD
