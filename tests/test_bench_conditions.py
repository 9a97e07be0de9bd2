"""Condition synthesis: deterministic, half of each identity, drawn where the face is."""

from __future__ import annotations

import numpy as np
import pytest
from facefile_bench.conditions import (
    CONDITIONS,
    LIGHT_CONDITIONS,
    apply_condition,
    check_condition,
    choose_affected,
)


def test_half_of_each_identity_is_affected_and_seeded() -> None:
    idents = tuple(["a"] * 6 + ["b"] * 3 + ["c"] * 2 + [f"s{i}" for i in range(40)])
    paths = tuple(f"{x}/{i}.jpg" for i, x in enumerate(idents))
    chosen = choose_affected(paths, idents, seed=1)
    assert chosen == choose_affected(paths, idents, seed=1)
    assert chosen != choose_affected(paths, idents, seed=2)
    count = {k: sum(1 for i in chosen if idents[i] == k) for k in ("a", "b", "c")}
    assert count == {"a": 3, "b": 1, "c": 1}
    singles = sum(1 for i in chosen if idents[i].startswith("s"))
    assert 10 <= singles <= 30


@pytest.mark.parametrize("condition", [c for c in CONDITIONS if c != "clean"])
def test_condition_is_deterministic_and_changes_the_face(astronaut: np.ndarray, condition: str) -> None:
    img = astronaut[:300, 100:400].copy()  # the face, roughly centred
    a, variant = apply_condition(img, condition, seed=3, key="x/1.jpg")
    b, _ = apply_condition(img, condition, seed=3, key="x/1.jpg")
    assert np.array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8
    changed = np.abs(a.astype(int) - img.astype(int)).sum(axis=2) > 30
    assert changed.any(), variant
    if condition == "lowres":  # the whole photo is shrunk: detail is gone everywhere
        assert _detail(a) < 0.6 * _detail(img)
        return
    if condition in LIGHT_CONDITIONS:  # light and style change the whole photo
        assert changed.mean() > 0.3, variant
        return
    # The change sits on the face (centre of the crop), not the background.
    h, w = changed.shape
    centre = changed[h // 6 : 5 * h // 6, w // 6 : 5 * w // 6].sum()
    assert centre >= 0.6 * changed.sum()


def _detail(img: np.ndarray) -> float:
    g = img.astype(float).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_mask_varies_shape_and_colour(astronaut: np.ndarray) -> None:
    img = astronaut[:300, 100:400].copy()
    variants = {apply_condition(img, "mask", seed=0, key=f"k{i}")[1] for i in range(12)}
    assert len(variants) >= 2


def test_unknown_condition_lists_names() -> None:
    with pytest.raises(ValueError, match="available: clean, mask"):
        check_condition("fog")


def test_check_conditions_cover_the_part_they_name(astronaut: np.ndarray) -> None:
    """hand: one side; scarf: below the nose; shades: the eyes, which still show through."""
    from facefile_bench.conditions import landmarks68

    img = astronaut[:300, 100:400].copy()
    pts = landmarks68(img)
    mid_x, nose_y = pts[27:31, 0].mean(), pts[29][1]
    eyes_y = pts[36:48, 1].mean()

    def changed(cond: str, key: str) -> tuple[np.ndarray, str]:
        out, variant = apply_condition(img, cond, seed=0, key=key)
        return np.abs(out.astype(int) - img.astype(int)).sum(axis=2) > 30, variant

    for i in range(4):
        hit, variant = changed("hand", f"h{i}")
        ys, xs = np.nonzero(hit)
        left_share = float((xs < mid_x).mean())
        assert (left_share > 0.8) if variant == "hand:left" else (left_share < 0.2), variant

        hit, _ = changed("scarf", f"s{i}")
        ys, _ = np.nonzero(hit)
        assert (ys >= nose_y - 2).mean() > 0.95

    sunglasses, _ = apply_condition(img, "sunglasses", seed=0, key="e")
    shades, _ = apply_condition(img, "shades", seed=0, key="e")
    eye = np.s_[int(eyes_y) - 3 : int(eyes_y) + 4, int(pts[36][0]) : int(pts[45][0])]
    luma = [v[eye].astype(float).mean() for v in (sunglasses, shades, img)]
    assert luma[0] < luma[1] < luma[2]


def test_styles_draw_every_look_and_light_comes_from_one_side(astronaut: np.ndarray) -> None:
    img = astronaut[:300, 100:400].copy()
    looks = {apply_condition(img, "styles", seed=0, key=f"p/{i}.jpg")[1] for i in range(60)}
    assert looks == {f"styles:{s}" for s in ("grey", "sepia", "cast", "contrast", "jpeg", "soft", "lowkey")}
    lit, variant = apply_condition(img, "light", seed=0, key="p/0.jpg")
    lum = lit.astype(float).mean(axis=2)
    left, right, top, bottom = lum[:, :150].mean(), lum[:, 150:].mean(), lum[:150].mean(), lum[150:].mean()
    ratios = (left / right, right / left, top / bottom, bottom / top)
    assert max(ratios) > 1.5, variant  # one side lit, the other in shadow
