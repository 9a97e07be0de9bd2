"""Helpers for the reliability tests: photo collections, hostile files, the CLI
as a subprocess, and library snapshots comparable across libraries.

Importing this module (or naming it in ``$FACEFILE_PLUGINS``) also registers
``fake_hostile``, a fake detector for attacks the square detector cannot make:

* it hangs forever on a photo whose top-left pixel is :data:`HANG_PIXEL`
  (a stand-in for a decoder or model stuck on one file);
* it sleeps ``$FACEFILE_TEST_DETECT_SECONDS`` per photo (a slow scan to race
  other commands against);
* its boxes have fractional edges (``+ BOX_FRACTION``), so each face's box is
  a distinctive float whose bytes a test can search for.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facefile.detect import DETECTORS
from facefile.types import BBox, Detection, RGBImage
from tests.fakes import FakeSquareDetector, draw_photo

REPO_ROOT = Path(__file__).resolve().parents[1]
HANG_PIXEL = (1, 2, 3)
BOX_FRACTION = 0.456


class FakeHostileDetector(FakeSquareDetector):
    name = "fake_hostile"

    def detect(self, image: RGBImage) -> list[Detection]:
        if tuple(int(v) for v in image[0, 0]) == HANG_PIXEL:
            while True:  # never returns: only the scan's time limit ends it
                time.sleep(0.05)
        delay = float(os.environ.get("FACEFILE_TEST_DETECT_SECONDS", "0") or 0)
        if delay:
            time.sleep(delay)
        return [
            Detection(
                BBox(
                    d.box.left + BOX_FRACTION,
                    d.box.top + BOX_FRACTION,
                    d.box.right + BOX_FRACTION,
                    d.box.bottom + BOX_FRACTION,
                ),
                d.score,
                self.name,
            )
            for d in super().detect(image)
        ]


if FakeHostileDetector.name not in DETECTORS.names():
    DETECTORS.register(FakeHostileDetector.name, FakeHostileDetector)


# -- the CLI as a user runs it ------------------------------------------------
def cli_env(detector: str = "fake_squares", **extra: str) -> dict[str, str]:
    """Environment for ``python -m facefile.cli`` with the fake backends."""
    env = dict(os.environ)
    env.update(
        {
            "FACEFILE_PLUGINS": "tests.fakes,tests.hostile",
            # this checkout's code, not the one the virtual environment was installed from
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
            "FACEFILE_ANALYZE_DETECTOR": detector,
            "FACEFILE_ANALYZE_EMBEDDER": "fake_squares",
            "FACEFILE_SCAN_WORKERS": "1",
            "COLUMNS": "400",  # Rich wraps at 80 columns when not on a terminal
            "PYTHONHASHSEED": "0",
        }
    )
    env.pop("FACEFILE_LIBRARY", None)
    env.update(extra)
    return env


def cli(*args: str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    return [sys.executable, "-m", "facefile.cli", *args]


def without_root_powers() -> list[str] | None:
    """A command prefix under which file modes bind, or ``None`` if unavailable.

    Root ignores ``chmod 000``; dropping the two capabilities that let it do
    so (``setpriv``, util-linux) makes unreadable files unreadable again.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def run_cli(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prefix: list[str] | None = None,
    **kw: object,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*(prefix or []), *cli(*args)],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        cwd=REPO_ROOT,
        **kw,
    )


# -- photo collections -------------------------------------------------------
def make_collection(
    root: Path,
    n_photos: int,
    *,
    seed: int = 0,
    n_identities: int = 6,
    apart: tuple[int, int] | None = None,
    start: int = 0,
) -> dict[bytes, list[int]]:
    """Write ``n_photos`` small, all-different PNGs with 0-3 fake faces each.

    Args:
        apart: two identities never drawn in the same photo (so a user may
            merge them).
        start: number of the first photo (collections written with
            different ``start`` values never share content).

    Returns:
        Each photo's path bytes and the identities drawn, left to right
        (face ``i`` has its left edge at ``20 + i * 74``).
    """
    rng = random.Random(seed)
    layout: dict[bytes, list[int]] = {}
    for i in range(start, start + n_photos):
        ids = rng.sample(range(n_identities), rng.randint(0, 3))
        if apart and set(apart) <= set(ids):
            ids.remove(apart[0])
        # the background depends on (len(ids), width): a distinct width per
        # photo keeps every file's content, and so its hash, unique
        path = root / f"album{i % 4}" / f"img_{i:04d}.png"
        draw_photo(path, ids, size=(310 + i, 200), face_px=FACE_PX)
        layout[os.fsencode(path)] = ids
    return layout


FACE_PX = 64


def face_left(index: int) -> int:
    """Left edge of the ``index``-th face drawn by :func:`make_collection`."""
    return 20 + index * (FACE_PX + 30)


@dataclass(frozen=True)
class FileState:
    sha256: str
    size: int
    mode: int
    mtime_ns: int
    ctime_ns: int
    nlink: int
    ino: int


