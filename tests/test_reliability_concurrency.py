"""Two commands at once: a second scan is refused clearly, reads keep working, no edit is lost."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import REPO_ROOT, cli, cli_env, make_collection, run_cli


@pytest.fixture()
def slow_scan(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    """A library already scanned once, and a second, slow scan of new photos running on it."""
    photos, library = tmp_path / "photos", tmp_path / "library"
    make_collection(photos / "first", 12, seed=1, n_identities=4)
    assert run_cli("scan", photos, "-L", library, "-q").returncode == 0
    make_collection(photos / "more", 20, seed=2, n_identities=4, start=12)
    env = cli_env("fake_hostile", FACEFILE_TEST_DETECT_SECONDS="0.3")
    proc = subprocess.Popen(
        cli("scan", photos, "-L", library, "-q"), env=env, cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    lock = library / "scan.lock"
    deadline = time.monotonic() + 30
    while not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
        assert time.monotonic() < deadline and proc.poll() is None, "the scan did not start"
        time.sleep(0.05)
    yield photos, library, proc
    proc.kill()
    proc.wait()


def test_second_scan_stops_with_a_clear_message(
    slow_scan: tuple[Path, Path, subprocess.Popen[bytes]],
) -> None:
    photos, library, first = slow_scan
    second = run_cli("scan", photos, "-L", library, "-q")
    assert second.returncode == 1
    assert "Another scan is running" in second.stderr and str(first.pid) in second.stderr
    assert "Traceback" not in second.stderr
    assert first.poll() is None  # the first scan goes on


def test_reads_and_edits_work_while_a_scan_runs(
    slow_scan: tuple[Path, Path, subprocess.Popen[bytes]],
) -> None:
    _photos, library, scan = slow_scan
    started = time.monotonic()
    people = run_cli("people", "--json", "-L", library)
    faces = run_cli("faces", "--json", "-L", library)
    named = run_cli("name", json.loads(people.stdout)[0]["person"], "Ada", "-L", library)
    assert people.returncode == faces.returncode == named.returncode == 0, people.stderr + faces.stderr
    assert len(json.loads(faces.stdout)) > 0
    assert time.monotonic() - started < 15  # they did not wait for the scan to end
    assert scan.poll() is None
    scan.wait(timeout=120)
    assert scan.returncode == 0, scan.stderr.read().decode() if scan.stderr else ""
    final = json.loads(run_cli("people", "--json", "-L", library).stdout)
    assert "Ada" in [p["name"] for p in final]


def test_serve_answers_while_a_scan_runs(slow_scan: tuple[Path, Path, subprocess.Popen[bytes]]) -> None:
    web = pytest.importorskip("facefile.web.app", reason="the web app is not built yet")
    from fastapi.testclient import TestClient

    from tests.fakes import FAKE_SETTINGS

    _photos, library, scan = slow_scan
    with TestClient(web.create_app(library, settings=FAKE_SETTINGS), base_url="http://127.0.0.1:8765") as c:
        for _ in range(3):
            assert c.get("/").status_code == 200
            time.sleep(0.2)
    assert scan.poll() is None


def test_concurrent_edits_of_one_person_are_all_kept(tmp_path: Path) -> None:
    """Four ``facefile move`` commands and a rename at once into the same person: every face arrives."""
    photos, library = tmp_path / "photos", tmp_path / "library"
    make_collection(photos, 24, seed=4, n_identities=4)
    assert run_cli("scan", photos, "-L", library, "-q").returncode == 0
    faces = json.loads(run_cli("faces", "--json", "-L", library).stdout)
    target = faces[0]["person"]
    by_photo: dict[str, dict[str, object]] = {}
    for f in faces:
        if f["person"] != target and f["photo"] not in {g["photo"] for g in faces if g["person"] == target}:
            by_photo.setdefault(str(f["photo"]), f)  # one face per photo: a person is once per photo
    movers = [str(f["face"]) for f in list(by_photo.values())[:4]]
    assert len(movers) == 4
    procs = [
        subprocess.Popen(
            cli("move", face, target, "-L", library),
            env=cli_env(),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for face in movers
    ]
    procs.append(
        subprocess.Popen(
            cli("name", target, "Grace", "-L", library),
            env=cli_env(),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    )
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    after = {f["face"]: f for f in json.loads(run_cli("faces", "--json", "-L", library).stdout)}
    for face in movers:
        assert after[face]["person"] == target and after[face]["source"] == "user"
    people = json.loads(run_cli("people", "--json", "-L", library).stdout)
    assert [p["name"] for p in people if p["person"] == target] == ["Grace"]
