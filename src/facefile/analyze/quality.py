"""How far a face can be trusted: size, sharpness, detector score, pose and occlusion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from facefile.analyze.facelike import face_likeness
from facefile.types import FaceQuality, RGBImage

FULL_SIZE_PX = 80.0
"""Faces this big or bigger get the full size factor; dlib's descriptor was
trained on faces of about this size."""
MIN_SIZE_PX = 16.0
"""Faces this small or smaller get a size factor of 0."""
SHARPNESS_HALF = 60.0
"""Laplacian variance of a 150 px chip that gets a sharpness factor of 0.5.
Clean LFW chips measure 100-1000; 20 px faces upscaled measure under 30."""


def sharpness(chip: RGBImage) -> float:
    """Variance of the Laplacian of the grey chip.

    Args:
        chip: RGB ``uint8 (s, s, 3)`` aligned chip.

    Returns:
        Non-negative float; higher is sharper. Only comparable between chips
        of the same size.
    """
    from scipy import ndimage  # here, not at import: scipy.ndimage takes a quarter second to load

    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(ndimage.laplace(grey).var())


def yaw_from_landmarks(eyes_nose: NDArray[np.float32]) -> float:
    """Head turn from the eyes and the nose.

    Args:
        eyes_nose: ``float32 (3, 2)`` ``(x, y)`` pixels: the eye on the image's
            left, the eye on its right, the nose (tip or base).

    Returns:
        ``-1`` .. ``1``: the nose's offset from the midpoint between the eyes,
        along the eye line, in half eye distances. 0 is frontal; positive means
        the nose points toward the image's right. Profiles saturate at +-1.
    """
    pts = np.asarray(eyes_nose, dtype=np.float64)
    if pts.shape != (3, 2):
        return 0.0
    eye_l, eye_r, nose = pts
    axis = eye_r - eye_l
    dist = float(np.hypot(*axis))
    if dist < 1e-6:
        return 0.0
    offset = float(np.dot(nose - (eye_l + eye_r) / 2.0, axis / dist))
    return float(np.clip(offset / (dist / 2.0), -1.0, 1.0))


# Occlusion: regions of dlib's aligned chip (150 px, padding 0.25; eyes at
# y ~0.4, mouth ~0.75) as (y0, y1, x0, x1) fractions of the side.
_REF_PATCHES = (
    (0.18, 0.30, 0.32, 0.48),  # forehead, image left
    (0.18, 0.30, 0.52, 0.68),  # forehead, image right
    (0.36, 0.44, 0.45, 0.55),  # nose bridge
    (0.48, 0.60, 0.20, 0.33),  # cheek, image left
    (0.48, 0.60, 0.67, 0.80),  # cheek, image right
)
_HIGH_FOREHEAD = (0.04, 0.12, 0.38, 0.62)
_LOWER = (0.60, 0.88, 0.33, 0.67)
_EYES = ((0.34, 0.46, 0.24, 0.44), (0.34, 0.46, 0.56, 0.76))
_HALVES = ((0.25, 0.85, 0.22, 0.48), (0.25, 0.85, 0.52, 0.78))
CHROMA_TOL = 14.0
"""CbCr distance (0-255 scale) within which a pixel matches the face's own skin."""
EYES_WEIGHT = 0.25
"""Share of the eye occlusion that lowers ``score``. Dark-glassed faces still
group well by the full view (on the bench, 95% are nearer their own person
than any other) and do better as linkers; masks and half covers do not."""
WARM_CRCB = 8.0
"""Cr - Cb above which a patch has a skin-like warm hue (skin of every tone does)."""
DARK_RATIO = 0.45
"""Pixels darker than this share of the skin's luminance count as not skin."""
SAME_SKIN_TOL = 10.0
"""CbCr distance within which the skin above the brows and a cheek are one
surface, for :func:`_below_tint`: tighter than ``CHROMA_TOL``, because a
skin-coloured mask can come within that of the forehead."""
SHADE_RATIO = 0.7
"""A brow band darker than this share of the skin above it may be behind
tinted lenses (:func:`_below_tint`)."""
BRIGHT_RATIO = 1.9
"""Pixels brighter than this multiple of the skin's luminance count as not skin."""
_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)


def _ycc(chip: RGBImage) -> NDArray[np.float32]:
    out = chip.astype(np.float32) @ _YCC.T
    out[..., 1:] += 128.0
    return out


def _cut(a: NDArray[np.float32], s: int, r: tuple[float, float, float, float]) -> NDArray[np.float32]:
    return a[int(r[0] * s) : int(r[1] * s), int(r[2] * s) : int(r[3] * s)]


def _agree(a: NDArray[np.float64], b: NDArray[np.float64], tol: float = CHROMA_TOL) -> bool:
    """Two ``(Y, Cb, Cr)`` medians look like the same surface."""
    near = np.hypot(*(a[1:] - b[1:])) < tol
    return bool(near and 0.7 < a[0] / max(b[0], 1.0) < 1.43)


