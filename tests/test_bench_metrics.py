"""Bench metrics against hand-computed examples and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from facefile_bench.metrics import score, singletons_for_unassigned


def test_hand_computed_example() -> None:
    # Truth A={0,1,2}, B={3,4}; predicted {0,1}, {2,3}, and face 4 unassigned.
    s = score([0, 0, 0, 1, 1], [0, 0, 1, 1, -1])
    assert s.pairwise_precision == pytest.approx(1 / 2)  # (0,1) right, (2,3) wrong
    assert s.pairwise_recall == pytest.approx(1 / 4)  # 4 true pairs, 1 found
    assert s.bcubed_precision == pytest.approx((1 + 1 + 0.5 + 0.5 + 1) / 5)
    assert s.bcubed_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 0.5 + 0.5) / 5)
    assert s.n_people == 2
    assert s.unassigned_share == pytest.approx(0.2)
    assert s.n_true_people == 2


def test_unassigned_faces_are_singletons_not_one_cluster() -> None:
    all_unassigned = score([0, 0, 1, 1], [-1, -1, -1, -1])
    assert all_unassigned.pairwise_recall == 0.0
    assert all_unassigned.pairwise_precision == 1.0
    assert all_unassigned.bcubed_recall == pytest.approx(0.5)
    assert all_unassigned.n_people == 0
    assert all_unassigned.unassigned_share == 1.0
    relabelled = singletons_for_unassigned([3, -1, -1, 0])
    assert len(set(relabelled.tolist())) == 4 and relabelled[0] == 3


def test_perfect_and_all_in_one() -> None:
    perfect = score([5, 5, 7], [1, 1, 0])
    assert perfect.pairwise_f == perfect.bcubed_f == perfect.nmi == pytest.approx(1.0)
    lumped = score([0, 0, 1, 1], [0, 0, 0, 0])
    assert lumped.pairwise_precision == pytest.approx(2 / 6)
    assert lumped.pairwise_recall == 1.0
    assert lumped.nmi == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn(seed: int) -> None:
    from sklearn.metrics import normalized_mutual_info_score
    from sklearn.metrics.cluster import pair_confusion_matrix

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 12, size=200)
    pred = np.where(rng.random(200) < 0.7, truth, rng.integers(-1, 15, size=200))
    s = score(truth, pred)
    filled = singletons_for_unassigned(pred)
    assert s.nmi == pytest.approx(normalized_mutual_info_score(truth, filled))
    pcm = pair_confusion_matrix(truth, filled)  # ordered pairs, so counts are doubled
    tp, fn, fp = pcm[1, 1], pcm[1, 0], pcm[0, 1]
    assert s.pairwise_precision == pytest.approx(tp / (tp + fp))
    assert s.pairwise_recall == pytest.approx(tp / (tp + fn))


def test_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equally long; got 2 and 3"):
        score([0, 1], [0, 1, 2])
