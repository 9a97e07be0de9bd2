"""Face detectors, by name.

Built-in backends register through :data:`DETECTORS` exactly like outside
ones; their modules (and model files) are only imported when a detector is
created, so importing this package does no work.

Names: ``blazeface`` (the default, shipped inside facefile), and with the
``dlib`` extra ``dlib_hog``, ``dlib_cnn`` and ``cascade`` (BlazeFace with dlib
HOG as a second opinion, facefile 0.1's default).
"""

from __future__ import annotations

from typing import Any

from facefile.detect.base import Detector
from facefile.registry import Registry

DETECTORS: Registry[Detector] = Registry("detector", "--detector")


def _dlib_hog(**kw: Any) -> Detector:
    from facefile.detect.dlib_hog import DlibHogDetector

    return DlibHogDetector(**kw)


def _dlib_cnn(**kw: Any) -> Detector:
    from facefile.detect.dlib_cnn import DlibCnnDetector

    return DlibCnnDetector(**kw)


def _blazeface(**kw: Any) -> Detector:
    from facefile.detect.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(**kw)


def _cascade(**kw: Any) -> Detector:
    from facefile.detect.cascade import CascadeDetector

    return CascadeDetector(**kw)


DETECTORS.register("dlib_hog", _dlib_hog)
DETECTORS.register("dlib_cnn", _dlib_cnn)
DETECTORS.register("blazeface", _blazeface)
DETECTORS.register("cascade", _cascade)


def create_detector(name: str, **kwargs: Any) -> Detector:
    """Build the detector registered as ``name``.

    Args:
        name: a name from ``DETECTORS.names()``.
        **kwargs: passed to the backend (e.g. ``upsample=1`` for ``dlib_hog``).

    Returns:
        A detector; its model loads on the first ``detect`` call.

    Raises:
        UnknownBackendError: ``name`` is not registered.
    """
    return DETECTORS.create(name, **kwargs)


__all__ = ["DETECTORS", "Detector", "create_detector"]
