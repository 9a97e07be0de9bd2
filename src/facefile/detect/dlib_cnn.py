"""dlib's CNN (max-margin object detection) face detector."""

from __future__ import annotations

from facefile.detect.dlib_hog import squash_svm_score
from facefile.errors import ConfigError
from facefile.models.dlib_loader import dlib_model
from facefile.types import BBox, Detection, RGBImage


class DlibCnnDetector:
    """dlib ``cnn_face_detection_model_v1`` with the mmod model of
    ``face_recognition_models``.

    Finds turned and partly covered faces HOG misses, but costs about a second
    per megapixel on a laptop CPU; best as a fallback.

    Args:
        upsample: times the image is doubled before scanning (0 finds faces of
            about 80 px; each step halves that and quadruples the time).
    """

    name = "dlib_cnn"

    def __init__(self, upsample: int = 0) -> None:
        if not isinstance(upsample, int) or not 0 <= upsample <= 2:
            raise ConfigError(f"upsample={upsample!r} is out of range; use an integer 0..2.")
        self.upsample = upsample

    def detect(self, image: RGBImage) -> list[Detection]:
        """Find faces.

        Args:
            image: RGB ``uint8 (h, w, 3)``.

        Returns:
            Detections in pixels of ``image``, best first; ``score`` is the
            squashed mmod confidence.
        """
        h, w = image.shape[:2]
        out = []
        for d in dlib_model("cnn")(image, self.upsample):
            r = d.rect
            box = BBox(float(r.left()), float(r.top()), r.right() + 1.0, r.bottom() + 1.0).clipped(w, h)
            out.append(Detection(box=box, score=squash_svm_score(d.confidence), detector=self.name))
        return sorted(out, key=lambda d: -d.score)
