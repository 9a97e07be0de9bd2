"""``facefile xmp write``: people's names as XMP face regions in sidecars beside the photos.

The photos themselves are never opened for writing. Each sidecar holds every
named face of its photo, so writing one person's photos never drops another
person's region; other programs' regions and properties are kept
(``facefile.metadata.xmp_write``). Areas are written in the stored frame
(before EXIF orientation, as MWG guidelines 2.0 section 5.9 say), so each
photo's orientation is read from the file; sidecars facefile wrote earlier in
the displayed frame are rewritten (migrated). A RAW file paired with the photo gets its
own sidecar too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from facefile.media.files import display_path
from facefile.metadata.regions import MAX_XMP_BYTES, MetadataError
from facefile.metadata.sidecars import existing_sidecars, sidecar_path
from facefile.metadata.xmp_read import NS_FACEFILE
from facefile.metadata.xmp_write import NamedFace, SidecarPlan, plan_sidecar, write_sidecar
from facefile.scan.worker import photo_orientation, photo_sidecars
from facefile.store.db import Store
from facefile.store.twins import twin_paths
from facefile.types import person_key

SIDECAR_FORMS = {"photo.ext.xmp": "photo.ext.xmp", "photo.xmp": "photo.xmp"}


@dataclass(frozen=True)
class SidecarChange:
    sidecar: str
    photo: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    is_new: bool
    is_migrated: bool = False
    """Regions older facefile wrote in the displayed frame were rewritten in the stored frame."""


@dataclass
class XmpSummary:
    photos: int = 0
    """Photos considered."""
    written: int = 0
    """Sidecars written (or, with ``dry_run``, that would be)."""
    unchanged: int = 0
    """Sidecars that already said all this."""
    changes: list[SidecarChange] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    """``(path, reason)`` for sidecars not written, and photos gone from disk."""


def write_xmp(
    store: Store,
    person_ids: Iterable[int] | None = None,
    *,
    dry_run: bool = False,
    include_unnamed: bool = False,
    form: str = "photo.ext.xmp",
    on_problem: Callable[[str, str], None] | None = None,
    photo_ids: Iterable[int] | None = None,
) -> XmpSummary:
    """Write (or with ``dry_run`` list) the sidecars of every photo with a named person.

    Args:
        store: the library.
        person_ids: only photos where these people are; ``None``: every
            photo with a named person, and every sidecar that still holds a
            region facefile wrote for a name since cleared or forgotten.
        dry_run: change nothing; the summary lists what would change.
        include_unnamed: write unnamed people too, their id (``person-0007``)
            as the name.
        form: ``"photo.ext.xmp"`` (``IMG_1.jpg.xmp``: digiKam, darktable) or
            ``"photo.xmp"`` (``IMG_1.xmp``: Lightroom).
        on_problem: receives ``(path, reason)`` for each sidecar not written.
        photo_ids: only these photos, and only sidecars facefile wrote
            before (after ``forget``: its names leave them).

    Raises:
        ConfigError: unknown ``form``.
    """
    from facefile.errors import ConfigError

    if form not in SIDECAR_FORMS:
        raise ConfigError(
            f"Unknown sidecar name form {form!r}; use photo.ext.xmp or photo.xmp (--sidecar-name)."
        )
    summary = XmpSummary()
    named = _named_faces(store, include_unnamed)
    wanted = set(person_ids) if person_ids is not None else None
    chosen = _photos(store, named, wanted) if photo_ids is None else _only(named, photo_ids)
    for photo_id, faces in chosen:
        photo = store.photo(photo_id)
        summary.photos += 1
        if photo.status != "ok" or not os.path.exists(photo.path):
            _problem(summary, on_problem, photo.display, "photo is gone from disk; no sidecar written")
            continue
        twins = tuple(twin_paths(store, photo_id))
        before = photo_sidecars(photo.path, twins)
        size = (int(photo.width or 0), int(photo.height or 0))
        # the twins' sidecars too: the reader turns them with the photo's orientation
        orientation = photo_orientation(photo.path)
        for file in (photo.path, *twins):
            if not faces and not existing_sidecars(file):
                continue  # nothing to write, nothing of ours to remove
            if photo_ids is not None and not _is_ours(file, form):
                continue
            try:
                plan = plan_sidecar(file, faces, size, orientation=orientation, form=form)
            except MetadataError as exc:
                _problem(summary, on_problem, exc.path, exc.reason)
                continue
            if not plan.changed:
                summary.unchanged += 1
                continue
            if not dry_run:
                try:
                    write_sidecar(plan)
                except MetadataError as exc:
                    _problem(summary, on_problem, exc.path, exc.reason)
                    continue
            summary.written += 1
            summary.changes.append(_change(plan, photo.display))
        if not dry_run and photo.meta_sig == before:
            # the names just written are facefile's own: no need to read them back
            _set_sidecars(store, photo_id, photo_sidecars(photo.path, twins))
    return summary


def _named_faces(store: Store, include_unnamed: bool) -> dict[int, list[tuple[int, NamedFace]]]:
    """Photo id -> ``(person id, face)`` for every face of a named person (or every person)."""
    out: dict[int, list[tuple[int, NamedFace]]] = {}
    rows = store.conn.execute(
        'SELECT f.photo_id, a.person_id, p.name, f.id, f."left", f.top, f."right", f.bottom '
        "FROM faces f JOIN assignments a ON a.face_id = f.id JOIN people p ON p.id = a.person_id "
        "WHERE f.is_excluded = 0 ORDER BY f.photo_id, f.id"
    )
    from facefile.types import BBox

    for photo_id, person_id, name, face_id, left, top, right, bottom in rows:
        if name is None and not include_unnamed:
            continue
        face = NamedFace(
            name=name or person_key(int(person_id)),
            box=BBox(left, top, right, bottom),
            face_key=f"face-{face_id}",
        )
        out.setdefault(int(photo_id), []).append((int(person_id), face))
    return out


def _photos(
    store: Store, named: dict[int, list[tuple[int, NamedFace]]], wanted: set[int] | None
) -> Iterable[tuple[int, list[NamedFace]]]:
    """The photos to write, with all their named faces, in photo order."""
    if wanted is not None:
        ids = sorted(pid for pid, faces in named.items() if any(p in wanted for p, _ in faces))
    else:
        with_sidecar = [
            row.id
            for row in store.iter_photos()
            if row.id not in named and row.status == "ok" and row.meta_sig  # had a sidecar when last read
        ]
        ids = sorted({*named, *with_sidecar})
    for pid in ids:
        yield pid, [face for _, face in named.get(pid, [])]


def _only(
    named: dict[int, list[tuple[int, NamedFace]]], photo_ids: Iterable[int]
) -> Iterable[tuple[int, list[NamedFace]]]:
    for pid in sorted(set(photo_ids)):
        yield pid, [face for _, face in named.get(pid, [])]


def _is_ours(photo: bytes, form: str) -> bool:
    """Whether the photo's sidecar holds something facefile wrote."""
    try:
        with open(sidecar_path(photo, form), "rb") as f:
            return NS_FACEFILE.encode() in f.read(MAX_XMP_BYTES)
    except OSError:
        return False


def _change(plan: SidecarPlan, photo: str) -> SidecarChange:
    return SidecarChange(
        sidecar=display_path(plan.path),
        photo=photo,
        added=tuple(plan.added),
        removed=tuple(plan.removed),
        is_new=plan.old is None,
        is_migrated=plan.is_migrated,
    )


def _problem(
    summary: XmpSummary, on_problem: Callable[[str, str], None] | None, path: str, reason: str
) -> None:
    summary.problems.append((path, reason))
    if on_problem:
        on_problem(path, reason)


def _set_sidecars(store: Store, photo_id: int, sidecars: str) -> None:
    with store.transaction() as c:
        c.execute("UPDATE photos SET meta_sig = ? WHERE id = ?", (sidecars, photo_id))
