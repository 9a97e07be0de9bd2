"""dlib's HOG + linear SVM frontal face detector."""

from __future__ import annotations

import math

from facefile.errors import ConfigError
from facefile.models.dlib_loader import dlib_model
from facefile.types import BBox, Detection, RGBImage

HOG_SCORE_SCALE = 2.0
"""``det_score = sigmoid(HOG_SCORE_SCALE * svm_score)``.

dlib reports the raw SVM margin; its default threshold is 0, typical true
faces score 0.3-3. The squashing maps the threshold to 0.5, a margin of 1 to
0.88 and 2 to 0.98, so scores are comparable with BlazeFace's probabilities.
"""


def squash_svm_score(score: float, scale: float = HOG_SCORE_SCALE) -> float:
    """Map a raw dlib SVM/mmod margin to ``[0, 1]`` with a logistic curve."""
    return 1.0 / (1.0 + math.exp(-scale * float(score)))


class DlibHogDetector:
    """dlib ``get_frontal_face_detector``.

    Args:
        upsample: times the image is doubled before scanning. 0 finds faces of
            about 80 px and up, 1 about 40 px (``face_recognition``'s setting,
            4x slower), 2 about 20 px.
        threshold: SVM margin a window needs; lower finds more and fires more
            falsely.
    """

    name = "dlib_hog"

    def __init__(self, upsample: int = 1, threshold: float = 0.0) -> None:
        if not isinstance(upsample, int) or not 0 <= upsample <= 3:
            raise ConfigError(f"upsample={upsample!r} is out of range; use an integer 0..3.")
        self.upsample = upsample
        self.threshold = float(threshold)

    def detect(self, image: RGBImage) -> list[Detection]:
        """Find frontal faces.

        Args:
            image: RGB ``uint8 (h, w, 3)``.

        Returns:
            Detections in pixels of ``image``, best first; ``score`` is the
            squashed SVM margin (see :data:`HOG_SCORE_SCALE`).
        """
        rects, scores, _ = dlib_model("hog").run(image, self.upsample, self.threshold)
        h, w = image.shape[:2]
        out = [
            Detection(
                box=BBox(float(r.left()), float(r.top()), r.right() + 1.0, r.bottom() + 1.0).clipped(w, h),
                score=squash_svm_score(s),
                detector=self.name,
            )
            for r, s in zip(rects, scores, strict=True)
        ]
        return sorted(out, key=lambda d: -d.score)
