"""Labelled face sets: one folder per identity, the folder name is the label."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class LabelledSet:
    """Images of a labelled set in a fixed order.

    Attributes:
        root: the set's folder.
        paths: image paths relative to ``root`` (``identity/file``), sorted
            by identity then file name.
        identities: identity label of each image (its folder name).
    """

    root: Path
    paths: tuple[str, ...]
    identities: tuple[str, ...]

    @property
    def n_images(self) -> int:
        return len(self.paths)

    @property
    def n_identities(self) -> int:
        return len(set(self.identities))

    def labels(self) -> np.ndarray:
        """``int64 (n,)`` identity index per image."""
        _, inv = np.unique(np.array(self.identities), return_inverse=True)
        return inv.astype(np.int64)

    def fingerprint(self) -> str:
        """Short hash of the root, file list and file sizes: a cache key part."""
        h = hashlib.sha256(str(self.root.resolve()).encode())
        for p in self.paths:
            h.update(p.encode())
            h.update(str((self.root / p).stat().st_size).encode())
        return h.hexdigest()[:16]


def load_labelled(root: str | Path, limit: int | None = None, seed: int = 0) -> LabelledSet:
    """Read a labelled folder, optionally a deterministic subset of it.

    With ``limit``, identities are visited in a seeded random order; those
    with two or more images come first (at most ``max(2, limit // 10)`` images
    each, so one celebrity cannot fill the subset) until they fill 80% of
    ``limit``; single-image identities fill the rest, as distractors.

    Args:
        root: folder with one sub-folder per identity.
        limit: largest number of images, or ``None`` for all.
        seed: subset choice.

    Returns:
        A :class:`LabelledSet`.

    Raises:
        FileNotFoundError: ``root`` is not a folder or holds no images.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"labelled set {base} is not a folder (set --data).")
    groups: dict[str, list[str]] = {}
    for ident in sorted(p for p in base.iterdir() if p.is_dir()):
        files = sorted(f.name for f in ident.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if files:
            groups[ident.name] = files
    if not groups:
        raise FileNotFoundError(f"no images in {base}; expected one sub-folder of images per identity.")
    chosen = groups if limit is None else _subset(groups, limit, seed)
    paths: list[str] = []
    idents: list[str] = []
    for name in sorted(chosen):
        for f in chosen[name]:
            paths.append(f"{name}/{f}")
            idents.append(name)
    return LabelledSet(root=base, paths=tuple(paths), identities=tuple(idents))


def _subset(groups: dict[str, list[str]], limit: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    order = [names[i] for i in rng.permutation(len(names))]
    cap = max(2, limit // 10)
    multi_budget = round(limit * 0.8)
    out: dict[str, list[str]] = {}
    used = 0
    for name in order:
        files = groups[name]
        if len(files) < 2 or used >= multi_budget:
            continue
        take = files[: min(cap, len(files), multi_budget - used)]
        if len(take) < 2:
            continue
        out[name] = take
        used += len(take)
    for name in order:
        if used >= limit:
            break
        if name not in out and len(groups[name]) == 1:
            out[name] = groups[name]
            used += 1
    return out
