"""Nothing of the user's is stranded: random sequences of decisions, each followed by regroups.

A library of fake faces (four people, one photo with all four) is scanned
once per engine. Each example copies it, then runs a random sequence of the
user's decisions (name, merge, move, unassign, "not this person", exclude,
hide), each followed by a regroup with the current settings and by a change
of the model's settings: a clusterer that links almost nothing, one that
links everything it may, a re-analysis with another embedder (which moves
every descriptor), or a re-scan. After every regroup the library must hold
what the user said, kept in :class:`Intent`:

* every face the user confirmed (by naming its person, moving it, merging)
  is in that person, or where the user last put it;
* a face is never in a person the user said it is not;
* an excluded face belongs to nobody;
* names stay on the person they were given to; hidden people stay hidden
  (hiding, like naming, confirms the faces the person holds);
* no person holds two faces of one photo.

SQLite runs more examples than PostgreSQL (each PostgreSQL example copies a
database). Hypothesis keeps the failing sequences it finds in
``.hypothesis/`` and tries them first next time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facefile
from facefile.embed import EMBEDDERS
from facefile.errors import ConstraintError
from tests.clusterers import LOOSE, TIGHT
from tests.fakes import FAKE_SETTINGS, FakeSquareEmbedder, draw_photo
from tests.helpers import SMALL_SET

# four people; a3, b2 and group hold several faces, so photo rules come into play
LAYOUT = {**SMALL_SET, "d2.png": [3]}
NOISY = "test_noisy_squares"


class NoisySquareEmbedder(FakeSquareEmbedder):
    """Another model: the same identities, four times the noise (faces of one person drift apart)."""

    model_id = "fake_squares_noisy_v1"

    def embed(self, chips):  # type: ignore[no-untyped-def]
        out = super().embed(chips)
        rng = np.random.default_rng(len(chips))
        return (out + rng.normal(scale=0.06, size=out.shape)).astype(np.float32)


if NOISY not in EMBEDDERS.names():
    EMBEDDERS.register(NOISY, NoisySquareEmbedder)

OPS = ("name", "merge", "move", "unassign", "not_person", "exclude", "hide")
CHANGES = ("tight", "loose", "reanalyse", "rescan")


@dataclass
class Intent:
    """What the user has said, in their terms: where faces go and where they do not."""

    placed: dict[int, int] = field(default_factory=dict)
    """Face -> the person the user's last word (name, hide, move, merge) put it in."""
    refused: dict[int, set[int]] = field(default_factory=dict)
    """Face -> people the user said it is not."""
    excluded: set[int] = field(default_factory=set)
    names: dict[int, str] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)


@dataclass
class Session:
    """One example's library: its location, the photos, and the embedder now in use.

    Each combination of settings is one :class:`facefile.Library` on the
    same database, opened once (as two processes with different
    ``facefile.toml`` would be).
    """

    location: str
    photos: Path
    face_ids: list[int]
    embedder: str = "fake_squares"
    _open: dict[tuple[str, str], facefile.Library] = field(default_factory=dict)

    def lib(self, clusterer: str = "") -> facefile.Library:
        key = (self.embedder, clusterer)
        if key not in self._open:
            overrides = {"analyze.embedder": self.embedder}
            if clusterer:
                overrides["group.clusterer"] = clusterer
            self._open[key] = facefile.Library(self.location, settings={**FAKE_SETTINGS, **overrides})
        return self._open[key]

    def close(self) -> None:
        for lib in self._open.values():
            lib.close()


# -- the user's decisions, applied to the library and to the intent ----------------


def _people(lib: facefile.Library) -> list[int]:
    return sorted(p.id for p in lib.people(include_hidden=True))


def _faces_of(lib: facefile.Library, person: int) -> list[int]:
    return [f.id for f in lib.faces(person)]