def _patch_medians(ycc: NDArray[np.float32]) -> NDArray[np.float64]:
    s = ycc.shape[0]
    return np.array([np.median(_cut(ycc, s, r).reshape(-1, 3), axis=0) for r in _REF_PATCHES])


def _below_tint(ycc: NDArray[np.float32], pm: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """The cheeks' ``(Y, Cb, Cr)`` where the brow band looks tinted, else ``None``.

    Tinted lenses darken the forehead patches that :func:`_skin_reference`
    prefers, so a bare lower face reads as covered.
    The tell: the skin above the brows matches a warm cheek below them while
    the band between is much darker and unlike both. ``pm``: the
    :func:`_patch_medians` of ``ycc``.
    """
    top = np.median(_cut(ycc, ycc.shape[0], _HIGH_FOREHEAD).reshape(-1, 3), axis=0)
    cheeks = [i for i in (3, 4) if _agree(top, pm[i], SAME_SKIN_TOL) and pm[i, 2] - pm[i, 1] >= WARM_CRCB]
    band_dark = max(pm[0, 0], pm[1, 0]) < SHADE_RATIO * top[0]
    if cheeks and band_dark and not (_agree(top, pm[0]) or _agree(top, pm[1])):
        return pm[cheeks].mean(axis=0)
    return None


def _skin_reference(pm: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(Y, Cb, Cr)`` of this face's own skin, from patches occluders rarely share.

    The forehead is used when both sides agree and neither is both dark and
    cold-hued (masks and half covers leave at least one side; big dark
    lenses may reach it). Otherwise the lit patch that agrees with most others wins,
    preferring the forehead, then warmer hues (skin of every tone has Cr > Cb;
    grey, black and blue covers do not). ``pm``: the :func:`_patch_medians`
    of the chip.
    """

    def agree(i: int, j: int) -> bool:
        return _agree(pm[i], pm[j])

    # dark and not warm: a lens or a shadow, never the skin reference (dark skin is warm)
    lit = (pm[:, 0] >= DARK_RATIO * pm[:, 0].max()) | (pm[:, 2] - pm[:, 1] >= WARM_CRCB)
    if agree(0, 1) and lit[0] and lit[1]:
        return (pm[0] + pm[1]) / 2.0
    cand = [i for i in range(len(pm)) if lit[i]] or list(range(len(pm)))
    votes = [
        sum(agree(i, j) for j in range(len(pm)) if j != i)
        + 0.5 * (i < 2)
        + float(np.clip((pm[i, 2] - pm[i, 1]) / 200.0, 0.0, 0.4))
        for i in cand
    ]
    return pm[cand[int(np.argmax(votes))]]


def occlusion(chip: RGBImage) -> tuple[float, float, float]:
    """How likely the lower face, the eyes, or one half of the face are covered.

    Each pixel is compared with the face's own skin (:func:`_skin_reference`),
    so skin tone and overall lighting matter little. Measured on 150 LFW
    chips per condition (``facefile bench``'s drawings): 1% of clean faces
    (also in greyscale or at half the light) reach 0.5 in the lower or side
    score; 97% of masked faces (lower), 85% of dark-glassed (eyes) and 82% of
    half-covered faces (side) do. Under see-through tinted lenses (the bench's
    ``shades``, not tuned on) 8% of faces read as lower-covered (32% before
    :func:`_below_tint`).

    Args:
        chip: RGB ``uint8 (s, s, 3)`` aligned chip (dlib layout, padding 0.25).

    Returns:
        ``(lower, eyes, side)`` in ``[0, 1]``: lower = share of the
        nose-mouth-chin region unlike skin; eyes = share of the darker eye
        region far darker than skin (dark glasses cover both); side = how much
        the left and right halves disagree in skin share and texture.
    """
    ycc = _ycc(chip)
    s = ycc.shape[0]
    pm = _patch_medians(ycc)
    y0, cb0, cr0 = _skin_reference(pm)
    nonskin = _unlike(ycc, (y0, cb0, cr0))
    # eyes are judged against the brightest skin patch, so shade on the forehead does not hide lenses
    y_ref = max([float(y0)] + [float(c[0]) for c in pm[3:] if np.hypot(c[1] - cb0, c[2] - cr0) < CHROMA_TOL])
    dark = ycc[..., 0] < DARK_RATIO * max(y_ref, 1.0)
    lower_share = float(_cut(nonskin, s, _LOWER).mean())
    tinted = _below_tint(ycc, pm)
    if tinted is not None:  # covered only if unlike both readings of the skin
        lower_share = min(lower_share, float(_cut(_unlike(ycc, tinted), s, _LOWER).mean()))
    eyes_share = min(float(_cut(dark, s, r).mean()) for r in _EYES)
    from scipy import ndimage

    grad = ndimage.gaussian_gradient_magnitude(ycc[..., 0], 1.5)
    skin_gap = abs(float(_cut(nonskin, s, _HALVES[0]).mean()) - float(_cut(nonskin, s, _HALVES[1]).mean()))
    g = sorted(float(np.median(_cut(grad, s, r))) for r in _HALVES)
    texture_gap = 1.0 - g[0] / max(g[1], 1e-3)  # a flat cover has no texture
    lower = np.clip((lower_share - 0.5) / 0.35, 0.0, 1.0)
    eyes = np.clip((eyes_share - 0.1) / 0.2, 0.0, 1.0)
    side = np.clip((0.5 * (skin_gap + texture_gap) - 0.35) / 0.3, 0.0, 1.0)
    return float(lower), float(eyes), float(side)


def _unlike(ycc: NDArray[np.float32], ref: Sequence[float]) -> NDArray[np.bool_]:
    """Pixels unlike the skin ``ref`` ``(Y, Cb, Cr)``: another hue, far darker or brighter."""
    lum = ycc[..., 0] / max(float(ref[0]), 1.0)
    return (
        (np.hypot(ycc[..., 1] - ref[1], ycc[..., 2] - ref[2]) > CHROMA_TOL)
        | (lum < DARK_RATIO)
        | (lum > BRIGHT_RATIO)
    )


def combined_score(
    size_px: float, sharp: float, det_score: float, yaw: float, occluded: float = 0.0
) -> float:
    """One quality number in ``[0, 1]``: a weighted geometric mean of factors.

    Size weighs most (small faces give the least reliable descriptors), then
    sharpness, then detector confidence and frontality. The result is then
    scaled by ``1 - occluded`` (the largest occlusion score), so a face half
    hidden by a mask or a hand falls under the clusterer's
    ``min_link_quality`` (0.3): it may join a person, never link two.
    """
    size_f = np.clip((size_px - MIN_SIZE_PX) / (FULL_SIZE_PX - MIN_SIZE_PX), 0.0, 1.0)
    sharp_f = sharp / (sharp + SHARPNESS_HALF) if sharp > 0 else 0.0
    pose_f = 1.0 - 0.7 * min(abs(yaw), 1.0)
    det_f = float(np.clip(det_score, 0.0, 1.0))
    score = size_f**0.35 * sharp_f**0.25 * det_f**0.2 * pose_f**0.2
    score *= 1.0 - float(np.clip(occluded, 0.0, 1.0))
    return float(np.clip(score, 0.0, 1.0))


def detection_prospect(size_px: float, det_score: float, eyes_nose: NDArray[np.float32]) -> float:
    """The part of :func:`combined_score` a detection alone tells: size, detector score and head turn.

    Sharpness and occlusion need the aligned face; here they count as the
    best, so the prospect is at least the score the measured face gets (with
    the same keypoints). A video's tracker measures a face it already placed
    only where its prospect could beat the track's best views.

    Args:
        size_px: face size in pixels (``BBox.size_px``).
        det_score: detector score in ``[0, 1]``.
        eyes_nose: ``float32 (3, 2)`` the detector's keypoints: eye on the
            image's left, eye on its right, nose tip.
    """
    size_f = np.clip((size_px - MIN_SIZE_PX) / (FULL_SIZE_PX - MIN_SIZE_PX), 0.0, 1.0)
    pose_f = 1.0 - 0.7 * min(abs(yaw_from_landmarks(eyes_nose)), 1.0)
    det_f = float(np.clip(det_score, 0.0, 1.0))
    return float(size_f**0.35 * det_f**0.2 * pose_f**0.2)


def face_quality(
    size_px: float,
    chip: RGBImage,
    det_score: float,
    eyes_nose: NDArray[np.float32],
    nonface: float = float("nan"),
) -> FaceQuality:
    """All quality measures of one face.

    Args:
        size_px: face size in original pixels (``BBox.size_px``).
        chip: the RGB ``uint8`` quality chip (``AlignedFace.quality_chip``, dlib layout).
        det_score: detector score in ``[0, 1]``.
        eyes_nose: ``float32 (3, 2)`` (``AlignedFace.eyes_nose``), image pixels.
        nonface: the descriptor's similarity to no face
            (:func:`facefile.analyze.facelike.nonface_similarity`; NaN: not
            measured); a face that looks like none gets quality 0.
    """
    sharp = sharpness(chip)
    yaw = yaw_from_landmarks(eyes_nose)
    lower, eyes, side = occlusion(chip)
    return FaceQuality(
        size_px=float(size_px),
        sharpness=sharp,
        det_score=float(det_score),
        yaw=yaw,
        score=combined_score(size_px, sharp, det_score, yaw, max(lower, EYES_WEIGHT * eyes, side))
        * face_likeness(nonface),
        occlusion_lower=lower,
        occlusion_eyes=eyes,
        occlusion_side=side,
        nonface=float(nonface),
    )
