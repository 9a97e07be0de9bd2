"""The scan: folders of photos -> analysed faces in the store -> people.

Photos are analysed in worker processes (:mod:`facefile.scan.pool`: a worker
that crashes takes only its own photo down) or Ray tasks
(:mod:`facefile.scan.on_ray`), and written one photo per transaction, so a
scan interrupted at any moment
(Ctrl-C, ``kill -9``, power) loses at most the photos in flight, and the next
scan picks them up without duplicating anything. One scan runs at a time
(``Store.scan_lock``: on SQLite a second scan is refused, on PostgreSQL it
waits). Each photo's named XMP face regions are read with it
(:mod:`facefile.scan.worker`) and their names applied in the same step.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

from facefile.analyze.analyzer import FaceAnalyzer
from facefile.config import Settings
from facefile.media.files import FoundFile, display_path, iter_photo_files, path_bytes
from facefile.media.twins import pair_twins
from facefile.media.video import is_video_name
from facefile.scan.on_ray import analyze_on_ray, require_ray
from facefile.scan.pool import analyze_in_processes
from facefile.scan.worker import Job, analyze, init_worker, photo_sidecars
from facefile.store.db import Store
from facefile.store.names import apply_names
from facefile.store.twins import drop_twins, save_twins, twin_paths
from facefile.store.videos import save_video
from facefile.types import BBox, PhotoResult


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan stands; sent to the ``on_progress`` callback."""

    phase: str  # "discover", "check", "analyze", "group"
    done: int
    total: int
    faces: int


@dataclass
class ScanSummary:
    photos_found: int = 0
    photos_analyzed: int = 0
    """Photos and videos analysed."""
    videos_analyzed: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_missing: int = 0
    faces_found: int = 0
    people: int = 0
    faces_assigned: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    """Files analysed in part, with why (a video past ``video.max_seconds``, or damaged partway)."""
    unsupported: dict[str, int] = field(default_factory=dict)
    """Files of formats facefile does not read: reason -> count."""
    raw_twins: int = 0
    """RAW files scanned as one photo with their JPEG (or HEIC, TIFF) twin."""
    regions_read: int = 0
    regions_matched: int = 0
    regions_added: int = 0
    names_applied: int = 0
    metadata_conflicts: list[str] = field(default_factory=list)
    metadata_problems: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    is_interrupted: bool = False

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["problems"] = [{"path": p, "reason": r} for p, r in self.problems]
        d["metadata_problems"] = [{"path": p, "reason": r} for p, r in self.metadata_problems]
        d["notes"] = [{"path": p, "note": n} for p, n in self.notes]
        return d


ProgressFn = Callable[[ScanProgress], None]
ProblemFn = Callable[[str, str], None]


