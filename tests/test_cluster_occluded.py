"""Occluded faces (masks) join their own person and never link two people."""

from __future__ import annotations

import dataclasses

import numpy as np

from facefile.cluster import create_clusterer
from tests.cluster_synth import faces_input, glasses_faces, synth_faces

AT_055 = {"threshold": 0.55, "attach_threshold": 0.55, "density_weight": 0.0}
"""The bar these drawings are laid around, fixed (no rise where strangers are few)."""
"""The linking bar these drawings were laid out around (each rule is relative to it)."""


def _masked_data(seed: int = 3):
    """Three people of 6 clean faces, one person with a single clean face, and
    one masked face per person (rows 19-22).

    Masked faces share one "mask" full-view descriptor (the mask, not the
    person, decides it), while their upper views stay near their person's.
    """
    data, truth = synth_faces(n_people=4, per_person=7, spread=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    keep = np.r_[np.arange(0, 6), np.arange(7, 13), np.arange(14, 20), 21, 6, 13, 20, 27]
    full = data.embeddings[keep].copy()
    truth = truth[keep]
    upper = full + rng.normal(size=full.shape).astype(np.float32) * (0.1 / np.sqrt(full.shape[1]))
    mask = rng.normal(size=full.shape[1]).astype(np.float32)
    mask *= 0.45 / np.linalg.norm(mask)
    masked = np.arange(19, 23)
    full[masked] = full[masked] * 0.3 + mask
    n = keep.size
    quality = np.full(n, 0.9, dtype=np.float32)
    quality[masked] = 0.1  # the occlusion measure put them under min_link_quality
    data = dataclasses.replace(
        data,
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=full,
        quality=quality,
        size_px=np.full(n, 100.0, dtype=np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, dtype=np.int64),
        previous_person=np.full(n, -1, dtype=np.int64),
        views={"upper": upper},
    )
    return data, truth, masked


def test_masked_face_joins_its_person_by_the_upper_view():
    data, truth, masked = _masked_data()
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(data).labels
    people = [labels[truth == t][0] for t in range(4)]
    assert -1 not in people and len(set(people)) == 4
    for row in masked:
        # never with another person; most join their own
        assert labels[row] in (-1, people[truth[row]])
    assert (labels[masked] >= 0).sum() >= 3
    # the person with one clean photo is paired with its masked face
    assert labels[18] == labels[masked[3]] >= 0


def test_masked_faces_never_link_two_people():
    data, truth, masked = _masked_data()
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(data).labels
    assert np.unique(labels[masked][labels[masked] >= 0]).size == (labels[masked] >= 0).sum()
    # at full quality the shared mask descriptor makes the masked faces one
    # cluster: the quality rule is what keeps them apart
    hq = dataclasses.replace(data, quality=np.full(truth.size, 0.9, dtype=np.float32))
    hq_labels = create_clusterer("average-linkage", **AT_055).fit_predict(hq).labels
    assert np.unique(hq_labels[masked]).size == 1 and hq_labels[masked[0]] >= 0


def _rms(x, y):
    return float(np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1).mean()))


def test_glassed_faces_rejoin_their_uncovered_selves_but_not_strangers_in_glasses():
    data = glasses_faces(shift=0.5, gap=0.52)
    e = data.embeddings
    # the premise: each pair of groups sits just beyond the merge threshold (0.55)
    assert 0.55 < _rms(e[:6], e[6:12]) < 0.59
    assert 0.55 < _rms(e[6:12], e[12:]) < 0.59
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(data).labels
    assert np.unique(labels[:12]).size == 1 and labels[0] >= 0  # one person, covered or not
    assert labels[12] >= 0 and labels[12] != labels[0] and np.unique(labels[12:]).size == 1
    # without the occlusion scores the glasses split person 0 in two
    blind = dataclasses.replace(data, occlusion=None)
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(blind).labels
    assert labels[0] != labels[6]
    off = create_clusterer("average-linkage", **AT_055, cover_bonus=0.0).fit_predict(data).labels
    assert off[0] != off[6]


