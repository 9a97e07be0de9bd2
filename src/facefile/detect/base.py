"""The detector interface."""

from __future__ import annotations

from typing import Protocol

from facefile.types import Detection, RGBImage


class Detector(Protocol):
    """Finds faces in one image.

    Implementations load their weights lazily on the first call and are
    cheap to construct. ``detect`` returns boxes in pixels of the image it
    was given, best first.
    """

    name: str

    def detect(self, image: RGBImage) -> list[Detection]: ...
