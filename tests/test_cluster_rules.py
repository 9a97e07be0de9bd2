"""The default clusterer's hard rules, on seeded synthetic faces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facefile.cluster import CLUSTERERS, DEFAULT_CLUSTERER, create_clusterer
from facefile.errors import ConfigError, UnknownBackendError
from tests.cluster_synth import lookalike_stranger, pairwise_f, synth_faces

AT_055 = {"threshold": 0.55, "attach_threshold": 0.55, "density_weight": 0.0}
"""The bar these drawings are laid around, fixed (no rise where strangers are few)."""


def _fit(data, **params):
    return create_clusterer(DEFAULT_CLUSTERER, **params).fit_predict(data)


def test_recovers_synthetic_people():
    data, truth = synth_faces(n_people=30, per_person=6, spread=0.4, seed=1)
    g = _fit(data)
    assert pairwise_f(g.labels, truth) > 0.95
    assert g.labels.dtype == np.int64 and g.labels.shape == truth.shape
    assert g.confidence.dtype == np.float32
    assert np.all((g.confidence >= 0) & (g.confidence <= 1))
    assert g.confidence[g.labels >= 0].mean() > 0.8


def test_two_faces_of_one_photo_never_share_a_label():
    data, _truth = synth_faces(n_people=5, per_person=6, spread=0.3, seed=2)
    photos = data.photo_ids.copy()
    photos[[1, 7, 13]] = photos[0]  # row 0,1 same person; 7, 13 other people
    g = _fit(dataclasses.replace(data, photo_ids=photos))
    labs = g.labels[[0, 1, 7, 13]]
    labs = labs[labs >= 0]
    assert len(set(labs.tolist())) == labs.size
    assert np.bincount(g.labels[2:6] + 1).max() >= 3  # the rest of person 0 still groups


def test_user_person_joins_and_separates():
    data, truth = synth_faces(n_people=4, per_person=6, spread=0.3, seed=3)
    user = np.full(truth.size, -1, dtype=np.int64)
    user[[0, 6]] = 50  # different true people, same user person
    user[[12, 13]] = [60, 61]  # same true person, different user persons
    g = _fit(dataclasses.replace(data, user_person=user))
    assert g.labels[0] == g.labels[6] >= 0
    assert g.labels[12] >= 0 and g.labels[13] >= 0 and g.labels[12] != g.labels[13]
    assert g.confidence[[0, 6, 12, 13]].min() == 1.0


def test_not_person_and_cannot_link_are_respected():
    data, truth = synth_faces(n_people=4, per_person=6, spread=0.3, seed=4)
    user = np.full(truth.size, -1, dtype=np.int64)
    user[0] = 70
    g = _fit(dataclasses.replace(data, user_person=user, not_person=[(1, 70)], cannot_link=[(8, 9)]))
    assert g.labels[1] != g.labels[0]
    assert g.labels[8] == -1 or g.labels[8] != g.labels[9]
    assert (g.labels[2:6] == g.labels[0]).sum() >= 3


def test_small_and_missing_faces_stay_unassigned():
    data, _truth = synth_faces(n_people=3, per_person=6, spread=0.3, seed=5)
    size = data.size_px.copy()
    size[0] = 8.0
    emb = data.embeddings.copy()
    emb[6] = np.nan
    g = _fit(dataclasses.replace(data, size_px=size, embeddings=emb))
    assert g.labels[0] == -1 and g.labels[6] == -1
    assert (g.labels[1:6] == g.labels[1]).all() and g.labels[1] >= 0


def _bridge_data(seed: int = 6):
    """Two tight people 0.7 apart and 20 low-quality faces half-way between."""
    rng = np.random.default_rng(seed)
    dim = 128
    a = rng.normal(size=dim)
    b = a + rng.normal(size=dim) / np.sqrt(dim) * 0.7
    noise = 0.05 / np.sqrt(dim)
    emb = np.concatenate(
        [
            a + rng.normal(size=(8, dim)) * noise,
            b + rng.normal(size=(8, dim)) * noise,
            (a + b) / 2 + rng.normal(size=(20, dim)) * noise,
        ]
    ).astype(np.float32)
    data, _ = synth_faces(n_people=36, per_person=1, seed=seed)
    quality = np.r_[np.full(16, 0.9), np.full(20, 0.1)].astype(np.float32)
    return dataclasses.replace(data, embeddings=emb, quality=quality)


def test_low_quality_faces_never_bridge_two_people():
    data = _bridge_data()
    g = _fit(data)
    assert (g.labels[:8] == g.labels[0]).all() and (g.labels[8:16] == g.labels[8]).all()
    assert g.labels[0] != g.labels[8]
    # the same faces at full quality do join the two people: the rule is what keeps them apart
    g_hq = _fit(dataclasses.replace(data, quality=np.full(36, 0.9, dtype=np.float32)))
    assert g_hq.labels[0] == g_hq.labels[8]


def test_low_quality_face_joins_a_clear_person():
    data, _truth = synth_faces(n_people=3, per_person=6, spread=0.3, seed=7)
    quality = data.quality.copy()
    quality[[0, 6]] = 0.05
    g = _fit(dataclasses.replace(data, quality=quality))
    assert g.labels[0] == g.labels[1] >= 0 and g.labels[6] == g.labels[7] >= 0


def test_bad_settings_raise_config_error_naming_them():
    data, _ = synth_faces(n_people=2, per_person=2)
    with pytest.raises(ConfigError, match="threshold=-1"):
        _fit(data, threshold=-1)
    with pytest.raises(ConfigError, match="n_neighbors"):
        _fit(data, n_neighbors=0)
    with pytest.raises(ConfigError, match="known:"):
        _fit(data, thresold=0.5)
    with pytest.raises(ConfigError, match="quality"):
        _fit(dataclasses.replace(data, quality=data.quality[:2]))
    with pytest.raises(UnknownBackendError, match="average-linkage"):
        create_clusterer("kmeans")


def test_registry_lists_default_and_empty_input():
    assert DEFAULT_CLUSTERER in CLUSTERERS.names()
    data, _ = synth_faces(n_people=1, per_person=1)
    g = _fit(data)
    assert g.labels.tolist() == [-1] and 0 <= g.confidence[0] <= 1


def _collapsed_upper_view(seed: int = 8):
    """10 people x 6 faces; half of each person's faces wear dark glasses, so
    their upper views all look alike whoever wears them."""
    data, truth = synth_faces(n_people=10, per_person=6, spread=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    dim = data.embeddings.shape[1]
    upper = data.embeddings + rng.normal(size=data.embeddings.shape).astype(np.float32) * 0.1 / np.sqrt(dim)
    glasses = np.tile(np.arange(6) < 3, 10)
    common = rng.normal(size=dim).astype(np.float32) * 0.4 / np.sqrt(dim)
    upper[glasses] = common + rng.normal(size=(glasses.sum(), dim)).astype(np.float32) * 0.15 / np.sqrt(dim)
    return dataclasses.replace(data, views={"upper": upper.astype(np.float32)}), truth


def _is_pure(labels, truth) -> bool:
    return all(len(set(truth[labels == lab].tolist())) == 1 for lab in np.unique(labels[labels >= 0]))


def test_a_collapsed_view_does_not_merge_people():
    data, truth = _collapsed_upper_view()
    g = _fit(data)
    assert _is_pure(g.labels, truth)
    assert pairwise_f(g.labels, truth) > 0.9
    # exact linkage (the RMS over all pairs, not the graph's near edges) holds alone
    assert _is_pure(_fit(data, density_k=0, max_rms=9.0).labels, truth)


def test_exact_rms_from_cluster_sums_matches_brute_force():
    from facefile.cluster.agglomerate import ViewSums

    rng = np.random.default_rng(9)
    x = rng.normal(size=(12, 16)).astype(np.float32)
    groups = [np.arange(0, 5), np.arange(5, 12)]
    labels = np.r_[np.zeros(5, np.int64), np.ones(7, np.int64)]
    got = ViewSums(x, labels, 2).rms(np.array([0]), np.array([1]))[0]
    d = np.linalg.norm(x[groups[0]][:, None, :] - x[groups[1]][None, :, :], axis=2)
    assert abs(got - np.sqrt((d**2).mean())) < 1e-5


def test_cannot_link_inside_one_person_leaves_one_face_out():
    # one person's 10 faces; a cannot-link between two of them must cost one
    # face, not split the person into two halves that the ban keeps apart
    data, _truth = synth_faces(n_people=1, per_person=10, spread=0.3, seed=6)
    emb = data.embeddings.copy()
    # two sub-groups, so agglomeration grows two halves before they meet
    emb[:5] += 0.04 * np.eye(emb.shape[1], dtype=np.float32)[0]
    emb[5:] -= 0.04 * np.eye(emb.shape[1], dtype=np.float32)[0]
    g = _fit(dataclasses.replace(data, embeddings=emb, cannot_link=[(0, 9)]))
    sizes = np.bincount(g.labels[g.labels >= 0])
    assert sizes.max() == 9
    assert g.labels[0] == -1 or g.labels[9] == -1 or g.labels[0] != g.labels[9]


def test_subset_slices_every_face_and_renumbers_constraints() -> None:
    data, _ = synth_faces(n_people=3, per_person=4, seed=2)
    data = dataclasses.replace(
        data,
        occlusion=np.arange(data.n_faces * 3, dtype=np.float32).reshape(-1, 3),
        not_person=[(5, 7), (1, 9)],
        cannot_link=[(5, 8), (1, 8)],
    )
    rows = np.array([8, 5, 2])
    sub = data.subset(rows)
    assert sub.n_faces == 3
    assert np.array_equal(sub.face_ids, data.face_ids[rows])
    assert np.array_equal(sub.occlusion, data.occlusion[rows])
    assert all(np.array_equal(sub.views[k], v[rows]) for k, v in data.views.items())
    # face 5 is row 1 now, face 8 row 0; constraints on dropped faces are gone
    assert sub.not_person == [(1, 7)]
    assert sub.cannot_link == [(1, 0)]


def test_a_clear_face_that_fails_the_linking_bar_does_not_join_by_the_looser_rule():
    data, truth = lookalike_stranger()
    e = data.embeddings
    rms = np.sqrt((np.linalg.norm(e[-1] - e[truth == 0], axis=1) ** 2).mean())
    assert 0.57 < rms < 0.63  # over threshold 0.55, within max_rms 0.65
    g = _fit(data)
    people = [g.labels[truth == t][0] for t in range(3)]
    assert -1 not in people and len(set(people)) == 3
    assert g.labels[-1] == -1  # someone seen once stays alone
    # the same face blurred may join: it could never link, so the mean rule judges it
    blurred = data.quality.copy()
    blurred[-1] = 0.2
    g = _fit(dataclasses.replace(data, quality=blurred))
    assert g.labels[-1] == people[0]


def test_two_faces_alone_need_to_be_closer_than_a_group():
    # laid out around a linking bar of 0.55 (the pair rule is relative to it)
    rng = np.random.default_rng(12)
    dim = 128
    centres = rng.normal(size=(3, dim)) * (1.2 / np.sqrt(2 * dim))  # about 1.2 apart
    steps = np.linalg.qr(rng.normal(size=(dim, 4)))[0].T  # orthonormal directions
    emb = np.vstack(
        [
            centres[0], centres[0] + 0.45 * steps[0],  # a close pair
            centres[1], centres[1] + 0.53 * steps[0],  # a pair near the linking threshold
            *(centres[2] + 0.53 / np.sqrt(2) * steps[1:4]),  # three faces, each pair 0.53 apart
        ]
    ).astype(np.float32)  # fmt: skip
    data, _ = synth_faces(n_people=emb.shape[0], per_person=1, seed=12)
    data = dataclasses.replace(data, embeddings=emb)
    labels = _fit(data, **AT_055).labels
    assert labels[0] == labels[1] >= 0
    assert labels[2] == labels[3] == -1  # one distance near the threshold is not enough
    assert labels[4] == labels[5] == labels[6] >= 0  # three faces corroborate each other
    # the user's word keeps the loose pair
    user = np.full(emb.shape[0], -1, dtype=np.int64)
    user[2] = 40
    labels = _fit(dataclasses.replace(data, user_person=user), **AT_055).labels
    assert labels[2] == labels[3] >= 0
    loose = _fit(data, **AT_055, pair_threshold=0.55).labels
    assert loose[2] == loose[3] >= 0
    # a pair the user named stays a pair; a name on another person does not hold it
    previous = np.full(emb.shape[0], -1, dtype=np.int64)
    previous[[2, 3]] = 41
    named = dataclasses.replace(data, previous_person=previous, named_people=frozenset({41}))
    labels = _fit(named, **AT_055).labels
    assert labels[2] == labels[3] >= 0
    labels = _fit(dataclasses.replace(named, named_people=frozenset({42})), **AT_055).labels
    assert labels[2] == labels[3] == -1


def test_where_every_face_is_soft_faces_still_group():
    """Poor is relative to the collection: a folder of thumbnails (every face under
    ``min_link_quality``) groups like sharp faces, and its poorest faces still only join."""
    data, truth = synth_faces(n_people=12, per_person=6, spread=0.4, seed=3)
    soft = np.random.default_rng(3).uniform(0.1, 0.25, truth.size).astype(np.float32)
    g = _fit(dataclasses.replace(data, quality=soft))
    assert pairwise_f(g.labels, truth) > 0.95
    assert (g.labels >= 0).mean() > 0.95
