"""Shared fixtures: real faces from scikit-image and, when present, ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LFW_DIR = SHARED_DATA / "lfw-dev"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The labelled LFW half; tests that need it skip where it is absent."""
    if not LFW_DIR.is_dir():
        pytest.skip(f"real-face data not found at {LFW_DIR} (see shared/data/README.md)")
    return LFW_DIR


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo: one frontal face, RGB uint8 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())