def content_hash(path: bytes) -> str:
    """BLAKE2b of the file's bytes: a photo's identity across moves and renames."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- main side -----------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    path_b: bytes  # the path as bytes, as the file system gives it ("raw" here means a camera RAW file)
    size: int
    mtime_ns: int
    content_hash: str
    keep_boxes: tuple[BBox, ...] = ()  # faces to keep: same content, new model or new sidecar
    twins: tuple[bytes, ...] = ()  # RAW files shot with it


def scan(
    store: Store,
    roots: Sequence[str | os.PathLike[str]],
    settings: Settings,
    *,
    regroup_fn: Callable[[Store, Settings], tuple[int, int]] | None = None,
    on_progress: ProgressFn | None = None,
    on_problem: ProblemFn | None = None,
) -> ScanSummary:
    """Scan folders into the library.

    Args:
        store: the library's writable store.
        roots: folders (or single photos) to scan.
        settings: analysis, scan and grouping settings.
        regroup_fn: called after analysis; returns ``(people, faces assigned)``.
        on_progress: receives :class:`ScanProgress` now and then.
        on_problem: receives ``(path, reason)`` for each unusable file.

    Raises:
        LibraryLockedError: another scan holds the library.
        KeyboardInterrupt: passed on after the work done so far is saved;
            the summary is then lost, the library is not.
    """
    if settings.scan.ray:
        require_ray()  # before discovery and hashing, which take minutes on a big collection
    started = time.monotonic()
    summary = ScanSummary()
    analyzer = FaceAnalyzer(settings.analyze)
    model_id = analyzer.model_id
    problem, progress = _reporters(summary, on_progress, on_problem)

    with store.scan_lock():
        found = []
        unsupported: Counter[str] = Counter()
        for item in _discover(roots):
            if item.unsupported:
                unsupported[item.unsupported] += 1
            elif not settings.video.is_enabled and is_video_name(item.path):
                unsupported["videos: not read (video.is_enabled is off; scan --videos reads them)"] += 1
            elif item.problem:
                problem(display_path(os.fsencode(item.path)), item.problem)
            else:
                found.append(item.path)
            if len(found) % 500 == 0:
                progress("discover", len(found), 0)
        summary.unsupported = dict(unsupported)
        twins = _twins(store, found)
        summary.raw_twins = len(twins)
        found = [p for p in found if p not in twins]
        twins_of: dict[str, list[bytes]] = {}
        for raw, partner in twins.items():
            twins_of.setdefault(partner, []).append(path_bytes(raw))
        summary.photos_found = len(found)
        seen: set[int] = set()
        tasks: list[_Task] = []
        for i, path in enumerate(found, 1):
            task = _plan(
                store, path, model_id, seen, summary, problem, settings, tuple(twins_of.get(path, ()))
            )
            if task is not None:
                tasks.append(task)
            if i % 200 == 0 or i == len(found):
                progress("check", i, len(found))
        # photos elsewhere in the library still on an older model (after an upgrade)
        planned = {t.path_b for t in tasks}
        tasks += [t for t in _stale_tasks(store, model_id, ScanSummary()) if t.path_b not in planned]
        progress("analyze", 0, len(tasks))
        fallback: list[bytes] = []
        _run_tasks(store, tasks, analyzer, settings, model_id, seen, summary, problem, progress, fallback)
        own = _analyze_raws_alone(store, fallback, analyzer, settings, seen, summary, problem, progress)
        for raw in own:
            twins.pop(raw, None)
        summary.raw_twins -= len(own)
        _record_twins(store, twins, found + own)
        for root in roots:
            if os.path.isdir(root):
                summary.photos_missing += store.mark_missing(path_bytes(root), seen)
        if regroup_fn is not None:
            progress("group", 0, 1)
            summary.people, summary.faces_assigned = regroup_fn(store, settings)
            progress("group", 1, 1)
    summary.seconds = time.monotonic() - started
    return summary


def refresh_models(
    store: Store,
    settings: Settings,
    *,
    on_progress: ProgressFn | None = None,
    on_problem: ProblemFn | None = None,
) -> ScanSummary:
    """Analyse again, with the configured model, every photo analysed by another.

    Run before grouping (``facefile regroup``) so a library made by an older
    facefile, or with another embedder, groups on one model's vectors. Faces
    keep their ids and every decision (``Store.save_photo``); photos are read
    from where the library last saw them, and one that is gone keeps its old
    faces out of grouping until it is found again. Interrupted, it resumes
    where it stopped: each photo is committed on its own.
    """
    if settings.scan.ray:
        require_ray()
    started = time.monotonic()
    summary = ScanSummary()
    analyzer = FaceAnalyzer(settings.analyze)
    problem, progress = _reporters(summary, on_progress, on_problem)

    with store.scan_lock():
        tasks = _stale_tasks(store, analyzer.model_id, summary)
        summary.photos_found = len(tasks)
        progress("analyze", 0, len(tasks))
        _run_tasks(store, tasks, analyzer, settings, analyzer.model_id, set(), summary, problem, progress)
    summary.seconds = time.monotonic() - started
    return summary


def _reporters(
    summary: ScanSummary, on_progress: ProgressFn | None, on_problem: ProblemFn | None
) -> tuple[ProblemFn, Callable[[str, int, int], None]]:
    """``(problem, progress)``: record a problem in ``summary`` and pass both on to the callers' callbacks."""

    def problem(path: str, reason: str) -> None:
        summary.problems.append((path, reason))
        if on_problem:
            on_problem(path, reason)

    def progress(phase: str, done: int, total: int) -> None:
        if on_progress:
            on_progress(ScanProgress(phase, done, total, summary.faces_found))

    return problem, progress


