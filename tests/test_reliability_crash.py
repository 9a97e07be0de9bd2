"""Crash safety: ``kill -9`` at random moments loses no work and no decision.

``facefile scan`` is started as a user would start it and killed (SIGKILL to
its whole process group, as a power cut would) after a random, seeded delay,
again and again, with the user's edits made between kills. The library it
ends with must equal that of a scan never interrupted, with the same edits.
The same for ``facefile regroup`` and ``facefile export``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import facefile
import facefile.errors
from tests.fakes import FAKE_SETTINGS
from tests.hostile import (
    REPO_ROOT,
    cli,
    cli_env,
    face_left,
    integrity,
    make_collection,
    read_library,
    run_cli,
)

# Each proof kills real processes dozens of times (about 90 s in all): a long proof.
pytestmark = pytest.mark.long

SEED = 20240611
# enough kills to strike every phase (mid-analysis, after it, between edits) at least
# a few times; more only repeat the proof
SCAN_KILLS = 10
DECISION_KILLS = 8  # one decision after every second kill: four decisions
REGROUP_KILLS = 5
EXPORT_KILLS = 5
N_PHOTOS, N_LATER = 100, 30
NAME = "Zoë Ñandú"
MERGED = (4, 5)  # identities never drawn together, so the user can merge them
# 10 ms of extra "detection" per photo stretches analysis over several kills
# Slow enough that a whole scan outlasts the kills (about 5 photos stored per killed run).
SLOW_ENV = {"FACEFILE_TEST_DETECT_SECONDS": "0.4"}


@dataclass
class KillLog:
    total: int
    start: int = 0
    kills: int = 0
    runs_finished: int = 0
    photos_after_kill: list[int] = field(default_factory=list)

    @property
    def kills_mid_analysis(self) -> int:
        """Kills that struck after some, but not all, new photos were stored."""
        before = [self.start, *self.photos_after_kill]
        return sum(1 for a, b in zip(before, self.photos_after_kill, strict=False) if a < b < self.total)

    @property
    def kills_after_analysis(self) -> int:
        """Kills that struck a run with every photo already stored (planning, grouping)."""
        return self.photos_after_kill.count(self.total)


def run_and_kill(args: list[str | os.PathLike[str]], env: dict[str, str], delay: float) -> bool:
    """Run a command and SIGKILL its process group after ``delay`` s; ``True`` if it was killed."""
    proc = subprocess.Popen(
        cli(*args), env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        _out, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return True
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return False


def photos_stored(library: Path) -> int:
    if not (library / "library.db").exists():
        return 0  # killed before the library was made
    conn = sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM photos WHERE status = 'ok'").fetchone()[0])
    finally:
        conn.close()


def kill_scans(
    photos: Path,
    library: Path,
    log: KillLog,
    rng: random.Random,
    between: Callable[[int], None] = lambda kill: None,
) -> None:
    """Kill ``facefile scan`` until ``log`` has its kills, then let one run finish."""
    env = cli_env("fake_hostile", **SLOW_ENV)
    wanted = log.kills
    log.kills = 0
    while log.kills < wanted:
        if run_and_kill(["scan", photos, "-L", library, "-q"], env, rng.uniform(0.7, 2.0)):
            if not (library / "library.db").exists():
                continue  # killed while starting up, before any work: proves nothing
            log.kills += 1
            log.photos_after_kill.append(photos_stored(library))
            assert integrity(library) == "ok", f"after kill {log.kills}"
            between(log.kills)
        else:
            log.runs_finished += 1
            assert log.runs_finished <= 3, (
                f"scans finished before the kill window {log.runs_finished} times "
                f"({log.kills} kills so far): slow them down (SLOW_ENV)"
            )
    # up to 100 photos at 0.4 s each remain after the kills: 120 s is no margin on a busy machine
    done = run_cli("scan", photos, "-L", library, "-q", env=env, timeout=300)
    assert done.returncode == 0, done.stderr


# -- fixtures ------------------------------------------------------------------------
@dataclass(frozen=True)
class Scanned:
    photos: Path
    layout: dict[bytes, list[int]]
    reference: Path
    killed: Path
    log: KillLog


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    base = tmp_path_factory.mktemp("crash")
    photos = base / "photos"
    layout = make_collection(photos, N_PHOTOS, seed=SEED, apart=MERGED)
    reference, killed = base / "reference", base / "killed"
    done = run_cli("scan", photos, "-L", reference, "-q", env=cli_env("fake_hostile"))
    assert done.returncode == 0, done.stderr
    log = KillLog(total=N_PHOTOS, kills=SCAN_KILLS)
    kill_scans(photos, killed, log, random.Random(SEED))
    print(
        f"\nscan: {log.kills} kills ({log.kills_mid_analysis} mid-analysis, "
        f"{log.kills_after_analysis} after every photo was stored), {log.runs_finished} runs "
        f"finished between kills; photos stored after each kill: {log.photos_after_kill}"
    )
    return Scanned(photos, layout, reference, killed, log)


# -- the user's decisions ---------------------------------------------------------
@dataclass(frozen=True)
class Where:
    """Faces of known identities, as ``(photo path, left edge)``; ids differ between libraries."""

    layout: dict[bytes, list[int]]

    def face(self, identity: int, nth: int = 0) -> tuple[bytes, int]:
        found = [(p, face_left(ids.index(identity))) for p, ids in self.layout.items() if identity in ids]
        return found[nth]


def face_id(lib: facefile.Library, where: tuple[bytes, int]) -> int:
    path, left = where
    for f in lib.faces():
        if os.fsencode(f.photo) == path and round(f.box.left) == left:
            return f.id
    raise AssertionError(f"no face at {where}")


@dataclass
class Decisions:
    """The user's edits, made between kills, and the ids they were made on."""

    where: Where
    named: int = 0
    merged_into: int = 0
    merged_away: int = 0
    moved_face: int = 0
    moved_to: int = 0
    rejected_face: int = 0
    rejected_from: int = 0

    def make(self, library: Path, step: int) -> None:
        with facefile.Library(library, settings=FAKE_SETTINGS, create=False) as lib:

            def person_at(identity: int, nth: int = 0) -> int:
                pid = lib.face(face_id(lib, self.where.face(identity, nth))).person_id
                assert pid is not None
                return pid

            if step == 0:
                self.named = person_at(2)
                lib.name(self.named, NAME)
            elif step == 1:
                self.merged_away, self.merged_into = person_at(MERGED[0]), person_at(MERGED[1])
                lib.merge(self.merged_away, self.merged_into)
            elif step == 2:
                self.moved_face = face_id(lib, self.where.face(0, 1))
                self.moved_to = person_at(1)
                lib.move(self.moved_face, self.moved_to)
            elif step == 3:
                self.rejected_face = face_id(lib, self.where.face(3, 1))
                self.rejected_from = person_at(3, 1)
                lib.not_person(self.rejected_face, self.rejected_from)

    def assert_kept(self, library: Path) -> None:
        """Each edit is still in force, checked on its own."""
        with facefile.Library(library, settings=FAKE_SETTINGS, create=False) as lib:
            assert lib.person(self.named).name == NAME
            assert lib.face(face_id(lib, self.where.face(2))).person_id == self.named
            with pytest.raises(facefile.errors.NotFoundError):
                lib.person(self.merged_away)
            assert lib.face(face_id(lib, self.where.face(MERGED[0]))).person_id == self.merged_into
            assert lib.face(face_id(lib, self.where.face(MERGED[1]))).person_id == self.merged_into
            moved = lib.face(self.moved_face)
            assert (moved.person_id, moved.source) == (self.moved_to, "user")
            assert lib.face(self.rejected_face).person_id != self.rejected_from
            assert ("not_person", self.rejected_face, self.rejected_from, None) in lib.store.constraints()


