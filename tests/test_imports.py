"""Importing facefile and asking for help stay light: no model runtime, no faiss, no scipy.ndimage.

Each check runs a fresh interpreter with ``-X importtime`` and reads the
modules it loaded, so a stray top-level import anywhere in the chain fails it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from facefile.analyze.analyzer import AnalyzeConfig
from facefile.embed import MODEL_IDS, create_embedder

HEAVY = ("onnxruntime", "faiss", "scipy.ndimage")
HELP = (
    "import sys; sys.argv = ['facefile', '--help']\n"
    "from facefile.cli import main\n"
    "try: main()\nexcept SystemExit: pass"
)


def _loaded(code: str) -> tuple[set[str], str]:
    """The modules a fresh ``python -c code`` imports, and what it printed."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "FACEFILE_PLUGINS": ""},
        check=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    return names, done.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import facefile",
        "from facefile import Library",
        HELP,
    ],
    ids=["import facefile", "facefile.Library", "facefile --help"],
)
def test_import_loads_no_model_runtime_index_or_ndimage(code):
    names, _ = _loaded(code)
    assert "facefile" in names
    assert sorted(n for n in names if n.split(".")[0] in HEAVY or n in HEAVY) == []


def test_help_loads_no_numpy():
    names, out = _loaded(HELP)
    assert "scan" in out and "numpy" not in names


def test_model_id_of_the_default_settings_is_known_without_onnxruntime():
    names, out = _loaded(
        "from facefile.config import load_settings\nprint(load_settings(None, environ={}).analyze.model_id)"
    )
    assert "onnxruntime" not in names
    assert out.strip() == create_embedder("mobilefacenet").model_id == "mobilefacenet_192d_v1"


@pytest.mark.parametrize("name", sorted(MODEL_IDS))
def test_each_builtin_model_id_matches_its_embedder(name):
    assert AnalyzeConfig(embedder=name).model_id == create_embedder(name).model_id
