"""BlazeFace first, dlib HOG as a second opinion.

BlazeFace finds faces behind masks, sunglasses and hands that HOG misses;
HOG boxes are the geometry dlib's 5-point predictor was trained on, and HOG
catches some small, blurry faces BlazeFace scores low. Both run on every
image (BlazeFace costs ~5 ms next to HOG's ~20 ms on a 250 px photo):

* faces both find keep HOG's box (best alignment), BlazeFace's keypoints and
  the higher score; ``detector`` is ``"cascade"``;
* BlazeFace-only faces keep their calibrated box (``"blazeface"``);
* HOG-only faces are kept when their squashed score reaches
  ``hog_min_score`` (``"dlib_hog"``); HOG's weakest windows are its most
  frequent false positives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from facefile.detect.blazeface import BlazeFaceDetector
from facefile.detect.dlib_hog import DlibHogDetector
from facefile.errors import ConfigError
from facefile.types import Detection, RGBImage


class CascadeDetector:
    """Union of BlazeFace and dlib HOG detections, merged by overlap.

    Args:
        upsample: dlib HOG upsampling (see :class:`DlibHogDetector`).
        hog_min_score: squashed HOG score a HOG-only face needs, ``[0, 1]``;
            0.7 (SVM margin 0.42) cost no recall on the LFW bench and drops
            the astronaut false positive, which scores 0.56-0.60.
        match_iou: overlap at which a HOG and a BlazeFace box are one face.
        blazeface: keyword arguments for :class:`BlazeFaceDetector`; by
            default ``min_score=0.45``, which measured best on occluded faces
            (half-face recall 0.98 vs 0.94-0.96 at 0.5) for a few more
            false positives.
    """

    name = "cascade"

    def __init__(
        self,
        upsample: int = 1,
        hog_min_score: float = 0.7,
        match_iou: float = 0.3,
        blazeface: dict[str, Any] | None = None,
    ) -> None:
        if not 0.0 <= hog_min_score <= 1.0:
            raise ConfigError(f"cascade hog_min_score={hog_min_score} must be in [0, 1].")
        self.hog = DlibHogDetector(upsample=upsample)
        self.blaze = BlazeFaceDetector(**{"min_score": 0.45, **(blazeface or {})})
        self.hog_min_score = float(hog_min_score)
        self.match_iou = float(match_iou)

    def detect(self, image: RGBImage) -> list[Detection]:
        """Find faces.

        Args:
            image: RGB ``uint8 (h, w, 3)``.

        Returns:
            Detections in pixels of ``image``, best first (see module doc for
            which box, keypoints and score each one carries).
        """
        blaze = self.blaze.detect(image)
        used = [False] * len(blaze)
        out: list[Detection] = []
        for h in self.hog.detect(image):
            ious = [h.box.iou(b.box) if not used[i] else 0.0 for i, b in enumerate(blaze)]
            j = max(range(len(ious)), key=ious.__getitem__, default=-1)
            if j >= 0 and ious[j] > self.match_iou:
                used[j] = True
                b = blaze[j]
                score = max(h.score, b.score)
                out.append(replace(h, score=score, detector=self.name, keypoints=b.keypoints))
            elif h.score >= self.hog_min_score:
                out.append(h)
        out.extend(b for i, b in enumerate(blaze) if not used[i])
        return sorted(out, key=lambda d: -d.score)
