"""Condition synthesis: deterministic, half of each identity, drawn where the face is."""

from __future__ import annotations

import numpy as np
import pytest

from facefile.bench.conditions import (
    CONDITIONS,
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
