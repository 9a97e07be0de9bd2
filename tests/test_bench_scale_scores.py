"""The scale bench: sparse scores agree with the dense metrics; the add-faces timing."""

from __future__ import annotations

import numpy as np

from facefile.bench.metrics import score
from facefile.bench.scale import sparse_f_scores


def test_sparse_scores_match_dense_metrics() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 40, size=500)
    pred = np.where(rng.random(500) < 0.8, truth // 2, -1)  # merges and unassigned faces
    pred[:50] = rng.integers(0, 30, size=50)
    ref = score(truth, pred)
    bcubed_f, pairwise_f = sparse_f_scores(truth, pred)
    assert abs(bcubed_f - ref.bcubed_f) < 1e-12
    assert abs(pairwise_f - ref.pairwise_f) < 1e-12


def test_time_add_places_most_new_faces_of_known_people() -> None:
    from facefile.bench.scale import time_add

    out = time_add(2000, n_new=100, seed=1)
    assert out["seconds"] > 0 and out["n_joined"] > 0
    assert out["joined_right"] > 0.4
    assert out["joined_wrong"] < out["n_joined"] / 4
