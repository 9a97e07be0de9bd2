"""The bench end to end on a tiny LFW subset (skips without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from facefile_bench.cli import bench_app
from facefile_bench.dataset import load_labelled
from typer.testing import CliRunner


def test_subset_keeps_pairs_and_distractors(lfw_dir: Path) -> None:
    ds = load_labelled(lfw_dir, limit=40, seed=0)
    assert 30 <= ds.n_images <= 40
    sizes = np.bincount(ds.labels())
    assert (sizes >= 2).sum() >= 3 and (sizes == 1).sum() >= 3
    assert max(sizes) <= 4  # limit // 10 per identity
    assert load_labelled(lfw_dir, limit=40, seed=0).paths == ds.paths


def test_quality_and_growth_cli(lfw_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    common = [
        "--data",
        str(lfw_dir),
        "--limit",
        "12",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "1",
    ]
    res = runner.invoke(
        bench_app, ["quality", *common, "--no-grid", "--peers", "dlib-chinese-whispers", "--peers", "immich"]
    )
    assert res.exit_code == 0, res.output
    md = sorted((tmp_path / "out").glob("*-quality.md"))
    assert md and "dlib-chinese-whispers" in md[0].read_text()
    assert (tmp_path / "out" / md[0].with_suffix(".png").name).exists()
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    res = runner.invoke(bench_app, ["growth", *common, "--steps", "2"])
    assert res.exit_code == 0, res.output
    assert "(cached)" in res.output and "one-shot" in res.output
    growth = sorted((tmp_path / "out").glob("*-growth.md"))[-1].read_text()
    assert "2: first" in growth  # the first increment's faces, scored again at the end


def test_unknown_condition_exits_1(tmp_path: Path) -> None:
    res = CliRunner().invoke(bench_app, ["quality", "--data", str(tmp_path), "--condition", "fog"])
    assert res.exit_code == 1
    assert "Unknown condition 'fog'" in res.output


def test_report_names_the_command_that_reproduces_it(monkeypatch) -> None:
    from facefile_bench.cli import _command

    argv = ["/venv/bin/facefile", "bench", "quality", "--limit", "5", "--out", "a b"]
    monkeypatch.setattr("sys.argv", argv)
    assert _command() == "facefile bench quality --limit 5 --out 'a b'"


def test_quality_puts_two_models_side_by_side(lfw_dir: Path, tmp_path: Path) -> None:
    """--embedder twice: each model's descriptors grouped by facefile and the peers, one table."""
    import json

    args = ["quality", "--data", str(lfw_dir), "--limit", "12", "--cache", str(tmp_path / "cache")]
    args += ["--out", str(tmp_path / "out"), "--workers", "1", "--no-grid", "--peers", "immich"]
    res = CliRunner().invoke(bench_app, [*args, "--embedder", "mobilefacenet", "--embedder", "dlib_resnet"])
    assert res.exit_code == 0, res.output
    rows = json.loads(next((tmp_path / "out").glob("*-quality.json")).read_text())["rows"]
    assert {(r["embedder"], r["algorithm"].split(" ")[0]) for r in rows} == {
        ("mobilefacenet", "facefile"),
        ("mobilefacenet", "immich"),
        ("dlib_resnet", "facefile"),
        ("dlib_resnet", "immich"),
        ("mobilefacenet", "plain"),
        ("dlib_resnet", "plain"),
    }
    md = next((tmp_path / "out").glob("*-quality.md")).read_text()
    assert "Generalisation (BCubed F, clean, dlib_resnet)" in md
    assert "Generalisation (BCubed F, clean, mobilefacenet)" in md
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # one cache entry per model


def test_quality_across_collections_prints_one_generalisation_table(lfw_dir: Path, tmp_path: Path) -> None:
    """Two --data collections (one a FOLDER:N subset): one column each, the mean, and both references."""
    import json
    import shutil

    own = tmp_path / "album"
    for person in ("Colin_Powell", "Tony_Blair"):
        (own / person).mkdir(parents=True)
        for f in sorted((lfw_dir / person).iterdir())[:3]:
            shutil.copy(f, own / person / f.name)
    args = ["quality", "--data", f"{lfw_dir}:12", "--data", str(own), "--cache", str(tmp_path / "cache")]
    args += ["--out", str(tmp_path / "out"), "--workers", "1", "--no-grid", "--peers", "immich"]
    res = CliRunner().invoke(bench_app, args)
    assert res.exit_code == 0, res.output
    md = next((tmp_path / "out").glob("*-quality.md")).read_text()
    table = md.split("## Generalisation (BCubed F, clean)")[1].split("##")[0]
    assert "| algorithm | setting | lfw-dev (12) | album | mean |" in table
    for row in ("| facefile", "| immich | peer default", "| plain average linkage | facefile's bar"):
        assert row in table
    best = next(line for line in table.splitlines() if "best single bar" in line)
    cells = [c.strip() for c in best.strip("|").split("|")]
    assert cells[3].startswith("1.000")  # six faces of two people: some bar separates them exactly
    rows = json.loads(next((tmp_path / "out").glob("*-quality.json")).read_text())["rows"]
    assert {r["collection"] for r in rows} == {"lfw-dev (12)", "album"}
