"""Many hands on one library at once: scans, edits and regrouping in separate processes.

The real-process test runs on PostgreSQL (two machines scanning one library);
the in-process races run on both engines.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from facefile.api import Library
from facefile.store.db import Store
from facefile.types import BBox, Detection, FaceQuality, FaceResult
from tests.fakes import FAKE_SETTINGS, draw_photo
from tests.helpers import make_photos, open_library
from tests.hostile import REPO_ROOT, cli, cli_env

N_IDENTITIES = 5


def draw_collection(folder: Path, n: int, seed: int) -> None:
    """``n`` photos of one to three of ``N_IDENTITIES`` people."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        ids = [int(k) for k in rng.choice(N_IDENTITIES, size=int(rng.integers(1, 4)), replace=False)]
        draw_photo(folder / f"p{seed}_{i:03d}.png", ids, size=(40 + 150 * len(ids), 300))


def faces_by_place(lib: Library) -> set[tuple[str, tuple[float, ...]]]:
    """Every face as (photo file name, box): comparable across libraries."""
    return {(Path(f.photo).name, tuple(round(v, 1) for v in f.box.to_list())) for f in lib.faces()}


def test_two_scans_and_two_editors_at_once_lose_nothing(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    photos = tmp_path / "photos"
    draw_collection(photos / "first", 16, seed=1)
    with open_library(pg_url) as lib:  # people to edit already exist when the scans start
        lib.scan(photos)
    draw_collection(photos / "more", 60, seed=2)

    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    stop, logs = tmp_path / "stop", [tmp_path / "even.jsonl", tmp_path / "odd.jsonl"]
    editors = [
        subprocess.Popen(
            [cli("x")[0], "-m", "tests.concurrent_edits", pg_url, tag, str(log), str(stop)],
            env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
        )
        for tag, log in zip(("even", "odd"), logs, strict=True)
    ]  # fmt: skip
    scans = [
        subprocess.Popen(
            cli("scan", photos, "-L", pg_url, "-q"), env=env, cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outs = [scan.communicate(timeout=300) for scan in scans]
    stop.touch()
    errs = [editor.communicate(timeout=120)[1] for editor in editors]
    for scan, (out, err) in zip(scans, outs, strict=True):
        assert scan.returncode == 0, out + err
        assert "Scan summary" in out
    assert [e.returncode for e in editors] == [0, 0], errs

    reference = tmp_path / "reference"  # the same folder, scanned once, alone
    with open_library(reference) as ref:
        ref.scan(photos)
        expected = faces_by_place(ref)
    with open_library(pg_url) as lib:
        assert faces_by_place(lib) == expected
        assert lib.stats()["photos"] == len(list(photos.rglob("*.png")))
        rows = lib.store.conn.execute("SELECT face_id FROM assignments").fetchall()
        assert len(rows) == len({r[0] for r in rows})  # (the key says so; a face is never placed twice)
        for f in lib.faces():
            if f.person_id is not None:
                mates = [g.person_id for g in lib.store.faces(photo_id=f.photo_id) if g.id != f.id]
                assert f.person_id not in mates, f"two faces of {f.photo} in one person"
        names: dict[int, str] = {}
        moves: dict[int, int] = {}
        n_edits = 0
        for log in logs:
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                if entry["edit"] == "name":
                    names[entry["person"]] = entry["name"]
                elif entry["edit"] == "move":
                    moves[entry["face"]] = entry["person"]
                n_edits += entry["edit"] != "refused"
        assert n_edits >= 16 and names and moves
        for person, name in names.items():  # every edit kept: the last name given...
            assert lib.person(person).name == name
        for face, person in moves.items():  # ...and the last place chosen, as the user's
            got = lib.face(face)
            assert (got.person_id, got.source) == (person, "user")


def test_a_scan_waits_for_the_one_running(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0]})
    holder = Store(pg_url)
    try:
        with holder.scan_lock():  # "another scan", on another connection
            scan = subprocess.Popen(
                cli("scan", tmp_path / "photos", "-L", pg_url, "-q"),
                env=cli_env(XDG_CACHE_HOME=str(tmp_path / "cache")), cwd=REPO_ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(4)
            assert scan.poll() is None  # still waiting
        out, err = scan.communicate(timeout=120)
    finally:
        holder.close()
    assert scan.returncode == 0, out + err
    assert "waiting" in err and "Another scan of postgresql://" in err and "facefile" in err
    with open_library(pg_url) as lib:
        assert len(lib.faces()) == 2


def _save_same_photos(location: str, barrier: object, n_photos: int) -> None:
    store = Store(location)
    try:
        faces = tuple(
            FaceResult(
                Detection(BBox(10 + 100 * j, 10, 60 + 100 * j, 60), 0.9, "test"),
                np.zeros((5, 2), np.float32),
                FaceQuality(50, 100, 0.9, 0.0, 0.8),
                {"full": np.full(128, j + 1, np.float32) / np.sqrt(128 * (j + 1) ** 2)},
            )
            for j in range(3)
        )
        barrier.wait()  # type: ignore[attr-defined]
        for i in range(n_photos):
            store.save_photo(
                raw=f"/shared/photo{i}.jpg".encode(), size=1, mtime_ns=1, content_hash=f"h{i}",
                width=400, height=100, faces=faces, model_id="m1",
            )  # fmt: skip
    finally:
        store.close()


def test_processes_saving_the_same_photos_store_each_once(library_location: str) -> None:
    Store(library_location).close()  # the schema exists before the race
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_save_same_photos, args=(library_location, barrier, 8)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(library_location, read_only=True)
    try:
        assert store.counts()["photos"] == 8
        assert store.counts()["faces"] == 8 * 3
        assert store.scalar("SELECT COUNT(*) FROM embeddings") == 8 * 3
    finally:
        store.close()


def test_an_edit_made_while_grouping_computes_survives(
    tmp_path: Path, library_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouping reads, computes for a while, then writes: what the user did meanwhile wins."""
    import facefile.regroup

    make_photos(tmp_path / "photos", {"a1.png": [0], "a2.png": [0], "b1.png": [1], "b2.png": [1]})
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        before = {Path(f.photo).name: f for f in lib.faces()}
    make_photos(tmp_path / "photos", {"c1.png": [2], "c2.png": [2]})  # a new person on the next scan
    edits: dict[str, int] = {}
    real = facefile.regroup.assign_person_ids

    def ids_then_an_edit(*args: object, **kw: object) -> object:
        person_ids, new_people = real(*args, **kw)  # the grouping is decided, not yet written
        with Library(library_location, settings=FAKE_SETTINGS) as other:  # another connection
            edits["alone"] = other.move(before["a1.png"].id, "new").id  # takes the id just handed out
            other.not_person(before["b1.png"].id, before["b1.png"].person_id or -1)
            other.exclude(before["b2.png"].id)
        assert edits["alone"] in new_people
        return person_ids, new_people

    monkeypatch.setattr(facefile.regroup, "assign_person_ids", ids_then_an_edit)
    with open_library(library_location) as lib:
        lib.scan(tmp_path / "photos")
        assert [f.id for f in lib.faces(edits["alone"])] == [
            before["a1.png"].id
        ]  # alone, as the user left it
        assert lib.face(before["a1.png"].id).source == "user"
        c_people = {f.person_id for f in lib.faces() if f.photo.endswith(("c1.png", "c2.png"))}
        assert len(c_people) == 1 and None not in c_people and edits["alone"] not in c_people
        assert lib.face(before["b1.png"].id).person_id != before["b1.png"].person_id
        assert lib.store.face(before["b2.png"].id).person_id is None  # excluded stays out