def _stale_tasks(store: Store, model_id: str, summary: ScanSummary) -> list[_Task]:
    """Tasks for photos analysed by another model, each keeping its faces' boxes.

    A photo whose size or time changed since is hashed again; if its content
    changed, its faces are kept only where the new analysis finds them (as a
    scan does). Photos gone from disk are counted in ``summary.photos_missing``.
    """
    tasks = []
    for row in store.stale_photos(model_id):
        try:
            st = os.stat(row.path)
            digest = row.content_hash or ""
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns) or not digest:
                digest = content_hash(row.path)
        except OSError:
            summary.photos_missing += 1
            continue
        boxes = tuple(store.face_boxes(row.id)) if digest == row.content_hash else ()
        tasks.append(
            _Task(row.path, st.st_size, st.st_mtime_ns, digest, boxes, tuple(twin_paths(store, row.id)))
        )
    return tasks


def _twins(store: Store, found: list[str]) -> dict[str, str]:
    """RAW file -> the photo it was shot with, among the files found.

    A RAW the library already has as a photo of its own stays one (its faces
    and the decisions on them are kept).
    """
    pairs = pair_twins(found)
    own = [raw for raw in pairs if (row := store.photo_by_path(path_bytes(raw))) and row.status == "ok"]
    for raw in own:
        del pairs[raw]
    return pairs


def _analyze_raws_alone(
    store: Store,
    raws: list[bytes],
    analyzer: FaceAnalyzer,
    settings: Settings,
    seen: set[int],
    summary: ScanSummary,
    problem: ProblemFn,
    progress: Callable[[str, int, int], None],
) -> list[str]:
    """Analyse, as photos of their own, RAWs whose rendered twin could not be read; their paths."""
    paths = [os.fsdecode(raw) for raw in raws]
    tasks = []
    for path in paths:
        task = _plan(store, path, analyzer.model_id, seen, summary, problem, settings)
        if task is not None:
            tasks.append(task)
    summary.photos_found += len(paths)
    if tasks:
        progress("analyze", 0, len(tasks))
        _run_tasks(store, tasks, analyzer, settings, analyzer.model_id, seen, summary, problem, progress)
    return paths


def _record_twins(store: Store, twins: dict[str, str], found: list[str]) -> None:
    """Pair each RAW with its photo's row; unpair RAWs now scanned on their own."""
    pairs = []
    for raw, partner in twins.items():
        row = store.photo_by_path(path_bytes(partner))
        if row is not None and row.status == "ok":
            pairs.append((path_bytes(raw), row.id))
    save_twins(store, pairs)
    drop_twins(store, [path_bytes(p) for p in found])


def _discover(roots: Sequence[str | os.PathLike[str]]) -> Iterator[FoundFile]:
    for root in roots:
        yield from iter_photo_files(root)


def _plan(
    store: Store,
    path: str,
    model_id: str,
    seen: set[int],
    summary: ScanSummary,
    problem: ProblemFn,
    settings: Settings,
    twins: tuple[bytes, ...] = (),
) -> _Task | None:
    """Decide what a file needs: nothing, a new path, or analysis."""
    path_b = path_bytes(path)
    try:
        st = os.stat(path_b)
    except OSError as exc:
        problem(display_path(path_b), f"cannot read file information ({exc.strerror or exc})")
        return None
    row = store.photo_by_path(path_b)
    # analysed with this model and every measure stored now (else analysed again)
    current = row is not None and row.status == "ok" and store.analysis_current(row.id, model_id)
    if row is not None and current and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns:
        seen.add(row.id)
        is_read = settings.scan.read_metadata and not is_video_name(path_b)  # videos have no face regions
        if is_read and row.meta_sig != photo_sidecars(path_b, twins):
            # a sidecar came, went or changed: read its names (faces keep their ids)
            digest = row.content_hash or content_hash(path_b)
            return _Task(path_b, st.st_size, st.st_mtime_ns, digest, tuple(store.face_boxes(row.id)), twins)
        summary.photos_unchanged += 1
        return None
    try:
        digest = content_hash(path_b)
    except OSError as exc:
        reason = f"cannot read file ({exc.strerror or exc})"
        problem(display_path(path_b), reason)
        store.save_error(path_b, st.st_size, st.st_mtime_ns, reason)
        return None
    if row is not None and row.content_hash == digest:
        if current:
            store.touch_photo(row.id, path_b, st.st_size, st.st_mtime_ns)
            seen.add(row.id)
            summary.photos_unchanged += 1
            return None
        # same photo, older model: analyse again, keeping every face
        return _Task(path_b, st.st_size, st.st_mtime_ns, digest, tuple(store.face_boxes(row.id)), twins)
    if row is None:
        for other in store.photos_by_hash(digest):
            if other.status in ("ok", "missing") and not os.path.exists(other.path):
                store.touch_photo(other.id, path_b, st.st_size, st.st_mtime_ns)
                seen.add(other.id)
                summary.photos_moved += 1
                if store.analysis_current(other.id, model_id):
                    return None
                boxes = tuple(store.face_boxes(other.id))
                return _Task(path_b, st.st_size, st.st_mtime_ns, digest, boxes, twins)
    return _Task(path_b, st.st_size, st.st_mtime_ns, digest, twins=twins)