def snapshot_files(root: Path) -> dict[bytes, FileState]:
    """Bytes and metadata of every file under ``root`` (keys are path bytes)."""
    out: dict[bytes, FileState] = {}
    for dirpath, _dirs, files in os.walk(os.fsencode(root)):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[path] = FileState(
                digest, st.st_size, st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, st.st_ino
            )
    return out


# -- library snapshots ---------------------------------------------------------
FaceKey = tuple[bytes, tuple[float, float, float, float]]


@dataclass(frozen=True)
class LibraryState:
    """What a user sees in a library, without ids (comparable across libraries)."""

    photos: frozenset[tuple[bytes, str | None, str]]  # (path, content hash, status)
    faces: tuple[FaceKey, ...]  # sorted, duplicates kept
    people: frozenset[frozenset[FaceKey]]
    names: frozenset[tuple[frozenset[FaceKey], str]]
    user_faces: frozenset[FaceKey]
    not_person: frozenset[tuple[FaceKey, frozenset[FaceKey]]]


def read_library(library: Path) -> LibraryState:
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        photos = frozenset(
            (bytes(p), h, s) for p, h, s in conn.execute("SELECT path, content_hash, status FROM photos")
        )
        key_of: dict[int, FaceKey] = {}
        for fid, path, left, top, right, bottom in conn.execute(
            "SELECT f.id, p.path, f.left, f.top, f.right, f.bottom FROM faces f JOIN photos p "
            "ON p.id = f.photo_id"
        ):
            key_of[fid] = (bytes(path), (round(left, 1), round(top, 1), round(right, 1), round(bottom, 1)))
        groups: dict[int, set[FaceKey]] = {}
        user: set[FaceKey] = set()
        for fid, pid, source in conn.execute("SELECT face_id, person_id, source FROM assignments"):
            groups.setdefault(pid, set()).add(key_of[fid])
            if source == "user":
                user.add(key_of[fid])
        frozen = {pid: frozenset(g) for pid, g in groups.items()}
        names = frozenset(
            (frozen.get(pid, frozenset()), name)
            for pid, name in conn.execute("SELECT id, name FROM people WHERE name IS NOT NULL")
        )
        not_person = frozenset(
            (key_of[fid], frozen.get(pid, frozenset()))
            for fid, pid in conn.execute(
                "SELECT face_id, person_id FROM constraints WHERE kind = 'not_person'"
            )
        )
        return LibraryState(
            photos=photos,
            faces=tuple(sorted(key_of.values())),
            people=frozenset(frozen.values()),
            names=names,
            user_faces=frozenset(user),
            not_person=not_person,
        )
    finally:
        conn.close()


def integrity(library: Path) -> str:
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    text = "\n".join(str(r[0]) for r in rows)
    return text if not fk else f"{text}\nforeign key violations: {fk[:5]}"


# -- hostile files -------------------------------------------------------------
OK, SKIP, ANY, IGNORED = "ok", "skip", "any", "ignored"


