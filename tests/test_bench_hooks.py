"""The bench reaches facefile only through its public hooks: a step callback and a registered model.

``bench scale`` splits facefile's time between the neighbour graph and the
linkage through ``GroupingInput.on_step``; ``bench scale --store`` names its
synthetic vectors' model by registering an embedder, as a plugin would.
"""

from __future__ import annotations

import numpy as np

from facefile.cluster import create_clusterer
from facefile.cluster.base import GroupingInput


def test_the_clusterer_reports_its_graph_step_and_the_result_is_the_same() -> None:
    from facefile_bench.scale import synthetic

    x, _ = synthetic(1500, seed=2)
    n = x.shape[0]
    steps: list[tuple[str, float]] = []
    kw = dict(
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=x,
        quality=np.ones(n, np.float32),
        size_px=np.full(n, 100.0, np.float32),
        photo_ids=np.arange(n, dtype=np.int64),
        user_person=np.full(n, -1, np.int64),
        previous_person=np.full(n, -1, np.int64),
    )
    heard = create_clusterer().fit_predict(GroupingInput(**kw, on_step=lambda s, t: steps.append((s, t))))
    quiet = create_clusterer().fit_predict(GroupingInput(**kw))
    assert [s for s, _ in steps] == ["graph"] and steps[0][1] > 0
    assert np.array_equal(heard.labels, quiet.labels)


def test_scale_worker_splits_graph_and_linkage_time() -> None:
    from facefile_bench.scale import _worker

    out = _worker("facefile", 2000, 0)
    assert 0 < out["graph_seconds"] < out["seconds"]
    assert out["linkage_seconds"] == out["seconds"] - out["graph_seconds"]
    assert out["bcubed_f"] > 0.5


def test_store_scale_groups_synthetic_vectors_under_their_registered_model(tmp_path) -> None:
    from facefile_bench.store_scale import MODEL_ID, run_store_scale

    from facefile.config import load_settings
    from facefile.embed import model_id

    out = run_store_scale(str(tmp_path / "lib"), 500, seed=0)
    assert out["people"] > 10 and out["placed"] > 100
    assert model_id("synthetic") == MODEL_ID
    settings = load_settings(None, {"analyze.embedder": "synthetic"}, environ={})
    assert settings.analyze.model_id == MODEL_ID
