"""digiKam, run headless on a folder, and what its database then says about faces.

The recipe (digiKam 7.9, Debian's ``digikam`` package): an empty
``digikam4.db`` and a ``digikamrc`` whose ``[Album Settings]`` group skips the
first-run wizard; a first start creates the schema, the collection is then
added to ``AlbumRoots``, and a second start scans it, reading the XMP sidecars
("Use XMP Sidecar For Reading" on). It runs under ``xvfb-run`` (offscreen, it
aborts on a missing OpenGL context before scanning), with
``QTWEBENGINE_DISABLE_SANDBOX=1`` as root. It is stopped once the database
holds what is waited for: the scan is written as it goes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from facefile.types import BBox

DIGIKAM = shutil.which("digikam")
XVFB_RUN = shutil.which("xvfb-run")

_RC = """[Album Settings]
Album Path={collection}

[Database Settings]
Database Type=QSQLITE
Database Name={db}/
Database Name Thumbnails={db}/
Database Name Face={db}/
Database Name Similarity={db}/

[Metadata Settings]
Use XMP Sidecar For Reading=true
"""
_RECT = re.compile(r'<rect x="(-?\d+)" y="(-?\d+)" width="(\d+)" height="(\d+)"\s*/>')


def run_digikam(
    collection: Path, home: Path, *, wait_s: float = 150.0, until: Callable[[Path], bool]
) -> Path:
    """Scan ``collection`` with digiKam headless; returns its ``digikam4.db``.

    Args:
        collection: the folder of photos (and sidecars).
        home: an empty folder for digiKam's settings and database.
        wait_s: the longest each start may take.
        until: called with the database path; digiKam is stopped once it says ``True``.

    Raises:
        AssertionError: digiKam did not get there within ``wait_s`` (with the end of its log).
    """
    db_dir = home / "db"
    config = home / ".config"
    db_dir.mkdir(parents=True)
    config.mkdir(parents=True)
    db = db_dir / "digikam4.db"
    db.touch()
    (config / "digikamrc").write_text(_RC.format(collection=collection, db=db_dir))
    _start_until(home, wait_s, lambda: _has_table(db, "AlbumRoots"))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO AlbumRoots (label, status, type, identifier, specificPath) VALUES (?, 0, 1, ?, '/')",
            (collection.name, f"volumeid:?path={collection}"),
        )
    _start_until(home, wait_s, lambda: until(db))
    return db


def _start_until(home: Path, wait_s: float, done: Callable[[], bool]) -> None:
    assert DIGIKAM is not None and XVFB_RUN is not None
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "QTWEBENGINE_DISABLE_SANDBOX": "1",
    }
    (home / "runtime").mkdir(mode=0o700, exist_ok=True)
    log = home / "digikam.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [XVFB_RUN, "-a", DIGIKAM],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: xvfb-run, Xvfb and digiKam stop together
        )
    try:
        deadline = time.monotonic() + wait_s
        while not done():
            assert proc.poll() is None or done(), f"digiKam exited early:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"digiKam took over {wait_s:.0f} s:\n{_tail(log)}"
            time.sleep(2.0)
        time.sleep(2.0)  # let the last transaction end
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _tail(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "udisks" not in ln]
    return "\n".join(lines[-25:])


def _has_table(db: Path, table: str) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,))
            return row.fetchone() is not None
    except sqlite3.Error:
        return False


def face_regions(db: Path) -> dict[tuple[str, str], list[tuple[str, BBox]]]:
    """``(album, file name)`` -> ``(person, box)`` for each face digiKam holds, boxes in displayed pixels.

    People are the tags under digiKam's ``People`` tag; each face is an
    ``ImageTagProperties`` row with property ``tagRegion`` (``<rect x= y=
    width= height=/>``, in the photo as shown, after EXIF orientation).
    Albums are relative paths in the collection (``/ext``).
    """
    out: dict[tuple[str, str], list[tuple[str, BBox]]] = {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return out
    with conn:
        try:
            rows = conn.execute(
                "SELECT a.relativePath, i.name, t.name, p.value "
                "FROM ImageTagProperties p JOIN Images i ON i.id = p.imageid "
                "JOIN Albums a ON a.id = i.album JOIN Tags t ON t.id = p.tagid "
                "JOIN Tags people ON people.id = t.pid AND people.name = 'People' AND people.pid = 0 "
                "WHERE p.property = 'tagRegion'"
            ).fetchall()
        except sqlite3.Error:
            return out  # not yet created, or locked for a moment
    for album, name, person, value in rows:
        m = _RECT.search(value)
        if m is None:
            continue
        x, y, w, h = map(float, m.groups())
        out.setdefault((album, name), []).append((person, BBox(x, y, x + w, y + h)))
    return out


def tagged_people(db: Path) -> dict[tuple[str, str], set[str]]:
    """``(album, file name)`` -> the People tags digiKam put on the photo."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0) as conn:
        rows = conn.execute(
            "SELECT a.relativePath, i.name, t.name FROM ImageTags it JOIN Images i ON i.id = it.imageid "
            "JOIN Albums a ON a.id = i.album JOIN Tags t ON t.id = it.tagid "
            "JOIN Tags people ON people.id = t.pid AND people.name = 'People' AND people.pid = 0"
        ).fetchall()
    out: dict[tuple[str, str], set[str]] = {}
    for album, name, person in rows:
        out.setdefault((album, name), set()).add(person)
    return out