def test_low_quality_glassed_faces_join_their_person_within_the_cover_allowance():
    data = glasses_faces(shift=0.5, gap=0.52)
    quality = data.quality.copy()
    quality[6:] = 0.1  # covered and low quality: they may join, never link
    data = dataclasses.replace(data, quality=quality)
    e = data.embeddings
    mean_to_person = [float(np.linalg.norm(e[i] - e[:6], axis=1).mean()) for i in range(6, 12)]
    assert all(0.55 < d < 0.60 for d in mean_to_person)  # beyond attach_threshold, within the allowance
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(data).labels
    assert labels[0] >= 0 and (labels[6:12] == labels[0]).sum() >= 5
    assert np.all(labels[12:] != labels[0])  # strangers in glasses stay out
    blind = (
        create_clusterer("average-linkage", **AT_055)
        .fit_predict(dataclasses.replace(data, occlusion=None))
        .labels
    )
    assert np.all(blind[6:12] != blind[0])


def _two_people(gap: float, eyes_covered: bool, seed: int = 11):
    """Two people of six faces whose centres are ``gap`` apart, all faces in
    glasses (eye score 0.9) or none."""
    rng = np.random.default_rng(seed)
    d = 128
    a = rng.normal(size=d)
    a *= 0.5 / np.linalg.norm(a)
    step = rng.normal(size=d)
    b = a + step * (gap / np.linalg.norm(step))
    full = np.vstack(
        [a + rng.normal(size=(6, d)) * (0.2 / np.sqrt(d)), b + rng.normal(size=(6, d)) * (0.2 / np.sqrt(d))]
    )
    occlusion = np.zeros((12, 3), dtype=np.float32)
    occlusion[:, 1] = 0.9 if eyes_covered else 0.0
    return faces_input(full, occlusion=occlusion)


def test_strangers_in_the_same_cover_need_to_be_closer_to_merge():
    bare = _two_people(gap=0.45, eyes_covered=False)
    e = bare.embeddings
    assert 0.51 < _rms(e[:6], e[6:]) < 0.55  # under threshold, within cover_penalty of it
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(bare).labels
    assert np.unique(labels).size == 1 and labels[0] >= 0  # as close as one person's faces
    glassed = (
        create_clusterer("average-linkage", **AT_055)
        .fit_predict(_two_people(gap=0.45, eyes_covered=True))
        .labels
    )
    assert glassed[0] >= 0 and glassed[0] != glassed[6]  # the same glasses make strangers alike
    assert np.unique(glassed[:6]).size == 1 and np.unique(glassed[6:]).size == 1
    no_penalty = create_clusterer("average-linkage", **AT_055, cover_penalty=0.0)
    assert np.unique(no_penalty.fit_predict(_two_people(gap=0.45, eyes_covered=True)).labels).size == 1


def _glasses_the_eye_score_missed(seed: int = 13):
    """Five people of six faces (rows 0-5, 12-35) and six faces of person 0 in
    glasses (rows 6-11) that no occlusion score flags. The glasses move the
    full view by 0.5 and make the upper views nearly alike."""
    rng = np.random.default_rng(seed)
    d = 128

    def unit():
        v = rng.normal(size=d)
        return v / np.linalg.norm(v)

    def noise(k, s=0.2):
        return rng.normal(size=(k, d)) * (s / np.sqrt(d))

    centres = [unit() * 0.5 + unit() * 0.6 * i for i in range(5)]
    glasses, lenses = unit() * 0.5, unit() * 0.5
    others = [c + noise(6) for c in centres[1:]]
    full = np.vstack([centres[0] + noise(6), centres[0] + glasses + noise(6), *others])
    upper = np.vstack([centres[0] + noise(6), centres[0] * 0.3 + lenses + noise(6, 0.05), *others])
    return faces_input(full, views={"upper": upper}, occlusion=np.zeros((full.shape[0], 3), dtype=np.float32))


def test_faces_whose_upper_view_collapsed_count_as_covered():
    data = _glasses_the_eye_score_missed()
    e = data.embeddings
    assert 0.55 < _rms(e[:6], e[6:12]) < 0.59  # beyond threshold, within the cover allowance
    labels = create_clusterer("average-linkage", **AT_055).fit_predict(data).labels
    assert labels[0] >= 0 and np.unique(labels[:12]).size == 1
    assert not np.isin(labels[12:], labels[0]).any()
    blind = create_clusterer("average-linkage", **AT_055, glasses_collapse=9.0).fit_predict(data).labels
    assert blind[0] != blind[6]