def _run_tasks(
    store: Store,
    tasks: list[_Task],
    analyzer: FaceAnalyzer,
    settings: Settings,
    model_id: str,
    seen: set[int],
    summary: ScanSummary,
    problem: ProblemFn,
    progress: Callable[[str, int, int], None],
    fallback: list[bytes] | None = None,
) -> None:
    """Analyse ``tasks`` and save each result.

    With a ``fallback`` list, a photo that cannot be read hands its RAW
    twins over: they are appended there (for the caller to analyse on
    their own), and the photo's line says so.
    """
    if not tasks:
        return
    workers = settings.scan.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(tasks)))
    by_path = {t.path_b: t for t in tasks}
    done = 0

    def save(item: tuple[bytes, PhotoResult]) -> None:
        nonlocal done
        path_b, result = item
        task = by_path[path_b]
        if result.error is not None:
            reason = result.error
            if fallback is not None and task.twins:
                names = ", ".join(os.path.basename(display_path(t)) for t in task.twins)
                reason = f"{reason}; its RAW twin is analysed instead ({names})"
                fallback.extend(task.twins)
            problem(result.path, reason)
            store.save_error(task.path_b, task.size, task.mtime_ns, result.error)
        else:
            saved = {
                "raw": task.path_b,
                "size": task.size,
                "mtime_ns": task.mtime_ns,
                "content_hash": task.content_hash,
                "width": result.width,
                "height": result.height,
                "faces": result.faces,
                "model_id": model_id,
            }
            is_video = result.duration_s is not None
            if result.duration_s is not None:
                photo_id, face_ids = save_video(store, duration_s=result.duration_s, **saved)
            else:
                photo_id, face_ids = store.save_photo(**saved)
            seen.add(photo_id)
            summary.photos_analyzed += 1
            summary.videos_analyzed += is_video
            summary.faces_found += len(face_ids)
            if result.note:
                summary.notes.append((result.path, result.note))
            if result.metadata.sidecars is not None:  # never for a video: it has no face regions
                _save_names(store, photo_id, result, summary)
        done += 1
        progress("analyze", done, len(tasks))

    read = settings.scan.read_metadata
    jobs = [Job(t.path_b, t.keep_boxes, read, t.twins, is_video_name(t.path_b)) for t in tasks]
    limits = (settings.scan.max_megapixels, settings.scan.max_seconds_per_photo, settings.video)
    if settings.scan.ray:
        results = analyze_on_ray(
            jobs, analyzer, *limits[:2], address=settings.scan.ray, workers=workers, video=settings.video
        )
        with closing(results):  # stopped early (Ctrl-C, an error): leave Ray at once
            for result in results:
                save(result)
        return
    if workers == 1:
        init_worker(analyzer, *limits)
        for job in jobs:
            save(analyze(job))
        return
    analyze_in_processes(jobs, analyzer, limits, workers, save)


def _save_names(store: Store, photo_id: int, result: PhotoResult, summary: ScanSummary) -> None:
    """Apply the names a photo's metadata gave its faces, and count what its regions did."""
    meta = result.metadata
    outcome = apply_names(store, photo_id, meta.claims, meta.sidecars)
    summary.regions_read += meta.regions_read
    summary.regions_matched += meta.regions_matched
    summary.regions_added += meta.regions_added
    summary.names_applied += outcome.applied
    summary.metadata_conflicts += [*meta.conflicts, *outcome.conflicts]
    summary.metadata_problems += meta.problems