@dataclass(frozen=True)
class Hostile:
    """One entry of the corpus and what a scan must do with it.

    ``expect``: ``ok`` analysed; ``skip`` reported once with a reason
    containing ``reason``; ``any`` analysed or reported (bit flips may leave a
    file decodable); ``ignored`` not a photo, neither analysed nor reported.
    """

    path: bytes
    expect: str
    reason: str = ""


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def sample_image(seed: int = 0, size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    arr[16:48, 20:60] = (120, 199, 50)  # flat, and never a fake face (green 200)
    return Image.fromarray(arr)


def valid_images() -> dict[str, bytes]:
    """One small valid file per format, keyed by extension."""
    img = sample_image()
    return {
        ".jpg": encode(img, "JPEG", quality=85),
        ".png": encode(img, "PNG"),
        ".webp": encode(img, "WEBP", quality=80),
        ".heic": encode(img, "HEIF", quality=60),
        ".gif": encode(img.convert("P"), "GIF"),
        ".tif": encode(img, "TIFF"),
        ".bmp": encode(img, "BMP"),
    }


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG that claims ``width x height`` pixels in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to claim ``width x height``."""
    data = bytearray(encode(sample_image(), "JPEG"))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def gif_header(width: int, height: int) -> bytes:
    data = bytearray(encode(sample_image().convert("P"), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def webp_header(width: int, height: int) -> bytes:
    """A lossless WebP wrapped in a VP8X header whose canvas is ``width x height``."""
    inner = encode(sample_image(), "WEBP", lossless=True)[12:]  # the VP8L chunk
    vp8x = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\0\0\0\0"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + vp8x + inner
    return b"RIFF" + struct.pack("<I", len(body)) + body


def flip_bits(data: bytes, n: int, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(n):
        i = rng.randrange(min(len(out), 16), len(out))  # keep the magic so the decoder is reached
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def build_hostile_corpus(root: Path, *, is_unprivileged_run: bool, seed: int = 6) -> list[Hostile]:
    """Write the hostile corpus under ``root``; return each entry's expectation.

    Args:
        is_unprivileged_run: the scan will run as a user that file modes
            bind (not root), so mode-000 files and folders are unreadable.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    rb = os.fsencode(root)
    out: list[Hostile] = []

    def put(rel: bytes, data: bytes, expect: str, reason: str = "") -> bytes:
        path = os.path.join(rb, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        out.append(Hostile(path, expect, reason))
        return path

    valid = valid_images()
    for ext, data in valid.items():
        e = ext.encode()
        put(b"formats/valid" + e, data, OK)
        put(b"empty/zero" + e, b"", SKIP, "empty file (0 bytes)")
        put(b"truncated/half" + e, data[: len(data) // 2], SKIP)
        put(b"truncated/head" + e, data[:20], SKIP)
        for k in range(4):
            put(b"flipped/flip%d" % k + e, flip_bits(data, 1 + 4 * k, rng), ANY)
    for name, data in {
        b"giant/png_50000.png": png_header(50_000, 50_000),
        b"giant/jpeg_50000.jpg": jpeg_header(50_000, 50_000),
        b"giant/gif_50000.gif": gif_header(50_000, 50_000),
        b"giant/png_1x4e9.png": png_header(1, 2**31 - 1),
    }.items():
        put(name, data, SKIP, "megapixels, above the")
    put(b"giant/webp_50000.webp", webp_header(50_000, 50_000), SKIP)
    # wrong extensions
    put(b"wrong_ext/png_named.jpg", valid[".png"], OK)
    put(b"wrong_ext/webp_named.png", encode(sample_image(1), "WEBP", lossless=True), OK)
    put(b"wrong_ext/text.jpg", b"these are not the pixels you are looking for\n" * 20, SKIP, "not an image")
    put(b"wrong_ext/html.png", b"<html><body>404</body></html>", SKIP, "not an image")
    put(b"wrong_ext/photo.txt", valid[".jpg"], IGNORED)
    put(b"wrong_ext/no_extension", valid[".png"], IGNORED)
    # odd but valid images
    tiny = Image.new("RGB", (1, 1), (9, 9, 9))
    put(b"odd/one_pixel.png", encode(tiny, "PNG"), OK)
    put(b"odd/strip_1x5000.png", encode(Image.new("RGB", (1, 5000)), "PNG"), OK)
    put(
        b"odd/sixteen_bit.png",
        encode(Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64)), "PNG"),
        OK,
    )
    put(b"odd/cmyk.jpg", encode(sample_image().convert("CMYK"), "JPEG"), OK)
    put(b"odd/transparent.png", encode(sample_image().convert("RGBA"), "PNG"), OK)
    frames = [sample_image(s) for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    put(b"odd/animated.gif", buf.getvalue(), OK)
    exif = Image.Exif()
    exif[0x0112] = 9  # an orientation that does not exist
    put(b"odd/bad_orientation.jpg", encode(sample_image(), "JPEG", exif=exif.tobytes()), OK)
    # a file the face analysis never finishes
    hang = np.zeros((64, 64, 3), dtype=np.uint8)
    hang[0, 0] = HANG_PIXEL
    put(b"slow/hangs_forever.png", encode(Image.fromarray(hang), "PNG"), SKIP, "took longer than")
    # deep folders: 60 levels, with a photo at the bottom
    put(b"/".join([b"deep"] + [b"level%02d" % i for i in range(60)]) + b"/bottom.png", valid[".png"], OK)
    # non-UTF-8 names
    put(b"names/caf\xe9.png", valid[".png"], OK)
    put(b"names/bad\xff\xfe.jpg", b"", SKIP, "empty file")
    put("names/emoji 😀 [bold]x[/bold].png".encode(), valid[".png"], OK)
    # links: a loop through folders, a self loop, a broken link
    links = os.path.join(rb, b"links")
    os.makedirs(os.path.join(links, b"inner"), exist_ok=True)
    os.symlink(b"..", os.path.join(links, b"inner", b"back_up"))
    out.append(Hostile(os.path.join(links, b"inner", b"back_up"), SKIP, "symbolic link loop"))
    os.symlink(b"self.jpg", os.path.join(links, b"self.jpg"))
    out.append(Hostile(os.path.join(links, b"self.jpg"), SKIP, "symbolic link loop"))
    os.symlink(b"nowhere.jpg", os.path.join(links, b"broken.jpg"))
    out.append(Hostile(os.path.join(links, b"broken.jpg"), SKIP, "broken symbolic link"))
    # things with photo names that are not files
    os.makedirs(os.path.join(rb, b"special", b"folder.jpg"), exist_ok=True)
    os.mkfifo(os.path.join(rb, b"special", b"pipe.jpg"))  # opening it would block forever
    out.append(Hostile(os.path.join(rb, b"special", b"pipe.jpg"), IGNORED))
    # unreadable file and folder
    secret = put(
        b"locked/secret.jpg", valid[".jpg"], SKIP if is_unprivileged_run else OK, "permission denied"
    )
    os.chmod(secret, 0)
    closed = os.path.join(rb, b"locked_dir")
    put(b"locked_dir/inside.png", valid[".png"], IGNORED if is_unprivileged_run else OK)
    if is_unprivileged_run:
        out.append(Hostile(closed, SKIP, "cannot list folder"))
    os.chmod(closed, 0)
    return out
