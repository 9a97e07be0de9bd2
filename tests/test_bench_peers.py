"""Peer re-implementations against their reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from facefile_bench.metrics import score
from facefile_bench.peers import load_peer, peer_names


def blobs(n_ids: int = 12, per: int = 8, spread: float = 0.12, seed: int = 0) -> tuple:
    """Unit-scale identities in 128-d, dlib-like: within 0.3-0.4, between ~1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) * 1.4
    truth = np.repeat(np.arange(n_ids), per)
    x = centres[truth] + rng.normal(scale=spread / np.sqrt(128) * 2, size=(truth.size, 128))
    return x.astype(np.float32), truth


def test_chinese_whispers_matches_dlib() -> None:
    dlib = pytest.importorskip("dlib")
    x, truth = blobs()
    ours = load_peer("dlib-chinese-whispers").cluster(x, threshold=0.5)
    ref = np.array(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in x], 0.5))
    # Same graph, different random visiting order: the partitions must agree.
    assert score(ref, ours).pairwise_f == pytest.approx(1.0)
    assert score(truth, ours).bcubed_f > 0.99


def test_chinese_whispers_matches_dlib_on_ambiguous_graph() -> None:
    dlib = pytest.importorskip("dlib")
    x, _ = blobs(n_ids=20, per=6, spread=0.35, seed=3)
    ours = load_peer("dlib-chinese-whispers").cluster(x, threshold=0.55)
    ref = np.array(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in x], 0.55))
    assert abs(len(set(ours.tolist())) - len(set(ref.tolist()))) <= 3
    assert score(ref, ours).bcubed_f > 0.9


@pytest.mark.parametrize("threshold", [0.4, 0.6, 0.9])
def test_agglomerative_matches_sklearn(threshold: float) -> None:
    from sklearn.cluster import AgglomerativeClustering

    x, _ = blobs(spread=0.3, seed=1)
    ours = load_peer("agglomerative-average").cluster(x, threshold=threshold)
    ref = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, linkage="average"
    ).fit_predict(x)
    assert score(ref, ours).pairwise_f == pytest.approx(1.0)
    assert len(set(ours.tolist())) == len(set(ref.tolist()))


def test_hdbscan_matches_sklearn() -> None:
    from sklearn.cluster import HDBSCAN

    x, _ = blobs(seed=2)
    ours = load_peer("hdbscan").cluster(x, min_cluster_size=3, min_samples=2)
    ref = HDBSCAN(min_cluster_size=3, min_samples=2, copy=True).fit_predict(x.astype(np.float64))
    assert np.array_equal(ours, ref)


def test_infomap_finds_identities() -> None:
    x, truth = blobs(seed=4)
    labels = load_peer("infomap-knn").cluster(x, k=10, max_dist=0.5)
    assert score(truth, labels).bcubed_f > 0.95


def test_immich_rules() -> None:
    immich = load_peer("immich")
    # Three faces together start a person; a lone face stays unassigned; a
    # pair (two faces) is not core and has no person within reach.
    x = np.zeros((6, 2), np.float32)
    x[:3] = [[0, 0], [0.1, 0], [0, 0.1]]
    x[3] = [0.45, 0]  # joins the person through its nearest assigned face
    x[4] = [5, 5]
    x[5] = [9, 9]
    labels = immich.cluster(x, max_distance=0.5, min_faces=3)
    assert labels[0] == labels[1] == labels[2] == labels[3] >= 0
    assert labels[4] == labels[5] == -1
    with_history = immich.cluster(x, max_distance=0.5, min_faces=3, initial=np.array([7, -1, -1, -1, -1, -1]))
    assert (with_history[:4] == 7).all()


def test_photoprism_matches_leftovers_to_clusters() -> None:
    pp = load_peer("photoprism-dbscan")
    x, truth = blobs(seed=5)
    labels = pp.cluster(x, cluster_dist=0.35, core=3, match_dist=0.2)
    assert score(truth, labels).bcubed_f > 0.9


def test_rank_order_separates_identities() -> None:
    x, truth = blobs(seed=6)
    labels = load_peer("rank-order").cluster(x, k=10, threshold=1.0)
    assert score(truth, labels).bcubed_f > 0.9


@pytest.mark.parametrize("name", peer_names())
def test_every_peer_documents_itself_and_handles_tiny_input(name: str) -> None:
    mod = load_peer(name)
    assert mod.SOURCE and mod.GRID and isinstance(mod.DEFAULT, dict)
    assert mod.cluster(np.zeros((1, 128), np.float32), **mod.DEFAULT).shape == (1,)


def test_unknown_peer_lists_names() -> None:
    with pytest.raises(ValueError, match="available: dlib-chinese-whispers"):
        load_peer("nope")
