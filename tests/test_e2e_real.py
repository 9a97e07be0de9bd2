"""End to end on real faces: scan, then score `faces --json` against true identities."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facefile.cli import app


def _scan(photos: Path, lib: Path, workers: int = 2) -> list[dict[str, object]]:
    runner = CliRunner()
    result = runner.invoke(app, ["scan", str(photos), "-L", str(lib), "--workers", str(workers), "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["faces", "--json", "-L", str(lib)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _labelled_face(rows: list[dict[str, object]], photo: str, size: tuple[int, int]) -> dict | None:
    """The face nearest the centre of ``photo`` (LFW's labelled face)."""
    cx, cy = size[0] / 2, size[1] / 2
    mine = [r for r in rows if r["photo"] == photo]
    if not mine:
        return None

    def dist(r: dict) -> float:
        left, top, right, bottom = r["box"]
        return float(np.hypot((left + right) / 2 - cx, (top + bottom) / 2 - cy))

    return min(mine, key=dist)


@pytest.mark.slow
def test_astronaut_is_found_once(astronaut: np.ndarray, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "p" / "astronaut.png")
    rows = _scan(tmp_path / "p", tmp_path / "lib", workers=1)
    assert len(rows) == 1
    left, top, right, bottom = rows[0]["box"]  # type: ignore[misc]
    assert abs(left - 175) < 25 and abs(top - 76) < 30 and abs(right - 265) < 25 and abs(bottom - 166) < 30


@pytest.mark.slow
def test_lfw_subset_is_grouped_by_person(lfw_dir: Path, tmp_path: Path) -> None:
    people = sorted(d for d in lfw_dir.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 5)
    rng = np.random.default_rng(7)
    chosen = [people[i] for i in sorted(rng.choice(len(people), size=8, replace=False))]
    photos = tmp_path / "photos"
    truth: dict[str, str] = {}
    for person in chosen:
        for src in sorted(person.glob("*.jpg"))[:5]:
            dst = photos / person.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            truth[str(dst)] = person.name
    rows = _scan(photos, tmp_path / "lib")
    labelled = {p: _labelled_face(rows, p, (250, 250)) for p in truth}
    found = [p for p, r in labelled.items() if r is not None]
    assert len(found) >= 0.95 * len(truth)
    same_true = same_pred = both = 0
    for a, b in itertools.combinations(found, 2):
        t = truth[a] == truth[b]
        pa, pb = labelled[a]["person"], labelled[b]["person"]  # type: ignore[index]
        p = pa is not None and pa == pb
        same_true += t
        same_pred += p
        both += t and p
    precision = both / max(same_pred, 1)
    recall = both / max(same_true, 1)
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.7, (precision, recall)
