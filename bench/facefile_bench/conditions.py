"""Seeded synthesis of hard conditions on clean labelled images.

Geometry comes from the *clean* image: dlib's 68-point landmarks
(``face_recognition_models.pose_predictor_model_location()``) on the face
nearest the centre found by dlib's HOG detector (upsample 1); when HOG finds
nothing, on a centred box covering 44% of the image (LFW deep-funneled faces
sit at about (70, 70)-(180, 180) in 250x250). The real pipeline then runs on
the modified image.

Conditions:

* ``mask``: a face mask over nose, mouth and chin (jaw points 2-16 and the
  nose bridge), one of three shapes (surgical, rounded, pointed N95) in one
  of several colours;
* ``sunglasses``: dark lenses over both eyes (ellipses around each eye's
  landmarks, enlarged) and a bridge;
* ``lowres``: the image shrunk so the face is 14-28 px wide, then scaled back;
* ``occlusion``: the left or right half of the face covered by a flat patch;
* ``mixed``: one of the four above, chosen per image.

Check conditions, drawn differently from the four above so that a method
tuned on those drawings shows it (no default was chosen on them; run them
with ``--condition``):

* ``hand``: one side of the face behind a hand-like shape in the person's
  own skin tone, with finger shading (a grey patch is easy to tell from
  skin, a hand is not);
* ``scarf``: a patterned cloth from the nose down past the chin, in
  stripes or checks of two colours, one of them sometimes skin-like beige;
* ``shades``: tinted lenses the eyes show through (35-75% opacity),
  rectangular, in brown, green or grey.

Lighting and style conditions (whole photo, no landmarks), for the two
failures seen on real photos outside LFW: strangers merged under harsh
light, and one person split across photos of different looks:

* ``light``: strong light from one side (a brightness ramp from 1.5-2x down
  to 0.1-0.3x across the face, at a random angle), then half of the time
  greyscale, else a coloured stage light;
* ``styles``: each photo in one of seven looks: greyscale, sepia, a strong
  colour cast, hard contrast, heavy JPEG compression, soft focus, or an
  under-exposed low-key shot.

Everything is deterministic given ``seed`` and the image's relative path.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

BASE_CONDITIONS = ("mask", "sunglasses", "lowres", "occlusion")
CHECK_CONDITIONS = ("hand", "scarf", "shades")
LIGHT_CONDITIONS = ("light", "styles")
CONDITIONS = ("clean", *BASE_CONDITIONS, "mixed", *CHECK_CONDITIONS, *LIGHT_CONDITIONS)
STYLES = ("grey", "sepia", "cast", "contrast", "jpeg", "soft", "lowkey")
MASK_COLOURS = [(160, 200, 230), (245, 245, 245), (30, 30, 35), (120, 120, 125), (230, 170, 190)]
MASK_SHAPES = ("surgical", "rounded", "n95")


def check_condition(name: str) -> str:
    """Return ``name`` if known.

    Raises:
        ValueError: listing the known conditions.
    """
    if name not in CONDITIONS:
        raise ValueError(f"Unknown condition {name!r}; available: {', '.join(CONDITIONS)}.")
    return name


def image_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key`` (not on order)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def choose_affected(paths: tuple[str, ...], identities: tuple[str, ...], seed: int) -> set[int]:
    """Indices of the images that get the condition: half of each identity.

    An identity with ``n >= 2`` images gets ``n // 2`` of them, chosen by a
    generator seeded from ``seed`` and the identity; a single image gets it
    with probability 1/2.
    """
    by_id: dict[str, list[int]] = {}
    for i, ident in enumerate(identities):
        by_id.setdefault(ident, []).append(i)
    out: set[int] = set()
    for ident, rows in by_id.items():
        rng = image_rng(seed, "identity:" + ident)
        if len(rows) == 1:
            if rng.random() < 0.5:
                out.add(rows[0])
        else:
            pick = rng.choice(len(rows), size=len(rows) // 2, replace=False)
            out.update(rows[int(j)] for j in pick)
    return out


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    import dlib
    import face_recognition_models as frm

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(frm.pose_predictor_model_location()),
    )


def landmarks68(image: NDArray[np.uint8]) -> NDArray[np.float64]:
    """dlib's 68 landmarks ``(68, 2)`` (x, y pixels) of the most central face."""
    import dlib

    detector, predictor = _dlib_models()
    h, w = image.shape[:2]
    dets = list(detector(image, 1))
    if dets:
        cx, cy = w / 2.0, h / 2.0
        r = min(
            dets,
            key=lambda d: ((d.left() + d.right()) / 2 - cx) ** 2 + ((d.top() + d.bottom()) / 2 - cy) ** 2,
        )
    else:
        s = 0.22 * min(w, h)
        r = dlib.rectangle(int(w / 2 - s), int(h / 2 - s), int(w / 2 + s), int(h / 2 + s))
    shape = predictor(image, r)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def apply_condition(
    image: NDArray[np.uint8], condition: str, seed: int, key: str
) -> tuple[NDArray[np.uint8], str]:
    """Draw ``condition`` on a copy of ``image``.

    Args:
        image: clean RGB ``uint8 (h, w, 3)``.
        condition: one of :data:`CONDITIONS`.
        seed: global seed.
        key: the image's stable name (its relative path).

    Returns:
        ``(modified image, variant)`` where ``variant`` names what was drawn
        (e.g. ``"mask:n95"``).
    """
    check_condition(condition)
    if condition == "clean":
        return image, "clean"
    rng = image_rng(seed, "image:" + key)
    if condition == "mixed":
        condition = BASE_CONDITIONS[int(rng.integers(len(BASE_CONDITIONS)))]
    if condition == "light":
        return _light(image, rng)
    if condition == "styles":
        return _style(image, rng)
    pts = landmarks68(image)
    fn = {
        "mask": _mask,
        "sunglasses": _sunglasses,
        "lowres": _lowres,
        "occlusion": _occlude,
        "hand": _hand,
        "scarf": _scarf,
        "shades": _shades,
    }
    return fn[condition](image, pts, rng)


