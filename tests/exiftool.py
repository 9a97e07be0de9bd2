"""ExifTool as the reference reader and writer of XMP face regions, for tests.

Tests that use it skip where it is absent (Debian: ``libimage-exiftool-perl``);
``.ci/run`` installs it, so they never skip in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from facefile.types import BBox

EXIFTOOL = shutil.which("exiftool")
# in CI (where .ci/run installs it) a missing exiftool fails these tests instead of skipping them
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None and not os.environ.get("CI"),
    reason="exiftool is not installed (Debian: libimage-exiftool-perl); CI installs it",
)


def run(*args: str | Path) -> str:
    assert EXIFTOOL is not None
    done = subprocess.run(
        [EXIFTOOL, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_regions(
    target: Path, regions: Sequence[tuple[str, BBox]], size: tuple[int, int], *, form: str = "mwg"
) -> None:
    """Write face regions with exiftool into ``target`` (a photo, or a new ``.xmp`` sidecar).

    ``regions`` are ``(name, box)`` with boxes in pixels of the displayed
    image of ``size`` (width, height); ``form`` is ``"mwg"`` or ``"mp"``.
    """
    w, h = size
    if form == "mwg":
        items = ",".join(
            f"{{Area={{W={b.width / w:.6f},H={b.height / h:.6f},X={b.center[0] / w:.6f},"
            f"Y={b.center[1] / h:.6f},Unit=normalized}},Name={name},Type=Face}}"
            for name, b in regions
        )
        arg = (
            f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={w},H={h},Unit=pixel}},RegionList=[{items}]}}"
        )
    else:
        items = ",".join(
            f"{{PersonDisplayName={name},Rectangle={b.left / w:.6f}|, {b.top / h:.6f}|, "
            f"{b.width / w:.6f}|, {b.height / h:.6f}}}"
            for name, b in regions
        )
        arg = f"-XMP-MP:RegionInfoMP={{Regions=[{items}]}}"
    run("-q", "-overwrite_original", arg, target)


def read_regions(path: Path) -> list[dict]:
    """``exiftool -j -struct``'s MWG face regions of one file, each with its ``Name`` and ``Area``."""
    out = json.loads(run("-j", "-struct", "-XMP:RegionInfo", path))
    info = out[0].get("RegionInfo") or {}
    return [r for r in info.get("RegionList", []) if r.get("Type", "Face") == "Face"]


def area_box(region: dict, size: tuple[int, int]) -> BBox:
    """A region's normalised, centre-based area as a pixel box of an image of ``size``."""
    a = region["Area"]
    w, h = size
    cx, cy, rw, rh = float(a["X"]) * w, float(a["Y"]) * h, float(a["W"]) * w, float(a["H"]) * h
    return BBox(cx - rw / 2, cy - rh / 2, cx + rw / 2, cy + rh / 2)
