"""The Python API: one :class:`Library`, mirroring the command line.

::

    from facefile import Library

    with Library("~/facefile-library") as lib:   # or Library("postgresql://me@db/photos")
        lib.scan("~/Pictures")
        for person in lib.people():
            print(person.key, person.name, person.n_faces)
        lib.name("person-0007", "Ana")
        lib.export("~/People")

    facefile.api.migrate("~/facefile-library", "postgresql://me@db/photos")
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from facefile.config import CONFIG_FILE, Settings, default_library_dir, load_settings, settings_dict
from facefile.errors import ConstraintError, NotFoundError
from facefile.export.folders import ExportSummary
from facefile.export.folders import export as _export
from facefile.export.xmp import XmpSummary
from facefile.export.xmp import write_xmp as _write_xmp
from facefile.plugins import load_plugins
from facefile.regroup import GroupSummary
from facefile.regroup import regroup as _regroup
from facefile.review import explain, review_items
from facefile.scan.scanner import ProblemFn, ProgressFn, ScanSummary
from facefile.scan.scanner import refresh_models as _refresh_models
from facefile.scan.scanner import scan as _scan
from facefile.store import edits
from facefile.store.copy import CopySummary, copy_library
from facefile.store.db import Store, require_library
from facefile.store.location import Location, is_postgres_url, parse_location
from facefile.store.twins import twins_by_photo
from facefile.store.videos import VideoAppearance, person_videos
from facefile.types import Explanation, Face, Person, ReviewItem

PersonRef = int | str
FaceRef = int | str


def library_location(path: str | os.PathLike[str] | Location | None = None) -> Location:
    """Where a library is: ``path``, else ``$FACEFILE_LIBRARY``, else the XDG data folder.

    ``path`` (and the variable) may be a folder or a ``postgresql://`` URL.
    """
    if path is None or path == "":
        env = os.environ.get("FACEFILE_LIBRARY", "")
        path = env if is_postgres_url(env) else default_library_dir()
    return parse_location(path)


class Library:
    """A facefile library: a folder holding ``library.db`` and a crop cache, or a PostgreSQL database.

    Args:
        path: the library folder or a ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE``
            URL; default ``$FACEFILE_LIBRARY`` or the XDG data folder
            (``~/.local/share/facefile``). A PostgreSQL library keeps its
            crop cache and ``facefile.toml`` in a local folder
            (:mod:`facefile.store.location`), which ``path`` then names.
        settings: ``{"section.key": value}`` overrides (highest precedence).
        create: create the library if it does not exist (``scan`` needs it;
            other commands refuse a missing library).
        read_only: open the database read-only (the web page's readers).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | Location | None = None,
        *,
        settings: Mapping[str, object] | None = None,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        load_plugins()
        self.location = library_location(path)
        """Where the library is; ``str(location)`` is safe to print (no password)."""
        self.path = self.location.local_dir
        if not self.location.is_postgres and (not create or read_only):
            require_library(self.path)  # before the settings: a missing library is the clearer error
        self.settings: Settings = load_settings(self.path, settings)
        self.store = Store(self.location, read_only=read_only, create=create)

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- scanning and grouping ---------------------------------------------------
    def scan(
        self,
        *roots: str | os.PathLike[str],
        on_progress: ProgressFn | None = None,
        on_problem: ProblemFn | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> ScanSummary:
        """Find, analyse and group every photo under ``roots``.

        Unchanged photos are skipped; moved photos keep their faces and
        people; photos gone from disk are marked missing, never dropped.
        On PostgreSQL a scan waits while another scan of the library runs
        (``on_wait`` hears why, once); on SQLite it is refused.
        """
        self.store.on_lock_wait = on_wait
        run_id = self.store.start_run("scan", json.dumps(settings_dict(self.settings)))
        # faces re-embedded by a new model change every distance: group them all anew
        # (a stale photo that is gone from disk cannot be re-embedded, so it does not count)
        stale = self.store.stale_photos(self.settings.analyze.model_id)
        is_upgrade = any(os.path.exists(p.path) for p in stale)
        summary = _scan(
            self.store,
            [os.path.abspath(os.path.expanduser(os.fspath(r))) for r in roots],
            self.settings,
            regroup_fn=self._group_all if is_upgrade else self._group_after_scan,
            on_progress=on_progress,
            on_problem=on_problem,
        )
        self.store.finish_run(run_id, json.dumps(summary.as_dict(), default=str))
        return summary

    def _group_after_scan(self, store: Store, settings: Settings) -> tuple[int, int]:
        result = _regroup(store, settings, is_full=False)
        return result.people, result.faces_assigned

    def _group_all(self, store: Store, settings: Settings) -> tuple[int, int]:
        result = _regroup(store, settings, is_full=True)
        return result.people, result.faces_assigned

    def regroup(
        self,
        *,
        on_progress: ProgressFn | None = None,
        on_problem: ProblemFn | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> GroupSummary:
        """Regroup all faces (user decisions are kept as constraints).

        Photos analysed by another model (a library from an older facefile,
        or another ``analyze.embedder``) are analysed again first, with
        progress reported like a scan's; faces keep their ids and decisions.
        """
        self.store.on_lock_wait = on_wait
        _refresh_models(self.store, self.settings, on_progress=on_progress, on_problem=on_problem)
        return _regroup(self.store, self.settings)

    # -- reading ----------------------------------------------------------------
    def people(self, *, include_hidden: bool = False) -> list[Person]:
        """People with their face and photo counts, largest first."""
        return self.store.people(include_hidden=include_hidden)

    def person(self, ref: PersonRef) -> Person:
        """A person by ``person-0007``, ``7`` or exact name."""
        return self.store.person(self.person_id(ref))

    def person_id(self, ref: PersonRef) -> int:
        if isinstance(ref, int):
            self.store.person(ref)
            return ref
        text = ref.strip()
        m = re.fullmatch(r"(?:person-)?0*(\d+)", text)
        if m:
            pid = int(m.group(1))
            self.store.person(pid)
            return pid
        ids = self.store.find_person_by_name(text)
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise NotFoundError(f"No person called {text!r}; 'facefile people' lists ids and names.")
        raise ConstraintError(
            f"{len(ids)} people are called {text!r}; use an id instead: "
            + ", ".join(f"person-{i:04d}" for i in ids)
        )

    def faces(
        self,
        person: PersonRef | None = None,
        *,
        unassigned: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Face]:
        """Faces, all or of one person, or those that belong to nobody."""
        pid = None if person is None else self.person_id(person)
        return self.store.faces(person_id=pid, unassigned=unassigned, limit=limit, offset=offset)

    def face(self, ref: FaceRef) -> Face:
        return self.store.face(self.face_id(ref))

    @staticmethod
    def face_id(ref: FaceRef) -> int:
        if isinstance(ref, int):
            return ref
        m = re.fullmatch(r"(?:face-)?(\d+)", ref.strip())
        if not m:
            raise NotFoundError(f"{ref!r} is not a face id; face ids look like face-123.")
        return int(m.group(1))

    def videos(self, person: PersonRef) -> list[VideoAppearance]:
        """The videos a person is seen in: one entry per appearance (face), by video then time.

        A face of a video is also in :meth:`faces`, its ``span`` set (``photo`` is the video).
        """
        return person_videos(self.store, self.person_id(person))

    def raw_twins(self) -> dict[int, list[str]]:
        """Photo id -> the RAW files shot with it (``IMG_1.CR2`` beside ``IMG_1.JPG``), one photo each."""
        return twins_by_photo(self.store)

    def stats(self) -> dict[str, int]:
        return self.store.counts()

    # -- the user's edits ------------------------------------------------------------
    def name(self, person: PersonRef, name: str | None) -> Person:
        """Name a person (``None`` or ``""`` clears the name).

        Naming confirms the faces the person holds now, as moving them there
        would: no regrouping takes them from the name, unless the user
        later moves, unassigns, excludes or marks one "not this person".
        """
        pid = self.person_id(person)
        edits.rename(self.store, pid, name or None)
        return self.store.person(pid)

    def merge(self, source: PersonRef, target: PersonRef) -> Person:
        """Merge ``source`` into ``target``; the merge survives every regrouping."""
        sid, tid = self.person_id(source), self.person_id(target)
        edits.merge(self.store, sid, tid)
        return self.store.person(tid)

    def move(self, faces: FaceRef | Iterable[FaceRef], person: PersonRef) -> Person:
        """Put faces in a person (``"new"`` makes a new one); kept across regrouping."""
        ids = [self.face_id(f) for f in ([faces] if isinstance(faces, (int, str)) else faces)]
        target = None if person == "new" else self.person_id(person)
        pid = edits.move(self.store, ids, target)
        return self.store.person(pid)

    def not_person(self, faces: FaceRef | Iterable[FaceRef], person: PersonRef) -> None:
        """Remember that faces are not this person, and take them out of it."""
        ids = [self.face_id(f) for f in ([faces] if isinstance(faces, (int, str)) else faces)]
        edits.not_person(self.store, ids, self.person_id(person))

    def unassign(self, face: FaceRef) -> None:
        edits.unassign(self.store, self.face_id(face))

    def exclude(self, face: FaceRef, *, is_excluded: bool = True) -> None:
        """Keep a face out of grouping (``is_excluded=False`` lets it back in)."""
        edits.set_excluded(self.store, self.face_id(face), is_excluded)

    def hide(self, person: PersonRef, *, is_hidden: bool = True) -> None:
        """Hide a person (``is_hidden=False`` shows it again).

        Like naming, hiding confirms the faces the person holds now, so no
        regrouping brings them back as a visible person.
        """
        edits.set_hidden(self.store, self.person_id(person), is_hidden)

    def forget(self, person: PersonRef, *, on_problem: ProblemFn | None = None) -> int:
        """Erase a person for real; returns the number of faces erased.

        Regions facefile wrote for the person in XMP sidecars are taken out
        of them too (``on_problem`` hears of a sidecar that cannot be changed).
        """
        pid = self.person_id(person)
        photos = {f.photo_id for f in self.store.faces(person_id=pid)}
        n = edits.forget_person(self.store, pid)
        for form in ("photo.ext.xmp", "photo.xmp"):
            _write_xmp(self.store, form=form, photo_ids=photos, on_problem=on_problem)
        return n

    def forget_all(self) -> None:
        """Erase the whole library's data (photos are never touched).

        A folder loses ``library.db`` and the crops; a PostgreSQL library
        loses facefile's tables (the database itself stays) and this
        machine's crops. ``facefile.toml`` stays.
        """
        edits.forget_all(self.store)

    # -- review ------------------------------------------------------------------------
    def review(self, limit: int = 50) -> list[ReviewItem]:
        """Questions whose answers fix the most errors first (see ``answer``)."""
        return review_items(self.store, self.settings, limit)

    def answer(self, item: ReviewItem, is_same: bool) -> None:
        """Record the user's answer to a review item as a constraint."""
        if item.kind == "face" and item.face_id is not None:
            if is_same:
                edits.move(self.store, [item.face_id], item.person_id)
            else:
                edits.not_person(self.store, [item.face_id], item.person_id)
        elif item.kind == "merge" and item.other_person_id is not None:
            if is_same:
                edits.merge(self.store, item.other_person_id, item.person_id)
            else:
                edits.different_people(self.store, item.person_id, item.other_person_id)
        else:
            raise ConstraintError(f"Cannot answer a review item of kind {item.kind!r}.")

    def why(self, face: FaceRef) -> Explanation:
        """Why a face is in its person: nearest faces, closest other person."""
        return explain(self.store, self.settings, self.face_id(face))

    # -- output ------------------------------------------------------------------------
    def export(
        self, dest: str | os.PathLike[str], *, mode: str = "symlink", include_hidden: bool = False
    ) -> ExportSummary:
        return _export(self.store, Path(dest), mode=mode, include_hidden=include_hidden)

    def write_xmp(
        self,
        people: Iterable[PersonRef] | None = None,
        *,
        dry_run: bool = False,
        include_unnamed: bool = False,
        sidecar_name: str = "photo.ext.xmp",
        on_problem: ProblemFn | None = None,
    ) -> XmpSummary:
        """Write people's names as XMP face regions in sidecars beside their photos.

        Each photo with a named person (or with one of ``people``) gets
        ``IMG_1.jpg.xmp`` (``sidecar_name="photo.xmp"``: ``IMG_1.xmp``), read
        by digiKam, darktable, Lightroom, Immich and exiftool. Photos are
        never opened for writing; existing sidecars are merged, never
        clobbered. See :func:`facefile.export.xmp.write_xmp`.
        """
        ids = None if people is None else [self.person_id(p) for p in people]
        return _write_xmp(
            self.store,
            ids,
            dry_run=dry_run,
            include_unnamed=include_unnamed,
            form=sidecar_name,
            on_problem=on_problem,
        )

    def photo_path(self, photo_id: int) -> str:
        return self.store.photo(photo_id).display


def migrate(
    src: str | os.PathLike[str] | Location,
    dst: str | os.PathLike[str] | Location,
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> CopySummary:
    """Copy a library to another location, SQLite folder or PostgreSQL URL, with nothing lost.

    Every row keeps its id (face-123 stays face-123), every decision, the
    hidden and excluded flags, and the crop cache and ``facefile.toml`` are
    copied too. ``src`` is read from one snapshot and never changed; stop
    scans and edits on it first, or they are not in the copy.

    Args:
        src: the library to copy (it must exist and be of this facefile's schema).
        dst: where to copy it; must hold no library rows yet (it is created).
        on_progress: receives ``(table, rows done, rows in the table)``.

    Returns:
        Rows copied per table, and crop files copied.

    Raises:
        LibraryError: ``src`` has no library, ``dst`` is not empty, or
            either cannot be opened.
    """
    load_plugins()
    return copy_library(
        library_location(src), library_location(dst), settings_file=CONFIG_FILE, on_progress=on_progress
    )
