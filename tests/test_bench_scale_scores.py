"""The scale bench: scores of huge groupings; the add-faces timing."""

from __future__ import annotations

import numpy as np
from facefile_bench.metrics import score


def test_scores_a_million_cell_table_without_forming_it() -> None:
    # 40k identities x 20k clusters: 6.4 GB as a dense table
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(40_000), 2)
    pred = np.where(rng.random(truth.size) < 0.75, truth // 2, -1)  # two people per cluster, some left out
    s = score(truth, pred)
    assert s.n_true_people == 40_000 and s.n_faces == 80_000
    kept = pred >= 0
    both = np.bincount(truth[kept], minlength=40_000) == 2  # people whose two faces were both kept
    tp = both.sum()  # each such person contributes one true pair
    sizes = np.bincount(pred[kept])
    assert s.pairwise_precision == tp / (sizes * (sizes - 1) / 2).sum()
    assert s.pairwise_recall == tp / 40_000


def test_time_add_places_most_new_faces_of_known_people() -> None:
    from facefile_bench.scale import time_add

    out = time_add(2000, n_new=100, seed=1)
    assert out["seconds"] > 0 and out["n_joined"] > 0
    assert out["joined_right"] > 0.4
    assert out["joined_wrong"] < out["n_joined"] / 4
