"""The bench's embedding cache serves an entry only while the code that made it is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import facefile_bench
import pytest
from facefile_bench import embedcache

import facefile


@pytest.mark.parametrize(
    "changed", ["facefile/analyze/quality.py", "facefile_bench/conditions.py", "facefile/detect/blazeface.py"]
)
def test_editing_analysis_or_a_drawing_changes_the_cache_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    for package in (facefile, facefile_bench):
        copy = tmp_path / package.__name__
        src = Path(package.__file__).parent
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setattr(package, "__file__", str(copy / "__init__.py"))
    copy = tmp_path / "facefile"
    before = embedcache._analysis_code_version()
    assert embedcache._analysis_code_version() == before
    (copy / "web" / "app.py").write_text("# not part of the analysis\n", encoding="utf-8")
    assert embedcache._analysis_code_version() == before
    with (tmp_path / changed).open("a", encoding="utf-8") as f:
        f.write("\n\n# a comment and blank lines change no result\n")
    assert embedcache._analysis_code_version() == before
    with (tmp_path / changed).open("a", encoding="utf-8") as f:
        f.write("CHANGED = 1\n")
    assert embedcache._analysis_code_version() != before