@dataclass(frozen=True)
class Edited:
    library: Path
    decisions: Decisions
    log: KillLog


@pytest.fixture(scope="module")
def edited(scanned: Scanned, tmp_path_factory: pytest.TempPathFactory) -> Edited:
    """The killed library, edited between the kills of scans that add more photos."""
    base = tmp_path_factory.mktemp("edited")
    library = base / "library"
    shutil.copytree(scanned.killed, library)
    make_collection(scanned.photos / "later", N_LATER, seed=SEED + 1, apart=MERGED, start=N_PHOTOS)
    decisions = Decisions(Where(scanned.layout))
    log = KillLog(total=N_PHOTOS + N_LATER, start=N_PHOTOS, kills=DECISION_KILLS)
    kill_scans(
        scanned.photos, library, log, random.Random(SEED + 1),
        between=lambda kill: decisions.make(library, kill // 2 - 1) if kill % 2 == 0 else None,
    )  # fmt: skip
    return Edited(library, decisions, log)


# -- scan -----------------------------------------------------------------------------
def test_scan_killed_again_and_again_ends_like_an_uninterrupted_one(scanned: Scanned) -> None:
    assert scanned.log.kills >= SCAN_KILLS
    assert scanned.log.kills_mid_analysis >= 3, scanned.log.photos_after_kill
    after, reference = read_library(scanned.killed), read_library(scanned.reference)
    assert integrity(scanned.killed) == "ok"
    assert len(after.photos) == N_PHOTOS
    assert after.photos == reference.photos
    assert len(after.faces) == sum(len(ids) for ids in scanned.layout.values())
    assert after.faces == reference.faces  # none lost, none doubled
    assert after.people == reference.people
    assert len(after.people) == 6


def test_decisions_made_between_kills_survive(edited: Edited) -> None:
    assert edited.log.kills == DECISION_KILLS
    assert integrity(edited.library) == "ok"
    assert len(read_library(edited.library).photos) == N_PHOTOS + N_LATER
    edited.decisions.assert_kept(edited.library)


# -- regroup ----------------------------------------------------------------------------
def test_regroup_killed_at_random_moments_loses_nothing(edited: Edited, tmp_path: Path) -> None:
    library = tmp_path / "library"
    shutil.copytree(edited.library, library)
    env = cli_env("fake_hostile")
    before = read_library(library)
    # kills land inside one regroup's own duration, however fast grouping gets
    t0 = time.perf_counter()
    assert run_cli("regroup", "-L", library, env=env).returncode == 0
    whole = time.perf_counter() - t0
    assert read_library(library) == before
    rng = random.Random(SEED + 2)
    kills = finished = 0
    while kills < REGROUP_KILLS:
        if run_and_kill(["regroup", "-L", library], env, rng.uniform(0.3, 0.95) * whole):
            kills += 1
            assert integrity(library) == "ok"
            state = read_library(library)
            assert state.faces == before.faces and state.names == before.names
        else:
            finished += 1
            assert finished <= REGROUP_KILLS, f"{finished} regroups ended before their kill ({kills} kills)"
    assert run_cli("regroup", "-L", library, env=env).returncode == 0
    assert read_library(library) == before
    edited.decisions.assert_kept(library)


# -- export -----------------------------------------------------------------------------
def tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_export_killed_at_random_moments_finishes_whole(scanned: Scanned, tmp_path: Path) -> None:
    env = cli_env("fake_hostile")
    whole = tmp_path / "whole"
    assert run_cli("export", whole, "--mode", "copy", "-L", scanned.killed, env=env).returncode == 0
    dest = tmp_path / "killed"
    originals = {hashlib.sha256(p.read_bytes()).hexdigest() for p in scanned.photos.rglob("*.png")}
    rng = random.Random(SEED + 3)
    kills = 0
    while kills < EXPORT_KILLS:
        if run_and_kill(["export", dest, "--mode", "copy", "-L", scanned.killed], env, rng.uniform(0.3, 2.0)):
            kills += 1
            for path in dest.rglob("*"):
                if path.suffix == ".png" and not path.name.endswith(".facefile-tmp"):
                    # whatever carries a final name is a whole copy of an original
                    assert hashlib.sha256(path.read_bytes()).hexdigest() in originals, path
    assert run_cli("export", dest, "--mode", "copy", "-L", scanned.killed, env=env).returncode == 0
    expected = tree(whole)
    assert len(expected) > N_PHOTOS
    assert tree(dest) == expected  # same files, same bytes, no temporary file left
