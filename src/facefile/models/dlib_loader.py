"""dlib's models, loaded once per process on first use.

Backends ask for a model here instead of holding it, so they stay cheap to
build and pickle (process-pool workers load their own copy on first call).
The model files are the public-domain ones of ``face_recognition_models``;
dlib and those files come with the optional ``dlib`` extra.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from facefile.errors import ConfigError


@cache
def dlib_model(name: str) -> Any:
    """The dlib object for ``name``: ``hog``, ``cnn``, ``shape5`` or ``resnet``.

    Raises:
        KeyError: an unknown name (a programming error, not user input).
        ConfigError: dlib or its model files are not installed.
    """
    try:
        import dlib
        import face_recognition_models as files
    except ImportError as exc:
        raise ConfigError(
            f"The dlib models need the optional 'dlib' extra ({exc.name} is not installed): "
            "pip install 'facefile[dlib]', or use the default detector and embedder."
        ) from None

    loaders = {
        "hog": lambda: dlib.get_frontal_face_detector(),
        "cnn": lambda: dlib.cnn_face_detection_model_v1(files.cnn_face_detector_model_location()),
        "shape5": lambda: dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
        "resnet": lambda: dlib.face_recognition_model_v1(files.face_recognition_model_location()),
    }
    return loaders[name]()