def apply(lib: facefile.Library, s: Session, want: Intent, op: str, i: int, j: int) -> None:
    """Make decision ``op`` on the ``i``-th face or person (``j``: the second argument)."""
    people = _people(lib)
    face = s.face_ids[i % len(s.face_ids)]
    before = lib.face(face).person_id
    if op == "name":
        if not people:
            return
        person = people[i % len(people)]
        held = _faces_of(lib, person)
        lib.name(person, f"Name {j % 4}")
        want.names[person] = f"Name {j % 4}"
        want.placed.update(dict.fromkeys(held, person))
    elif op == "merge":
        if len(people) < 2:
            return
        source, target = people[i % len(people)], people[j % len(people)]
        held = _faces_of(lib, source) + _faces_of(lib, target)
        if source == target:
            return
        try:
            lib.merge(source, target)
        except ConstraintError:
            return  # seen together in a photo: refused, nothing changed
        want.placed.update(dict.fromkeys(held, target))
        for fid, refused in want.refused.items():
            if source in refused:
                refused.discard(source)
                refused.add(target)
            if fid in held:
                refused.discard(target)  # the merge is the later word
        if source in want.names:
            want.names.setdefault(target, want.names[source])
            del want.names[source]
        want.hidden.discard(source)
    elif op == "move":
        targets: list[int | str] = [*people, "new"]
        target = targets[j % len(targets)]
        try:
            person = lib.move(face, target).id
        except ConstraintError:
            return  # two faces of one photo in one person: refused, nothing changed
        want.placed[face] = person
        want.refused.setdefault(face, set()).discard(person)
        if before is not None and before != person:
            want.refused[face].add(before)
        want.excluded.discard(face)
    elif op == "unassign":
        lib.unassign(face)
        if before is not None:
            want.refused.setdefault(face, set()).add(before)
        want.placed.pop(face, None)
    elif op == "not_person":
        if not people:
            return
        person = people[j % len(people)]
        lib.not_person(face, person)
        want.refused.setdefault(face, set()).add(person)
        if want.placed.get(face) == person:
            del want.placed[face]
    elif op == "exclude":
        lib.exclude(face)
        want.excluded.add(face)
        want.placed.pop(face, None)
    elif op == "hide":
        if not people:
            return
        person = people[i % len(people)]
        held = _faces_of(lib, person)
        lib.hide(person)
        want.hidden.add(person)
        want.placed.update(dict.fromkeys(held, person))  # hidden with the faces it holds


def change(s: Session, what: str) -> None:
    """A change of the model's settings, then a regroup (or a re-scan) under them."""
    if what == "reanalyse":
        s.embedder = NOISY if s.embedder == "fake_squares" else "fake_squares"
    if what == "rescan":
        s.lib().scan(s.photos)
    else:  # with a new embedder, every photo is analysed again first
        s.lib({"tight": TIGHT, "loose": LOOSE}.get(what, "")).regroup()


def check(lib: facefile.Library, s: Session, want: Intent, after: str) -> None:
    faces = {fid: lib.face(fid) for fid in s.face_ids}
    for fid, person in want.placed.items():
        assert faces[fid].person_id == person, (
            f"after {after}: face-{fid} was confirmed for person-{person:04d}, is in {faces[fid].person_id}"
        )
    for fid, refused in want.refused.items():
        assert faces[fid].person_id not in refused, f"after {after}: face-{fid} is in a person it is not"
    for fid in want.excluded:
        assert faces[fid].person_id is None, f"after {after}: excluded face-{fid} is in a person"
    people = {p.id: p for p in lib.people(include_hidden=True)}
    for pid, name in want.names.items():
        assert pid in people and people[pid].name == name, f"after {after}: person-{pid:04d} lost {name!r}"
    for pid in want.hidden:  # a hidden person the user emptied may go; while it holds faces, it stays
        if pid in people or pid in want.placed.values():
            assert pid in people and people[pid].is_hidden, f"after {after}: person-{pid:04d} is not hidden"
    seen: set[tuple[int, int]] = set()
    for f in faces.values():
        if f.person_id is not None:
            assert (f.person_id, f.photo_id) not in seen, f"after {after}: one person twice in a photo"
            seen.add((f.person_id, f.photo_id))


