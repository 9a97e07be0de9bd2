"""A real ``facefile scan`` of a card full of odd files (issue 20): facefile's own lines, and only those.

The folder mixes every case of :mod:`tests.oddfiles`; the scan runs as a
user runs it, in a child process whose standard output and error are read
at the file-descriptor level, so a line a C library writes itself is seen.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile import cli_env, encode, make_collection, run_cli
from tests.oddfiles import CRASH_PIXEL, OK, OddFile, build_odd_corpus

# What third-party libraries print on their own when they meet these files.
FOREIGN = ("Unexpected end of file", "compression support is not configured", "Corrupt EXIF", "Warning")
UNSUPPORTED = {"windows.jxr"}  # counted per format in the summary, not listed per file
PROGRESS = ("Finding photos", "Checking for changes", "Analysing", "Grouping")  # facefile's bar


def _problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.strip().startswith(PROGRESS)]


@dataclass(frozen=True)
class OddScan:
    photos: Path
    library: Path
    corpus: list[OddFile]
    first: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module", params=["1", "2"], ids=["in-process", "worker-processes"])
def odd_scan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OddScan]:
    base = tmp_path_factory.mktemp("odd")
    photos, library = base / "photos", base / "library"
    corpus = build_odd_corpus(photos)
    env = cli_env(FACEFILE_SCAN_WORKERS=request.param)
    first = run_cli("scan", photos, "--library", library, env=env, timeout=300)
    again = run_cli("scan", photos, "--library", library, env=env, timeout=300)
    yield OddScan(photos, library, corpus, first, again)


def _rows(library: Path) -> dict[str, tuple[str, str | None]]:
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT path, status, error FROM photos").fetchall()
    finally:
        conn.close()
    return {os.path.basename(os.fsdecode(bytes(p))): (s, e) for p, s, e in rows}


def _lines_about(result: subprocess.CompletedProcess[str], photos: Path, name: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"skipped {photos / name}: ")]


def test_scan_prints_only_facefiles_own_lines(odd_scan: OddScan) -> None:
    for result in (odd_scan.first, odd_scan.again):
        assert result.returncode == 0, result.stderr[-3000:]
        foreign = [line for line in _problem_lines(result) if not line.startswith("skipped /")]
        assert foreign == []
        for text in FOREIGN:
            assert text not in result.stdout and text not in result.stderr, text


def test_every_odd_file_is_analysed_or_has_one_line_with_its_cause(odd_scan: OddScan) -> None:
    rows = _rows(odd_scan.library)
    reported = 0
    for odd in odd_scan.corpus:
        lines = _lines_about(odd_scan.first, odd_scan.photos, odd.name)
        if odd.name in UNSUPPORTED:
            assert lines == [] and odd.name not in rows
        elif odd.expect == OK:
            assert lines == [] and rows[odd.name][0] == "ok", (odd.name, rows.get(odd.name))
        else:
            assert len(lines) == 1 and odd.expect in lines[0], (odd.name, lines)
            reported += 1
    assert len(_problem_lines(odd_scan.first)) == reported
    assert "skipped 1: JPEG XR (.jxr): no reader installed" in odd_scan.first.stdout
    # the summary counts causes, not the numbers in each line
    summary = odd_scan.first.stdout.splitlines()
    causes = {"no image data in this RAW": 4, "truncated HEIF file": 2, "truncated AVIF file": 2}
    for cause, count in causes.items():
        assert f"  skipped {count}: {cause}" in summary, cause


def test_raw_is_analysed_when_its_rendered_twin_cannot_be_read(odd_scan: OddScan) -> None:
    rows = _rows(odd_scan.library)
    for stem in ("IMG_cut", "IMG_empty", "IMG_junk"):
        assert rows[f"{stem}.dng"] == ("ok", None)
        assert rows[f"{stem}.JPG"][0] == "error"
        [line] = _lines_about(odd_scan.first, odd_scan.photos, f"{stem}.JPG")
        assert line.endswith(f"; its RAW twin is analysed instead ({stem}.dng)")
    # the next scan keeps the RAW as the photo, and does not analyse it again
    for stem in ("IMG_cut", "IMG_empty", "IMG_junk"):
        assert _lines_about(odd_scan.again, odd_scan.photos, f"{stem}.dng") == []
    assert _rows(odd_scan.library)["IMG_cut.dng"] == ("ok", None)


def test_raws_without_image_data_are_looked_at_again(odd_scan: OddScan) -> None:
    """Not remembered as analysed photos with 0 faces: the next scan reports them again."""
    rows = _rows(odd_scan.library)
    for name in ("blank.dng", "stripped.dng", "Panasonic.rw2"):
        assert rows[name][0] == "error" and "no image data in this RAW" in (rows[name][1] or "")
        assert len(_lines_about(odd_scan.again, odd_scan.photos, name)) == 1


def test_files_named_on_the_command_line_are_scanned_or_reported(tmp_path: Path) -> None:
    corpus = build_odd_corpus(tmp_path / "photos")
    assert {"P1000001.raw", "windows.jxr"} <= {odd.name for odd in corpus}
    (tmp_path / "notes.txt").write_text("not a photo")
    photos = tmp_path / "photos"
    named = [photos / "P1000001.raw", photos / "windows.jxr", tmp_path / "notes.txt"]
    result = run_cli("scan", *named, "--library", tmp_path / "library", "-q", env=cli_env())
    assert result.returncode == 0, result.stderr
    assert _rows(tmp_path / "library")["P1000001.raw"] == ("ok", None)
    lines = result.stderr.splitlines()
    assert f"skipped {named[1]}: JPEG XR (.jxr): no reader installed (export a JPEG or TIFF)" in lines
    assert f"skipped {named[2]}: not an image, or a format facefile cannot read" in lines
    assert len(lines) == 2


def test_a_worker_that_crashes_takes_only_its_photo_down(tmp_path: Path) -> None:
    """A decoder killing its process (LibRaw did, on a damaged RAW preview) costs one photo, not the scan.

    Before, the photo in the dead worker never came back and the scan waited forever.
    """
    photos = tmp_path / "photos"
    make_collection(photos, 8, seed=5)
    pixels = np.zeros((64, 96, 3), np.uint8)
    pixels[0, 0] = CRASH_PIXEL
    (photos / "crashes.png").write_bytes(encode(Image.fromarray(pixels), "PNG"))
    env = cli_env(
        "fake_crashing",
        FACEFILE_PLUGINS="tests.fakes,tests.hostile,tests.oddfiles",
        FACEFILE_SCAN_WORKERS="2",
    )
    result = run_cli("scan", photos, "--library", tmp_path / "library", "-q", env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        f"skipped {photos / 'crashes.png'}: crashed while decoding or analysing (its worker process "
        "died: most likely a decoder meeting a damaged file)"
    ]
    rows = _rows(tmp_path / "library")
    assert rows.pop("crashes.png")[0] == "error"
    assert len(rows) == 8 and {status for status, _ in rows.values()} == {"ok"}
