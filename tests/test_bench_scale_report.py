"""Synthetic scale data, the scale runner and the report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from facefile_bench.report import plot_conditions, plot_scale, table, write_run
from facefile_bench.scale import run_scale, synthetic


def test_synthetic_has_identity_structure() -> None:
    x, ident = synthetic(3000, seed=0)
    assert x.shape == (3000, 128) and x.dtype == np.float32
    sizes = np.bincount(ident)
    sizes = sizes[sizes > 0]
    assert 0.4 < (sizes == 1).mean() < 0.85  # mostly singletons, like LFW
    assert sizes.max() >= 20
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 3000, size=(2, 20000))
    d = np.linalg.norm(x[i] - x[j], axis=1)
    same = ident[i] == ident[j]
    assert 0.3 < np.median(d[same & (i != j)]) < 0.55
    assert 0.75 < np.median(d[~same]) < 1.0
    assert np.array_equal(synthetic(500, seed=4)[0], synthetic(500, seed=4)[0])


def test_run_scale_times_and_skips() -> None:
    rows = run_scale([400], ["facefile", "immich", "agglomerative-average"], timeout_s=120)
    by = {r["algorithm"]: r for r in rows}
    assert by["immich"]["status"] == "ok" and by["immich"]["seconds"] > 0
    assert by["facefile"]["status"] == "ok" and by["facefile"]["bcubed_f"] > 0.5
    skipped = run_scale([10**7], ["agglomerative-average"])
    assert skipped[0]["status"] == "skipped" and "MAX_FACES" in skipped[0]["reason"]


def test_report_files(tmp_path: Path) -> None:
    rows = [
        {
            "algorithm": "a",
            "kind": "peer default",
            "condition": "clean",
            "bcubed_f": 0.9,
            "params": {"t": 0.5},
        },
        {"algorithm": "a", "kind": "peer default", "condition": "mask", "bcubed_f": 0.7, "params": {}},
    ]
    md_table = table(rows, [("algorithm", "alg"), ("params", "p"), ("bcubed_f", "B3 F")])
    assert "| a | t=0.5 | 0.900 |" in md_table
    md, js = write_run(tmp_path / "out", "quality", "facefile bench quality", {"T": md_table}, {"rows": rows})
    assert md.name.endswith("-quality.md") and "facefile bench quality" in md.read_text()
    assert json.loads(js.read_text())["rows"][1]["bcubed_f"] == 0.7
    png = plot_conditions(rows, tmp_path / "q.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    srows = [
        {"algorithm": "f", "status": "ok", "n_faces": n, "seconds": n / 1e3, "peak_mb": n / 1e2}
        for n in (10, 100)
    ]
    assert plot_scale(srows, tmp_path / "s.png").stat().st_size > 1000
