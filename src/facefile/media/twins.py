"""Which files are one shot: a RAW and the JPEG (or HEIC, TIFF) the camera wrote with it.

Cameras set to RAW+JPEG write ``IMG_0001.CR2`` and ``IMG_0001.JPG`` side by
side; editors (Lightroom, digiKam, darktable) show them as one photo. facefile
does too: the pair is analysed once, from the rendered file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from facefile.media.files import RAW_EXTENSIONS

RENDERED_PREFERENCE = (".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".tif", ".tiff", ".png", ".webp", ".avif")
"""The twin a RAW pairs with, best first: the camera's own JPEG, then other renderings."""


def pair_twins(paths: Iterable[str]) -> dict[str, str]:
    """RAW file -> the rendered file of the same shot, among ``paths``.

    Twins share a folder and a name up to the extension (compared without
    case: ``IMG_1.CR2`` and ``img_1.jpg`` pair). A RAW with no rendered twin
    is not in the result: it is a photo of its own.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        folder, name = os.path.split(path)
        stem = os.path.splitext(name)[0].casefold()
        groups.setdefault((folder, stem), []).append(path)
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        raws = [p for p in members if _ext(p) in RAW_EXTENSIONS]
        rendered = sorted(
            (p for p in members if _ext(p) in RENDERED_PREFERENCE),
            key=lambda p: (RENDERED_PREFERENCE.index(_ext(p)), p),
        )
        if raws and rendered:
            for raw in raws:
                out[raw] = rendered[0]
    return out


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()
