"""A full disk or a read-only library: a clear message, and the library as it was.

Both need a file system of our own: a small tmpfs, mounted by the test (CI
runs as root). Elsewhere they skip, saying why. ``chmod 0555`` is no test:
root ignores it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import LibraryState, integrity, make_collection, read_library, run_cli


def sh(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.fspath(a) for a in args], capture_output=True, text=True)


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of our own."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = sh("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        sh("umount", "-l", mnt)


def library_files(library: Path) -> dict[str, bytes]:
    return {str(p.relative_to(library)): p.read_bytes() for p in library.rglob("*") if p.is_file()}


def test_scan_into_a_read_only_library_changes_nothing(tmpfs: Path, tmp_path: Path) -> None:
    photos, library = tmp_path / "photos", tmpfs / "library"
    make_collection(photos / "first", 10, seed=1, n_identities=3)
    assert run_cli("scan", photos, "-L", library, "-q").returncode == 0
    make_collection(photos / "more", 10, seed=2, n_identities=3, start=10)
    before = library_files(library)
    assert sh("mount", "-o", "remount,ro", tmpfs).returncode == 0
    out = run_cli("scan", photos, "-L", library, "-q")
    assert out.returncode == 1
    assert "read-only" in out.stderr and str(library) in out.stderr.replace("\n", "")
    assert "Traceback" not in out.stderr
    assert library_files(library) == before


def test_scan_onto_a_full_disk_stops_cleanly_and_resumes(tmpfs: Path, tmp_path: Path) -> None:
    photos, library, reference = tmp_path / "photos", tmpfs / "library", tmp_path / "reference"
    first = make_collection(photos / "first", 10, seed=1, n_identities=3)
    more = make_collection(photos / "more", 120, seed=2, n_identities=3, start=10)
    assert run_cli("scan", photos / "first", "-L", library, "-q").returncode == 0
    assert run_cli("scan", photos, "-L", reference, "-q").returncode == 0
    before = read_library(library)
    # leave about 150 KiB free: room for a few photos, not for 120
    free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
    ballast = tmpfs / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * (free - 150 * 1024))
    out = run_cli("scan", photos, "-L", library, "-q")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "is full" in out.stderr and "Free some space" in out.stderr.replace("\n", " ")
    assert "Traceback" not in out.stderr
    assert integrity(library) == "ok"
    during = read_library(library)
    assert before.photos <= during.photos and set(before.faces) <= set(during.faces)
    assert_whole_photos(during, first | more)
    ballast.unlink()
    again = run_cli("scan", photos, "-L", library, "-q")
    assert again.returncode == 0, again.stderr
    after, expected = read_library(library), read_library(reference)
    assert (after.photos, after.faces, after.people) == (expected.photos, expected.faces, expected.people)


def assert_whole_photos(state: LibraryState, layout: dict[bytes, list[int]]) -> None:
    """Every stored photo has all its faces: none is half-written."""
    per_photo: dict[bytes, int] = {}
    for path, _box in state.faces:
        per_photo[path] = per_photo.get(path, 0) + 1
    for path, _hash, status in state.photos:
        if status == "ok":
            assert per_photo.get(path, 0) == len(layout[path]), path
