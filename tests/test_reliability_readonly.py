"""Photos are read, never written: bytes and timestamps of every original stay the same.

Each test snapshots every original (SHA-256, size, mode, mtime, ctime, inode,
link count) and compares after the commands. Access times are not compared:
reading a file may update them (``relatime``), which is not a change to it.
Hard-link export (``--mode link``) adds a name to each original, which by
definition raises its link count and its ctime; for that mode bytes, size,
mode, mtime and inode are compared, and the link count rises by one per person in the photo.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.fakes import FAKE_SETTINGS, draw_photo
from tests.hostile import cli_env, make_collection, run_cli, snapshot_files


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    make_collection(root, 24, seed=9, n_identities=4)
    # the same file name in two albums: one photo with nobody, one with everyone
    draw_photo(root / "album0" / "img_0000.png", [], size=(450, 200))
    draw_photo(root / "album1" / "img_0000.png", [0, 1, 2, 3], size=(450, 200), face_px=64)
    (root / "album0" / "notes.txt").write_text("not a photo, not touched either")
    return root


def scan(photos: Path, library: Path) -> None:
    out = run_cli("scan", photos, "-L", library, "-q", env=cli_env())
    assert out.returncode == 0, out.stderr


def test_scan_export_and_forget_change_no_original(photos: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    before = snapshot_files(photos)
    env = cli_env()
    scan(photos, library)
    scan(photos, library)  # a second scan (all unchanged) reads again
    for mode in ("symlink", "copy"):
        out = run_cli("export", tmp_path / mode, "--mode", mode, "-L", library, env=env)
        assert out.returncode == 0, out.stderr
    exported = sorted((tmp_path / "copy").rglob("*.png"))
    assert len(exported) > 20
    exported[0].write_bytes(b"the user edits an exported copy")  # must not reach the original
    # export into the photo folders themselves, with a person named like an album
    for person in json.loads(run_cli("people", "--json", "-L", library, env=env).stdout):
        assert run_cli("name", person["person"], "album0", "-L", library, env=env).returncode == 0
    for mode in ("copy", "symlink"):
        out = run_cli("export", photos, "--mode", mode, "-L", library, env=env)
        assert out.returncode == 0, out.stderr
    out = run_cli("forget", "3", "--yes", "-L", library, env=env)
    assert out.returncode == 0, out.stderr
    scan(photos, library)
    after = snapshot_files(photos)
    assert {p: after.get(p) for p in before} == before


def test_hard_link_export_keeps_bytes_and_mtime(photos: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    before = snapshot_files(photos)
    scan(photos, library)
    out = run_cli("export", tmp_path / "links", "--mode", "link", "-L", library, env=cli_env())
    assert out.returncode == 0, out.stderr
    after = snapshot_files(photos)
    linked = 0
    for path, was in before.items():
        now = after[path]
        assert dataclasses.replace(now, ctime_ns=was.ctime_ns, nlink=was.nlink) == was
        assert now.nlink >= was.nlink  # one more name per person in the photo
        linked += now.nlink - was.nlink
    assert linked > 10


def test_serving_the_web_page_changes_no_original(photos: Path, tmp_path: Path) -> None:
    web = pytest.importorskip("facefile.web.app", reason="the web app is not built yet")
    from fastapi.testclient import TestClient

    from facefile.api import Library

    library = tmp_path / "library"
    before = snapshot_files(photos)
    scan(photos, library)
    with Library(library, settings=FAKE_SETTINGS) as lib:
        faces = lib.faces()
    app = web.create_app(library, settings=FAKE_SETTINGS)
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        assert client.get("/").status_code == 200
        for face in faces:
            assert client.get(f"/crop/{face.id}.jpg?size=160").status_code == 200
            assert client.get(f"/photo/{face.photo_id}").status_code == 200
            assert client.get(f"/face/{face.id}").status_code == 200
    assert (library / "crops" / "160").is_dir()
    assert snapshot_files(photos) == before
