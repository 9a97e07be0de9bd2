"""Analysis on Ray: the same library as a plain scan, through killed workers and a killed scan.

One local Ray (2 CPUs, a 100 MB object store) serves the whole module. Its
worker processes import the fake backends (``$FACEFILE_PLUGINS``) and take
``$FACEFILE_TEST_DETECT_SECONDS`` per photo, so a scan lasts long enough to
be struck; the reference scans run in this process, unslowed. A scan joining
Ray as ``local`` reads the photos from disk; one given the address sends
their bytes, as to a remote cluster.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

import facefile
from facefile.errors import ConfigError
from facefile.scan.scanner import ScanProgress, ScanSummary
from tests.hostile import (
    FACE_PX,
    REPO_ROOT,
    cli,
    cli_env,
    face_left,
    integrity,
    make_collection,
    read_library,
)
from tests.metadata_samples import area_item, dims_element, mwg_packet
from tests.videos import fake_video

needs_ray = pytest.mark.skipif(
    find_spec("ray") is None and not os.environ.get("CI"),
    reason="Ray is not installed (pip install '.[cluster]'); CI runs these",
)
DETECT_S = 0.25  # per photo, in the Ray workers only
HOSTILE = {"analyze.detector": "fake_hostile", "analyze.embedder": "fake_squares", "scan.workers": 1}
TASK_TITLE = b"ray::analyze_photo"


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray for the module; its workers see the test plugins and the slow detector."""
    import ray

    env = {
        "FACEFILE_PLUGINS": "tests.fakes,tests.hostile",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        "FACEFILE_TEST_DETECT_SECONDS": str(DETECT_S),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the raylet starts with them, and its workers inherit them
    try:
        ray.init(
            address="local",  # not another test's or bench's Ray still running on this machine
            num_cpus=2,
            object_store_memory=100 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _scan(photos: Path, lib: Path, **settings: object) -> ScanSummary:
    with facefile.Library(lib, settings={**HOSTILE, **settings}) as library:
        return library.scan(photos)


def _sidecar(photo: bytes, regions: list[tuple[str, int]]) -> None:
    """A digiKam sidecar naming faces of a :func:`make_collection` photo, by face index."""
    from PIL import Image

    with Image.open(os.fsdecode(photo)) as im:
        w, h = im.size
    items = "".join(
        area_item(name, f"{(face_left(i) + FACE_PX / 2) / w}", "0.5", f"{FACE_PX / w}", f"{FACE_PX / h}")
        for name, i in regions
    )
    with open(photo + b".xmp", "wb") as f:
        f.write(mwg_packet(items, dims_element(w, h)))


@pytest.mark.ray
@needs_ray
@pytest.mark.parametrize("how", ["local", "address"])
def test_ray_scan_gives_the_plain_scans_library(tmp_path: Path, ray_address: str, how: str) -> None:
    photos = tmp_path / "photos"
    layout = make_collection(photos, 10)
    # a name, a conflict, a broken sidecar and a file name that is not UTF-8: every
    # path in what the workers say must name the original file, not a worker's copy
    two = next(p for p, ids in layout.items() if len(ids) >= 2)
    one = next(p for p, ids in layout.items() if ids and p != two)
    _sidecar(one, [("Zoë", 0)])
    _sidecar(two, [("Eve", 0), ("Eve", 1)])
    odd = os.path.join(os.fsencode(photos), b"caf\xe9.png")
    os.rename(next(p for p in layout if p not in (one, two)), odd)
    with open(odd + b".xmp", "wb") as f:
        f.write(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>")
    plain = _scan(photos, tmp_path / "plain")
    on_ray = _scan(photos, tmp_path / "ray", **{"scan.ray": "local" if how == "local" else ray_address})

    assert on_ray.photos_analyzed == plain.photos_analyzed == 10
    assert on_ray.faces_found == plain.faces_found > 0
    assert read_library(tmp_path / "ray") == read_library(tmp_path / "plain")
    assert on_ray.problems == plain.problems == []
    assert on_ray.names_applied == plain.names_applied == 1
    assert on_ray.metadata_conflicts == plain.metadata_conflicts
    assert [c.split(":")[0] for c in plain.metadata_conflicts] == [os.fsdecode(two)]
    assert on_ray.metadata_problems == plain.metadata_problems
    assert [p for p, _ in plain.metadata_problems] == [os.fsdecode(odd + b".xmp")]
    # the sidecar state is the original's: a second scan finds nothing to read again
    again = _scan(photos, tmp_path / "ray", **{"scan.ray": ray_address})
    assert again.photos_unchanged == 10 and again.photos_analyzed == 0


def _analyzing_workers() -> list[int]:
    """PIDs of this test's Ray workers busy with a photo (the raylet is this process's child)."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read()
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{parent}/stat") as f:
                grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if title.startswith(TASK_TITLE) and grandparent == me:
            pids.append(int(entry))
    return pids


@pytest.mark.ray
@needs_ray
def test_killed_workers_lose_no_photo(tmp_path: Path, ray_address: str) -> None:
    photos = tmp_path / "photos"
    make_collection(photos, 24, seed=1)
    done: list[int] = []
    outcome: dict[str, object] = {}

    def run() -> None:
        def on_progress(p: ScanProgress) -> None:
            if p.phase == "analyze":
                done.append(p.done)

        try:
            with facefile.Library(tmp_path / "ray", settings={**HOSTILE, "scan.ray": "local"}) as lib:
                outcome["summary"] = lib.scan(photos, on_progress=on_progress)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    scan = threading.Thread(target=run)
    scan.start()
    killed: list[int] = []
    deadline = time.monotonic() + 60
    while scan.is_alive() and len(killed) < 2 and time.monotonic() < deadline:
        busy = _analyzing_workers()
        if busy and (done[-1] if done else 0) >= 2 + 6 * len(killed):
            os.kill(busy[0], signal.SIGKILL)
            killed.append(busy[0])
        time.sleep(0.02)
    scan.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    assert len(killed) == 2, "the scan ended before two workers could be killed"
    summary = outcome["summary"]
    assert isinstance(summary, ScanSummary)
    assert summary.photos_analyzed == 24 and summary.problems == []
    _scan(photos, tmp_path / "plain")
    assert read_library(tmp_path / "ray") == read_library(tmp_path / "plain")


def _photos_saved(lib: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{lib / 'library.db'}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM photos").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created yet


def _interrupt_after(args: list[object], env: dict[str, str], lib: Path, n: int, sig: int) -> int:
    """Run the CLI, send ``sig`` once ``n`` photos are saved; its exit status."""
    proc = subprocess.Popen(
        cli(*args), env=env, cwd=REPO_ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and _photos_saved(lib) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)  # the whole scan, as a power cut would
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGKILL), err.decode(errors="replace")
    return proc.returncode


@pytest.mark.ray
@pytest.mark.long
@needs_ray
def test_an_interrupted_or_killed_ray_scan_resumes_losing_nothing(tmp_path: Path, ray_address: str) -> None:
    photos, lib = tmp_path / "photos", tmp_path / "ray"
    make_collection(photos, 30, seed=2)
    env = cli_env("fake_hostile")
    args: list[object] = ["scan", photos, "--library", lib, "--ray-address", ray_address, "-q"]

    assert _interrupt_after(args, env, lib, 3, signal.SIGINT) == 130  # Ctrl-C
    after_ctrl_c = _photos_saved(lib)
    assert _interrupt_after(args, env, lib, after_ctrl_c + 4, signal.SIGKILL) == -signal.SIGKILL
    after_kill = _photos_saved(lib)
    assert 3 <= after_ctrl_c < after_kill < 30, (after_ctrl_c, after_kill)

    finish = subprocess.run(cli(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert finish.returncode == 0, finish.stderr
    _scan(photos, tmp_path / "plain")
    assert read_library(lib) == read_library(tmp_path / "plain")
    assert integrity(lib) == "ok"


@pytest.mark.ray
@needs_ray
def test_ray_workers_read_videos_with_the_librarys_video_settings(tmp_path: Path, ray_address: str) -> None:
    photos = tmp_path / "photos"
    fake_video(photos / "home.mkv", 8)  # person 2 is seen from 3 s to 7 s
    sparse = {"video.sample_seconds": 2.5}
    plain = _scan(photos, tmp_path / "plain", **sparse)
    on_ray = _scan(photos, tmp_path / "ray", **sparse, **{"scan.ray": "local"})
    assert on_ray.videos_analyzed == plain.videos_analyzed == 1
    assert read_library(tmp_path / "ray") == read_library(tmp_path / "plain")

    def spans(lib: Path) -> list[tuple[float, float]]:
        with facefile.Library(lib) as library:
            return sorted((f.span.t_start, f.span.t_end) for f in library.faces() if f.span is not None)

    # samples 2.5 s apart (0, 2.5, 5, 7.5): person 2 is seen at 5 s only, not from 3 s as at the default
    assert spans(tmp_path / "ray") == spans(tmp_path / "plain") == [(0.0, 7.6), (5.0, 5.0)]


@pytest.mark.ray
@needs_ray
def test_packaged_models_load_in_ray_workers(tmp_path: Path, ray_address: str, astronaut) -> None:
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for quality in (95, 85):
        Image.fromarray(astronaut).save(photos / f"astronaut_{quality}.jpg", quality=quality)
    real = {"scan.workers": 1}
    with facefile.Library(tmp_path / "plain", settings=real) as lib:
        lib.scan(photos)
    with facefile.Library(tmp_path / "ray", settings={**real, "scan.ray": "local"}) as lib:
        summary = lib.scan(photos)
    assert summary.faces_found == 2 and summary.people == 1
    assert read_library(tmp_path / "ray") == read_library(tmp_path / "plain")


def test_without_ray_the_scan_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from facefile.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when absent
    (tmp_path / "photos").mkdir()
    res = CliRunner().invoke(app, ["scan", str(tmp_path / "photos"), "-L", str(tmp_path / "lib"), "--ray"])
    assert res.exit_code == 1
    assert "Ray is not installed; pip install 'facefile[cluster]'" in res.output


def test_a_ray_setting_that_is_no_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scan\.ray='cluster'.*HOST:PORT"):
        facefile.Library(tmp_path / "lib", settings={"scan.ray": "cluster"})
