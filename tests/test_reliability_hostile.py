"""Hostile files: whatever a disk holds, a scan reports it in one line and goes on.

The corpus (see ``tests.hostile.build_hostile_corpus``) is mixed into a
folder of ordinary photos and scanned with the real ``facefile scan``
command. When the tests run as root (CI), the scan runs as ``nobody`` so
that mode-000 files and folders really are unreadable.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facefile.errors import MediaError
from facefile.media.files import display_path, load_image
from tests.hostile import (
    ANY,
    IGNORED,
    OK,
    SKIP,
    Hostile,
    build_hostile_corpus,
    cli_env,
    make_collection,
    read_library,
    run_cli,
    valid_images,
    without_root_powers,
)

SECONDS_PER_PHOTO = 3


@dataclass(frozen=True)
class HostileScan:
    photos: Path
    library: Path
    corpus: list[Hostile]
    result: subprocess.CompletedProcess[str]
    seconds: float
    reference: Path


@pytest.fixture(scope="module")
def hostile_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileScan]:
    prefix = without_root_powers()
    base = tmp_path_factory.mktemp("hostile")
    photos, library, reference = base / "photos", base / "library", base / "reference"
    make_collection(photos / "real", 24, seed=3)
    corpus = build_hostile_corpus(photos / "hostile", is_unprivileged_run=prefix is not None)
    env = cli_env(
        "fake_hostile",
        FACEFILE_SCAN_MAX_SECONDS_PER_PHOTO=str(SECONDS_PER_PHOTO),
        FACEFILE_SCAN_WORKERS="2",
    )
    started = time.monotonic()
    result = run_cli("scan", photos, "--library", library, "-q", env=env, timeout=180, prefix=prefix)
    seconds = time.monotonic() - started
    ref = run_cli("scan", photos / "real", "--library", reference, "-q", env=env)
    assert ref.returncode == 0, ref.stderr
    yield HostileScan(photos, library, corpus, result, seconds, reference)
    for dirpath, dirs, _files in os.walk(base):
        for d in dirs:
            path = os.path.join(dirpath, d)
            if not os.path.islink(path):
                os.chmod(path, 0o755)  # so pytest can remove the folder it lent


def skipped_lines(scan: HostileScan) -> list[str]:
    return [line for line in scan.result.stderr.splitlines() if line.startswith("skipped ")]


def library_rows(library: Path) -> dict[bytes, tuple[str, str | None]]:
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        return {bytes(p): (s, e) for p, s, e in conn.execute("SELECT path, status, error FROM photos")}
    finally:
        conn.close()


def test_hostile_scan_finishes_in_bounded_time(hostile_scan: HostileScan) -> None:
    assert hostile_scan.result.returncode == 0, hostile_scan.result.stderr[-3000:]
    assert "Scan summary" in hostile_scan.result.stdout
    # one file never finishes analysis: the time limit, not the test timeout, ends it
    assert hostile_scan.seconds < 60


def test_every_bad_file_gets_exactly_one_clear_line(hostile_scan: HostileScan) -> None:
    lines = skipped_lines(hostile_scan)
    rows = library_rows(hostile_scan.library)
    for h in hostile_scan.corpus:
        shown = display_path(h.path)
        mine = [line for line in lines if line.startswith(f"skipped {shown}: ")]
        if h.expect == SKIP:
            assert len(mine) == 1, (shown, mine)
            assert h.reason.lower() in mine[0].lower(), mine[0]
        elif h.expect == ANY:
            status = rows[h.path][0]
            assert len(mine) == (1 if status == "error" else 0), (shown, status, mine)
        else:
            assert mine == [], mine
    # nothing else was reported, and each report names its reason in one line
    expected = sum(h.expect == SKIP for h in hostile_scan.corpus) + sum(
        h.expect == ANY and rows[h.path][0] == "error" for h in hostile_scan.corpus
    )
    assert len(lines) == expected
    assert all(": " in line and line.split(": ", 1)[1].strip() for line in lines)


def test_good_files_among_hostile_ones_are_analyzed(hostile_scan: HostileScan) -> None:
    rows = library_rows(hostile_scan.library)
    for h in hostile_scan.corpus:
        if h.expect == OK:
            assert rows.get(h.path, ("absent",))[0] == "ok", display_path(h.path)
        elif h.expect == IGNORED:
            assert h.path not in rows
        elif h.expect == SKIP and h.path in rows:
            status, error = rows[h.path]
            assert status == "error" and error and h.reason.lower() in error.lower()


def test_non_utf8_names_are_kept_exactly_and_printed_escaped(hostile_scan: HostileScan) -> None:
    rows = library_rows(hostile_scan.library)
    cafe = os.path.join(os.fsencode(hostile_scan.photos), b"hostile", b"names", b"caf\xe9.png")
    assert rows[cafe][0] == "ok"
    assert "bad\\xff\\xfe.jpg: empty file" in hostile_scan.result.stderr
    faces = run_cli("faces", "--json", "--library", hostile_scan.library, env=cli_env("fake_hostile"))
    assert faces.returncode == 0, faces.stderr


def test_the_rest_of_the_scan_is_unaffected(hostile_scan: HostileScan) -> None:
    """The ordinary photos give the same faces and people as a scan without the corpus."""
    mixed, alone = read_library(hostile_scan.library), read_library(hostile_scan.reference)
    assert alone.faces and mixed.faces == alone.faces
    assert mixed.people == alone.people
    assert len(alone.people) == 6


# -- fuzzing the decoder ---------------------------------------------------------
VALID = valid_images()
FUZZ_MAX_MP = 2.0
FUZZ_EXAMPLES = 3000

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("int32"), st.integers(0, 1 << 20), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.integers(0, 255)),
)


def mutate(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in steps:
        if not out:
            break
        i = where % len(out)
        if kind == "flip":
            out[i] ^= 1 << value
        elif kind == "cut":
            del out[i:]
        elif kind == "int32":
            out[i : i + 4] = value.to_bytes(4, "big")
        else:
            out.insert(i, value)
    return bytes(out)


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="facefile-fuzz-") as d:
        yield Path(d)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=3000,  # ms per file: a decoder hanging on one input fails the test
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ext=st.sampled_from(sorted(VALID)), steps=st.lists(mutation, min_size=1, max_size=6))
def test_fuzzed_images_decode_or_fail_with_one_line(
    fuzz_dir: Path, ext: str, steps: list[tuple[str, int, int]]
) -> None:
    path = fuzz_dir / f"fuzz{ext}"
    path.write_bytes(mutate(VALID[ext], steps))
    try:
        pixels = load_image(path, FUZZ_MAX_MP)
    except MediaError as exc:
        assert exc.reason and "\n" not in exc.reason and len(exc.reason) < 300
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert 0 < pixels.shape[0] * pixels.shape[1] <= FUZZ_MAX_MP * 1e6


def test_pixel_limit_is_ours_not_pillows(tmp_path: Path) -> None:
    """A 100 MP photo is allowed at the default 200 MP limit, and refused below it with its size."""
    from tests.hostile import png_header

    path = tmp_path / "big.png"
    path.write_bytes(png_header(10_000, 10_000))  # pixels are missing: decoding must be tried
    with pytest.raises(MediaError) as info:
        load_image(path, 200)
    assert "megapixels" not in info.value.reason and "bomb" not in info.value.reason
    with pytest.raises(MediaError, match=r"10000x10000 \(100 megapixels\), above the 50 MP limit"):
        load_image(path, 50)


def test_random_garbage_with_photo_names_never_crashes(tmp_path: Path) -> None:
    rng = random.Random(11)
    for i in range(200):
        path = tmp_path / f"junk{i}{rng.choice(sorted(VALID))}"
        path.write_bytes(rng.randbytes(rng.randint(1, 4000)))
        with pytest.raises(MediaError):
            load_image(path)
