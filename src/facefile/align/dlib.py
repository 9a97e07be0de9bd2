"""Face alignment for dlib's descriptor: dlib's 5-point landmarks and ``get_face_chip``.

Needs the ``dlib`` extra (``pip install 'facefile[dlib]'``). Chips are always
cut from the original pixels, whatever resolution the detector saw, so a
downscaled detection pass never blurs the embedding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from facefile.errors import ConfigError
from facefile.models.dlib_loader import dlib_model
from facefile.types import AlignedFace, BBox, Detection, RGBImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""Chip geometry dlib's ResNet descriptor was trained on."""


def to_dlib_rect(box: BBox) -> Any:
    """A :class:`BBox` (exclusive right/bottom) as an inclusive ``dlib.rectangle``."""
    import dlib

    return dlib.rectangle(round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1)


class DlibAligner:
    """Finds dlib's 5 landmarks in a face box and cuts an aligned chip.

    Args:
        chip_size: side of the square chip in pixels.
        padding: margin around the face as a fraction of its size (dlib's
            ``get_face_chip`` convention).
    """

    def __init__(self, chip_size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> None:
        if chip_size < 32:
            raise ConfigError(f"chip_size={chip_size} is too small; use at least 32 (150 for dlib).")
        if not 0.0 <= padding <= 1.0:
            raise ConfigError(f"padding={padding} is out of range; use 0..1 (0.25 for dlib).")
        self.chip_size = chip_size
        self.padding = padding

    def shape(self, image: RGBImage, box: BBox) -> Any:
        """dlib ``full_object_detection`` of the 5-point model inside ``box``."""
        return dlib_model("shape5")(image, to_dlib_rect(box))

    def landmarks(self, image: RGBImage, box: BBox) -> NDArray[np.float32]:
        """The 5 landmarks inside ``box``.

        Returns:
            ``float32 (5, 2)`` ``(x, y)`` in image pixels, in dlib's order:
            0-1 outer and inner corner of the eye on the image's right, 2-3
            outer and inner corner of the eye on the image's left, 4 the base
            of the nose.
        """
        return shape_points(self.shape(image, box))

    def align(self, image: RGBImage, detection: Detection) -> AlignedFace:
        """Landmarks and chip of one face.

        Args:
            image: original RGB ``uint8 (h, w, 3)``.
            detection: the face; only its box is used.

        Returns:
            An :class:`AlignedFace` whose ``uint8 (chip_size, chip_size, 3)``
            chip is also its quality chip, with ``float32 (5, 2)`` landmarks.
        """
        return self.align_box(image, detection.box)

    def align_box(self, image: RGBImage, box: BBox) -> AlignedFace:
        """:meth:`align` for a bare box."""
        import dlib

        shape = self.shape(image, box)
        chip = np.ascontiguousarray(
            dlib.get_face_chip(image, shape, size=self.chip_size, padding=self.padding)
        )
        pts = shape_points(shape)
        return AlignedFace(chip=chip, landmarks=pts, quality_chip=chip, eyes_nose=eyes_nose(pts))


def eyes_nose(pts: NDArray[np.float32]) -> NDArray[np.float32]:
    """dlib's 5 points (eye corners on the image's right, then left, nose base) as
    eye on the image's left, eye on its right, nose: ``float32 (3, 2)``."""
    return np.stack([pts[2:4].mean(axis=0), pts[0:2].mean(axis=0), pts[4]]).astype(np.float32)


def shape_points(shape: Any) -> NDArray[np.float32]:
    """Points of a dlib ``full_object_detection`` as ``float32 (n, 2)`` ``(x, y)``."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32).reshape(-1, 2)
