"""Review questions and explanations, on seeded synthetic faces."""

from __future__ import annotations

import dataclasses

import numpy as np

from facefile.cluster import create_clusterer
from facefile.review.explain import SAME_PERSON_SIMILARITY, review, similarity, why
from tests.cluster_synth import synth_faces


def test_why_names_its_person_and_the_closest_other():
    data, truth = synth_faces(n_people=4, per_person=5, spread=0.3, seed=31)
    g = create_clusterer().fit_predict(data)
    w = why(data, g, 0)
    assert w.label == g.labels[0] >= 0
    assert len(w.nearest_in_person) == 3 and all(n.label == w.label for n in w.nearest_in_person)
    assert all(truth[n.row] == truth[0] for n in w.nearest_in_person)
    assert w.person_similarity > SAME_PERSON_SIMILARITY > w.other_similarity
    assert w.closest_other_label not in (-1, w.label)
    assert f"{w.person_similarity:.2f}" in w.summary and "same person usually >" in w.summary


def test_review_asks_first_about_the_merge_that_fixes_most():
    # one person split in two by a too-strict threshold -> merge question on top
    data, _truth = synth_faces(n_people=3, per_person=6, spread=0.3, seed=32)
    emb = data.embeddings.copy()
    shift = np.random.default_rng(0).normal(size=emb.shape[1]).astype(np.float32)
    emb[3:6] += shift / np.linalg.norm(shift) * 0.45
    data = dataclasses.replace(data, embeddings=emb)
    g = create_clusterer(threshold=0.4).fit_predict(data)
    assert g.labels[0] != g.labels[3]
    items = review(data, g, limit=5)
    top = items[0]
    assert top.kind == "merge" and {top.label, top.other_label} == {g.labels[0], g.labels[3]}
    assert 0 <= top.similarity <= 1 and items == sorted(items, key=lambda i: -i.priority)


def test_similarity_scale():
    assert similarity(0.0) == 1.0 and abs(similarity(0.6) - SAME_PERSON_SIMILARITY) < 1e-9
    assert similarity(5.0) == 0.0