def run_sequence(s: Session, steps: list[tuple[str, int, int, str]]) -> None:
    want = Intent()
    try:
        for op, i, j, what in steps:
            lib = s.lib()
            apply(lib, s, want, op, i, j)
            lib.regroup()
            check(lib, s, want, f"{op} and a regroup")
            change(s, what)
            check(s.lib(), s, want, f"{op} and then {what}")
    finally:
        s.close()


STEPS = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 63),
        st.integers(0, 63),
        st.sampled_from(CHANGES),
    ),
    min_size=1,
    max_size=6,
)


# -- one scanned library per engine, copied for each example ------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small photos (48-pixel faces): a re-analysis reads every one of them."""
    folder = tmp_path_factory.mktemp("decisions") / "photos"
    for name, identities in LAYOUT.items():
        draw_photo(folder / name, identities, size=(40 + 80 * len(identities), 96), face_px=48)
    return folder


def _scan_template(location: str, photos: Path) -> list[int]:
    with facefile.Library(location, settings=FAKE_SETTINGS) as lib:
        lib.scan(photos)
        return [f.id for f in lib.faces()]


@pytest.fixture(scope="module")
def sqlite_copies(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Session]:
    template = tmp_path_factory.mktemp("decisions") / "template"
    face_ids = _scan_template(str(template), photos)
    root = tmp_path_factory.mktemp("examples")
    count = iter(range(10**6))

    def copy() -> Session:
        dest = root / f"lib{next(count)}"
        shutil.copytree(template, dest)
        return Session(str(dest), photos, face_ids)

    return copy


@pytest.fixture(scope="module")
def postgres_copies(photos: Path, pg_server: object) -> Iterator[Callable[[], Session]]:
    import psycopg

    from tests.conftest import _with_dbname

    admin = pg_server.get_uri()  # type: ignore[attr-defined]
    cache = tempfile.mkdtemp(prefix="facefile-decisions-")
    with pytest.MonkeyPatch.context() as mp, psycopg.connect(admin, autocommit=True) as conn:
        mp.setenv("XDG_CACHE_HOME", cache)  # the PostgreSQL libraries' local folders (crops)
        template = f"decisions_{os.getpid()}"
        conn.execute(f"CREATE DATABASE {template}")
        face_ids = _scan_template(_with_dbname(admin, template), photos)
        count = iter(range(10**6))

        def copy() -> Session:
            name = f"{template}_{next(count)}"
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
            return Session(_with_dbname(admin, name), photos, face_ids)

        yield copy
    shutil.rmtree(cache, ignore_errors=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_decisions_hold_through_regroups_sqlite(sqlite_copies: Callable[[], Session], steps) -> None:  # type: ignore[no-untyped-def]
    run_sequence(sqlite_copies(), steps)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_decisions_hold_through_regroups_postgres(postgres_copies: Callable[[], Session], steps) -> None:  # type: ignore[no-untyped-def]
    run_sequence(postgres_copies(), steps)


def test_the_intent_model_catches_a_stranded_face(sqlite_copies: Callable[[], Session]) -> None:
    # the checker itself: a face taken from the person the user named is reported
    s = sqlite_copies()
    want = Intent()
    lib = s.lib()
    apply(lib, s, want, "name", 0, 0)
    (named,) = set(want.placed.values())
    stray = next(iter(want.placed))
    with lib.store.transaction() as c:  # what a regroup that strands a face would leave
        c.execute("DELETE FROM assignments WHERE face_id = ?", (stray,))
    with pytest.raises(AssertionError, match=f"face-{stray} was confirmed for person-{named:04d}"):
        check(lib, s, want, "a stray edit")
    s.close()