def _mask(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    shape = MASK_SHAPES[int(rng.integers(len(MASK_SHAPES)))]
    colour = MASK_COLOURS[int(rng.integers(len(MASK_COLOURS)))]
    jaw = pts[1:16]  # from the left cheek, round the chin, up the right cheek
    bridge = pts[28]
    chin = pts[8]
    if shape == "surgical":
        top = [(pts[15][0], bridge[1]), (pts[1][0], bridge[1])]
        poly = [tuple(p) for p in jaw] + top
    elif shape == "rounded":
        lower = jaw + (jaw - chin) * np.array([0.0, -0.08]) + np.array([0.0, 0.04]) * (chin[1] - bridge[1])
        poly = [tuple(p) for p in lower] + [
            (pts[15][0], bridge[1]),
            (bridge[0], bridge[1] - 4),
            (pts[1][0], bridge[1]),
        ]
    else:  # n95: a beak pushed forward at the nose and mouth
        tip = pts[33] + np.array([0.0, 0.1 * (chin[1] - bridge[1])])
        poly = [
            tuple(pts[1]),
            tuple(pts[4]),
            tuple(chin),
            tuple(pts[12]),
            tuple(pts[15]),
            (pts[15][0], bridge[1]),
            tuple(tip - np.array([0.0, 0.5 * (tip[1] - bridge[1])])),
            (pts[1][0], bridge[1]),
        ]
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    draw.polygon([(float(x), float(y)) for x, y in poly], fill=colour)
    # Pleats or seams, so masks are not flat blobs.
    shade = tuple(max(0, c - 40) for c in colour)
    for f in (0.35, 0.6):
        y = bridge[1] + f * (chin[1] - bridge[1])
        draw.line([(pts[2][0] + 3, y), (pts[14][0] - 3, y)], fill=shade, width=1)
    # Ear loops.
    for a, b in ((pts[1], pts[0]), (pts[15], pts[16])):
        draw.line([tuple(a), (b[0], b[1] - 6)], fill=shade, width=1)
    return np.asarray(im), f"mask:{shape}"


def _sunglasses(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    dark = int(rng.integers(0, 40))
    tint = (dark, dark, dark + int(rng.integers(0, 25)))
    grow = float(rng.uniform(1.6, 2.0))
    centres = []
    for eye in (pts[36:42], pts[42:48]):
        c = eye.mean(axis=0)
        half_w = (eye[:, 0].max() - eye[:, 0].min()) / 2 * grow
        half_h = max(half_w * 0.75, (eye[:, 1].max() - eye[:, 1].min()) / 2 * grow * 2)
        draw.ellipse([c[0] - half_w, c[1] - half_h, c[0] + half_w, c[1] + half_h], fill=tint)
        centres.append((c, half_w))
    (c1, w1), (c2, w2) = centres
    draw.line([(c1[0] + w1, c1[1]), (c2[0] - w2, c2[1])], fill=tint, width=2)
    return np.asarray(im), "sunglasses"


def _lowres(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    face_w = max(1.0, float(pts[16][0] - pts[0][0]))
    target = float(rng.uniform(14.0, 28.0))
    factor = min(1.0, target / face_w)
    h, w = img.shape[:2]
    small = (max(1, round(w * factor)), max(1, round(h * factor)))
    im = Image.fromarray(img).resize(small, Image.Resampling.BOX)
    im = im.resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(im), f"lowres:{round(target)}px"


def _occlude(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    mid = float(pts[27:31, 0].mean())
    top = float(pts[17:27, 1].min()) - 0.25 * float(pts[8][1] - pts[27][1])
    bottom = float(pts[8][1]) + 6
    left, right = float(pts[0][0]) - 6, float(pts[16][0]) + 6
    side = "left" if rng.random() < 0.5 else "right"
    box = [left, top, mid, bottom] if side == "left" else [mid, top, right, bottom]
    grey = int(rng.integers(40, 200))
    im = Image.fromarray(img)
    ImageDraw.Draw(im).rectangle(box, fill=(grey, grey, grey))
    return np.asarray(im), f"occlusion:{side}"


def _skin(img: NDArray[np.uint8], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median colour of both cheeks (below the eyes, beside the nose)."""
    patches = []
    for cheek in (pts[[1, 2, 31, 41]], pts[[15, 14, 35, 46]]):
        x0, y0 = np.maximum(cheek.min(axis=0).astype(int), 0)
        x1, y1 = cheek.max(axis=0).astype(int)
        patch = img[y0 : max(y0 + 1, y1), x0 : max(x0 + 1, x1)].reshape(-1, 3)
        if patch.size:
            patches.append(patch)
    if not patches:
        return np.array([190.0, 150.0, 130.0])
    return np.median(np.concatenate(patches), axis=0)


def _hand(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    skin = _skin(img, pts) * rng.uniform(0.9, 1.1)
    mid = float(pts[27:31, 0].mean())
    top = float(pts[17:27, 1].min()) - 0.15 * float(pts[8][1] - pts[27][1])
    bottom = float(pts[8][1]) + 8
    side = "left" if rng.random() < 0.5 else "right"
    outer = float(pts[0][0]) - 10 if side == "left" else float(pts[16][0]) + 10
    reach = float(rng.uniform(0.0, 0.12)) * abs(outer - mid)  # past the midline, sometimes
    inner = mid + reach if side == "left" else mid - reach
    x0, x1 = sorted((outer, inner))
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    colour = tuple(int(c) for c in np.clip(skin, 0, 255))
    draw.rounded_rectangle([x0, top, x1, bottom], radius=(x1 - x0) * 0.35, fill=colour)
    # fingers: darker creases across the hand
    crease = tuple(int(c) for c in np.clip(skin * 0.78, 0, 255))
    for k in range(1, 4):
        y = top + k * (bottom - top) / 4.5
        draw.line([(x0 + 3, y), (x1 - 3, y + 2)], fill=crease, width=2)
    return np.asarray(im), f"hand:{side}"


def _scarf(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    palette = [(200, 170, 140), (150, 30, 40), (40, 60, 120), (230, 230, 220), (60, 110, 70), (20, 20, 20)]
    a, b = rng.choice(len(palette), size=2, replace=False)
    ca, cb = palette[int(a)], palette[int(b)]
    top = float(pts[29][1])
    poly = [(float(pts[1][0]) - 4, top), (float(pts[15][0]) + 4, top)]
    poly += [(float(x), float(y) + 10) for x, y in pts[15:0:-1]]
    h, w = img.shape[:2]
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(poly, fill=255)
    pattern = np.empty_like(img)
    period = int(rng.integers(4, 9))
    ys, xs = np.mgrid[0:h, 0:w]
    checks = rng.random() < 0.5
    on = ((ys // period) % 2 == 0) ^ (((xs // period) % 2 == 0) if checks else False)
    pattern[on] = ca
    pattern[~on] = cb
    out = np.where(np.asarray(mask)[..., None] > 0, pattern, img)
    return out.astype(np.uint8), f"scarf:{'checks' if checks else 'stripes'}"


def _shades(img: NDArray[np.uint8], pts: NDArray[np.float64], rng: np.random.Generator):
    tints = [(90, 60, 30), (40, 70, 40), (50, 50, 55)]
    tint = tints[int(rng.integers(len(tints)))]
    alpha = int(255 * rng.uniform(0.35, 0.75))
    base = Image.fromarray(img).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    boxes = []
    for eye, brow in ((pts[36:42], pts[17:22]), (pts[42:48], pts[22:27])):
        x0, x1 = eye[:, 0].min(), eye[:, 0].max()
        pad = 0.35 * (x1 - x0)
        y0 = brow[:, 1].mean() + 2
        y1 = eye[:, 1].max() + 1.2 * (x1 - x0) * 0.5
        box = [x0 - pad, y0, x1 + pad, y1]
        draw.rectangle(box, fill=(*tint, alpha), outline=(15, 15, 15), width=2)
        boxes.append(box)
    frame = (15, 15, 15, 255)
    draw.line([(boxes[0][2], boxes[0][1] + 3), (boxes[1][0], boxes[1][1] + 3)], fill=frame, width=2)
    return np.asarray(Image.alpha_composite(base, layer).convert("RGB")), f"shades:{alpha * 100 // 255}%"


def _light(img: NDArray[np.uint8], rng: np.random.Generator) -> tuple[NDArray[np.uint8], str]:
    h, w = img.shape[:2]
    angle = float(rng.uniform(0, 2 * np.pi))
    ys, xs = np.mgrid[0:h, 0:w]
    t = ((xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)) / (0.35 * max(h, w))
    ramp = 1.0 / (1.0 + np.exp(-3.0 * t))  # 0 on the dark side, 1 on the lit side
    hi, lo = float(rng.uniform(1.5, 2.0)), float(rng.uniform(0.1, 0.3))
    out = img.astype(np.float32) * (lo + (hi - lo) * ramp)[..., None]
    if rng.random() < 0.5:
        out = out @ np.array([0.299, 0.587, 0.114], np.float32)[:, None].repeat(3, axis=1)
        kind = "grey"
    else:
        tint = np.array(
            [(1.0, 0.55, 0.9), (0.55, 0.7, 1.0), (1.0, 0.75, 0.45)][int(rng.integers(3))], np.float32
        )
        out = out * tint
        kind = "colour"
    return np.clip(out, 0, 255).astype(np.uint8), f"light:{kind}"


def _style(img: NDArray[np.uint8], rng: np.random.Generator) -> tuple[NDArray[np.uint8], str]:
    style = STYLES[int(rng.integers(len(STYLES)))]
    x = img.astype(np.float32)
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    if style == "grey":
        out = np.repeat(grey[..., None], 3, axis=2)
    elif style == "sepia":
        out = grey[..., None] * np.array([1.07, 0.74, 0.43], np.float32) + 20
    elif style == "cast":
        out = x * np.array(
            [(1.3, 0.6, 1.2), (0.6, 0.8, 1.4), (1.4, 0.9, 0.5)][int(rng.integers(3))], np.float32
        )
    elif style == "contrast":
        out = (x - 128.0) * 2.2 + 128.0
    elif style == "soft":
        return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2.5))), "styles:soft"
    elif style == "lowkey":
        out = 255.0 * (x / 255.0) ** 2.2 * 0.6
    else:  # jpeg
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=8)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), "styles:jpeg"
    return np.clip(out, 0, 255).astype(np.uint8), f"styles:{style}"
