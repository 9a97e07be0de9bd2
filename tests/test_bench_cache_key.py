"""The bench's embedding cache serves an entry only while the code that made it is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from facefile_bench import embedcache

import facefile


@pytest.mark.parametrize("changed", ["analyze/quality.py", "bench:conditions.py", "detect/blazeface.py"])
def test_editing_analysis_or_a_drawing_changes_the_cache_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    src = Path(facefile.__file__).parent
    copy = tmp_path / "facefile"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(facefile, "__file__", str(copy / "__init__.py"))
    bench = tmp_path / "facefile_bench"  # the drawings live in the bench, beside embedcache
    shutil.copytree(Path(embedcache.__file__).parent, bench, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(embedcache, "__file__", str(bench / "embedcache.py"))
    target = bench / changed.split(":")[1] if changed.startswith("bench:") else copy / changed
    before = embedcache._analysis_code_version()
    assert embedcache._analysis_code_version() == before
    (copy / "web" / "app.py").write_text("# not part of the analysis\n", encoding="utf-8")
    assert embedcache._analysis_code_version() == before
    with target.open("a", encoding="utf-8") as f:
        f.write("\n\n# a comment and blank lines change no result\n")
    assert embedcache._analysis_code_version() == before
    with target.open("a", encoding="utf-8") as f:
        f.write("CHANGED = 1\n")
    assert embedcache._analysis_code_version() != before
