"""The ``facefile`` command: parse arguments, call :mod:`facefile.api`, render with Rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from facefile.api import Library, library_location, migrate
from facefile.errors import FacefileError
from facefile.scan.scanner import ScanProgress
from facefile.web.command import serve

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class _Group(TyperGroup):
    """Turns facefile's own errors into one red line and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FacefileError as exc:
            err.print(f"[red]error:[/] {_safe(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="Sort the faces in your photos into people, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

LibraryOpt = Annotated[
    str | None,
    typer.Option(
        "--library",
        "-L",
        help="Library folder or postgresql://USER@HOST/DB (default: $FACEFILE_LIBRARY or "
        "~/.local/share/facefile).",
        show_default=False,
    ),
]


def _open(
    library: str | None, *, create: bool = False, read_only: bool = False, **settings: object
) -> Library:
    return Library(library, create=create, read_only=read_only, settings=settings)


@contextmanager
def _progress_display(
    quiet: bool,
) -> Iterator[tuple[Callable[[ScanProgress], None], Callable[[str, str], None]]]:
    """A live progress bar for long work: yields ``(on_progress, on_problem)`` callbacks."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[faces]} faces"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    labels = {
        "discover": "Finding photos",
        "check": "Checking for changes",
        "analyse": "Analysing",
        "group": "Grouping",
    }
    with Progress(*columns, console=err, disable=quiet, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(p: ScanProgress) -> None:
            if p.phase not in tasks:
                for done_id in tasks.values():
                    progress.update(done_id, visible=False)
                tasks[p.phase] = progress.add_task(labels[p.phase], total=None, rate="", faces=0)
            task = tasks[p.phase]
            progress.update(task, completed=p.done, total=p.total or None, faces=p.faces)
            speed = next(t.speed for t in progress.tasks if t.id == task)
            progress.update(task, rate=f"{speed:.1f}/s" if speed else "")

        def on_problem(path: str, reason: str) -> None:
            progress.console.print(f"[yellow]skipped[/] {_safe(path)}: {_safe(reason)}", soft_wrap=True)

        try:
            yield on_progress, on_problem
        except KeyboardInterrupt:
            progress.stop()
            raise


@app.command()
def scan(
    folders: Annotated[list[Path], typer.Argument(help="Folders (or photos) to scan.")],
    library: LibraryOpt = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector (see 'facefile config').")] = None,
    embedder: Annotated[
        str | None,
        typer.Option(help="Face model: mobilefacenet (default), dlib_resnet, or onnx:PATH to your own."),
    ] = None,
    max_megapixels: Annotated[float | None, typer.Option(help="Skip larger photos.")] = None,
    no_metadata: Annotated[
        bool, typer.Option("--no-metadata", help="Do not read named face regions from XMP.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    videos: Annotated[
        bool | None,
        typer.Option(
            "--videos/--no-videos",
            help="Read the faces in videos (setting video.is_enabled, on by default).",
            show_default=False,
        ),
    ] = None,
    ray: Annotated[
        bool | None,
        typer.Option(
            "--ray/--no-ray",
            help="Analyse on a Ray started for this scan, with --workers CPUs (needs the 'cluster' extra).",
            show_default=False,
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Analyse on the Ray cluster at ADDRESS (auto, HOST:PORT or ray://HOST:10001); "
            "implies --ray. The photos are sent to it.",
        ),
    ] = None,
) -> None:
    """Find every face under FOLDERS and group them into people.

    Named face regions in the photos' XMP (embedded, or in IMG.jpg.xmp /
    IMG.xmp sidecars from digiKam, Lightroom, Picasa...) name their faces.

    With --ray (or --ray-address), decoding, detection, alignment and
    embedding run as Ray tasks; this process still saves each photo as it
    comes back, so a killed worker or scan loses nothing and a rerun resumes.
    """
    ray_setting = ray_address or {True: "local", False: "", None: None}[ray]
    if ray is False and ray_address:
        raise FacefileError("--no-ray and --ray-address contradict each other; keep one.")
    lib = _open(
        library,
        create=True,
        **{
            "scan.workers": workers,
            "analyze.detector": detector,
            "analyze.embedder": embedder,
            "scan.max_megapixels": max_megapixels,
            "scan.read_metadata": False if no_metadata else None,
            "scan.ray": ray_setting,
            "video.is_enabled": videos,
        },
    )
    with lib, _progress_display(quiet) as (on_progress, on_problem):
        try:
            summary = lib.scan(*folders, on_progress=on_progress, on_problem=on_problem, on_wait=_waiting)
        except KeyboardInterrupt:
            err.print("Interrupted. Work done so far is saved; run the same scan again to finish.")
            raise typer.Exit(130) from None
    table = Table(title="Scan summary", show_header=False)
    table.add_row("photos found", str(summary.photos_found))
    table.add_row("analysed now", str(summary.photos_analysed))
    if summary.videos_analysed:
        table.add_row("  of them videos", str(summary.videos_analysed))
    table.add_row("unchanged (skipped)", str(summary.photos_unchanged))
    table.add_row("moved or renamed", str(summary.photos_moved))
    table.add_row("gone from disk (kept as missing)", str(summary.photos_missing))
    table.add_row("new faces", str(summary.faces_found))
    table.add_row("people", str(summary.people))
    if summary.raw_twins:
        table.add_row("RAW files paired with their JPEG", str(summary.raw_twins))
    if summary.regions_read or summary.metadata_problems:
        table.add_row("face regions read (XMP)", str(summary.regions_read))
        table.add_row("  matched to a detected face", str(summary.regions_matched))
        table.add_row("  added as faces", str(summary.regions_added))
        table.add_row("  names applied", str(summary.names_applied))
        table.add_row("  conflicts (not applied)", str(len(summary.metadata_conflicts)))
    table.add_row("files skipped", str(len(summary.problems) + sum(summary.unsupported.values())))
    table.add_row("time", f"{summary.seconds:.1f} s")
    console.print(table)
    reasons: dict[str, int] = dict(summary.unsupported)
    for _, reason in summary.problems:
        key = reason.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  skipped {count}: {_safe(reason)}")
    for path, note in summary.notes:
        console.print(f"[yellow]note[/] {_safe(path)}: {_safe(note)}", soft_wrap=True)
    for path, reason in summary.metadata_problems:
        console.print(f"[yellow]metadata skipped[/] {_safe(path)}: {_safe(reason)}", soft_wrap=True)
    for line in summary.metadata_conflicts:
        console.print(f"[yellow]conflict[/] {_safe(line)}", soft_wrap=True)


@app.command()
def people(
    library: LibraryOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Include hidden people.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who is in the library, largest first."""
    with _open(library, read_only=True) as lib:
        rows = lib.people(include_hidden=all_)
    if json_:
        out = [
            {"person": p.key, "name": p.name, "faces": p.n_faces, "photos": p.n_photos, "hidden": p.is_hidden}
            for p in rows
        ]
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("person", "name", "faces", "photos")
    for p in rows:
        table.add_row(
            p.key, _safe(p.name or "") + (" (hidden)" if p.is_hidden else ""), str(p.n_faces), str(p.n_photos)
        )
    console.print(table)


@app.command()
def show(
    person: Annotated[str, typer.Argument(help="person-0007, 7, or a name.")],
    library: LibraryOpt = None,
) -> None:
    """The photos and faces of one person."""
    with _open(library, read_only=True) as lib:
        p = lib.person(person)
        faces = lib.faces(p.id)
    console.print(
        f"[bold]{p.key}[/] {_safe(p.name or '(no name)')}: {p.n_faces} faces in {p.n_photos} photos"
    )
    table = Table("face", "photo", "box", "confidence", "by")
    for f in faces:
        if f.span is not None:
            continue
        box = ", ".join(f"{v:.0f}" for v in f.box.to_list())
        table.add_row(f.key, _safe(f.photo), box, f"{f.confidence:.2f}", f.source or "")
    console.print(table)
    videos = [f for f in faces if f.span is not None]
    if videos:
        table = Table("face", "video", "seen", "confidence", "by")
        for f in sorted(videos, key=lambda f: (f.photo, f.span.t_start if f.span else 0.0)):
            assert f.span is not None
            table.add_row(f.key, _safe(f.photo), f.span.label, f"{f.confidence:.2f}", f.source or "")
        console.print(table)


@app.command()
def name(
    person: Annotated[str, typer.Argument(help="person-0007 or 7.")],
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="The name ('' clears it).")],
    library: LibraryOpt = None,
) -> None:
    """Name a person."""
    with _open(library) as lib:
        p = lib.name(person, new_name)
    console.print(f"{p.key} is now {_safe(p.name or '(no name)')}.")


@app.command()
def merge(
    source: Annotated[str, typer.Argument(help="Person merged away.")],
    target: Annotated[str, typer.Argument(help="Person that stays.")],
    library: LibraryOpt = None,
) -> None:
    """Merge person A into person B."""
    with _open(library) as lib:
        p = lib.merge(source, target)
    console.print(f"Merged into {p.key} {_safe(p.name or '')}: {p.n_faces} faces.")


@app.command()
def move(
    faces: Annotated[list[str], typer.Argument(help="Face ids (face-12 or 12), then the target person.")],
    library: LibraryOpt = None,
) -> None:
    """Move faces to a person: facefile move FACE... PERSON|new."""
    if len(faces) < 2:
        raise FacefileError("Give at least one face and a person: facefile move face-12 person-0007")
    with _open(library) as lib:
        p = lib.move(faces[:-1], faces[-1])
    console.print(f"Moved {len(faces) - 1} face(s) to {p.key}.")


@app.command()
def unassign(face: str, library: LibraryOpt = None) -> None:
    """Take a face out of its person (remembered as 'not this person')."""
    with _open(library) as lib:
        lib.unassign(face)
    console.print(f"{face} now belongs to nobody.")


@app.command()
def exclude(face: str, library: LibraryOpt = None) -> None:
    """Keep a face out of grouping altogether."""
    with _open(library) as lib:
        lib.exclude(face)
    console.print(f"{face} is excluded from grouping.")


@app.command()
def include(face: str, library: LibraryOpt = None) -> None:
    """Let an excluded face back into grouping."""
    with _open(library) as lib:
        lib.exclude(face, is_excluded=False)
    console.print(f"{face} takes part in grouping again.")


@app.command()
def hide(person: str, library: LibraryOpt = None) -> None:
    """Hide a person from lists (faces stay grouped)."""
    with _open(library) as lib:
        lib.hide(person)
    console.print(f"{person} is hidden; 'facefile people --all' shows it.")


@app.command()
def unhide(person: str, library: LibraryOpt = None) -> None:
    """Show a hidden person again."""
    with _open(library) as lib:
        lib.hide(person, is_hidden=False)
    console.print(f"{person} is visible again.")


@app.command()
def forget(
    person: Annotated[str | None, typer.Argument(help="Person to erase.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Erase the whole library.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    library: LibraryOpt = None,
) -> None:
    """Erase a person for real: faces, embeddings, crops and name. Photos are never touched."""
    if all_ == (person is not None):
        raise FacefileError("Give either a PERSON or --all: facefile forget person-0007")
    with _open(library) as lib:
        what = f"the whole library at {lib.location}" if all_ else lib.person(person or "").key
        if not yes and not typer.confirm(f"Erase {what}? This cannot be undone", default=False):
            raise typer.Exit(1)
        if all_:
            lib.forget_all()
            console.print(f"Erased the library at {_safe(str(lib.location))}. Your photos are untouched.")
            return
        n = lib.forget(
            person or "",
            on_problem=lambda path, reason: err.print(
                f"[yellow]sidecar not changed[/] {_safe(path)}: {_safe(reason)}", soft_wrap=True
            ),
        )
    console.print(f"Erased {what}: {n} faces with their embeddings, crops and XMP regions facefile wrote.")


@app.command()
def faces(
    library: LibraryOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    person: Annotated[str | None, typer.Option(help="Only this person's faces.")] = None,
    unassigned: Annotated[bool, typer.Option(help="Only faces that belong to nobody.")] = False,
) -> None:
    """Every face: photo, box [left, top, right, bottom], person, confidence."""
    with _open(library, read_only=True) as lib:
        rows = lib.faces(person, unassigned=unassigned)
        twins = lib.raw_twins()
    if json_:
        out = [
            {
                "photo": f.photo,
                "box": [round(v, 2) for v in f.box.to_list()],
                "person": None if f.person_id is None else f"person-{f.person_id:04d}",
                "confidence": round(f.confidence, 4),
                "face": f.key,
                "source": f.source,
                "quality": round(f.quality.score, 4),
                "twins": twins.get(f.photo_id, []),
                # a video's face: the video is "photo"; seconds from its first frame
                "video": None if f.span is None else f.span.to_dict(),
            }
            for f in rows
        ]
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return
    table = Table("face", "person", "confidence", "photo")
    for f in rows:
        pid = "" if f.person_id is None else f"person-{f.person_id:04d}"
        table.add_row(f.key, pid, f"{f.confidence:.2f}", _safe(f.photo))
    console.print(table)


@app.command()
def export(
    dest: Annotated[Path, typer.Argument(help="Folder to create the person folders in.")],
    mode: Annotated[str, typer.Option(help="symlink, link (hard link) or copy.")] = "symlink",
    all_: Annotated[bool, typer.Option("--all", help="Include hidden people.")] = False,
    library: LibraryOpt = None,
) -> None:
    """One folder per person, plus people.json and people.csv. Originals are never touched."""
    with _open(library, read_only=True) as lib:
        s = lib.export(dest, mode=mode, include_hidden=all_)
    console.print(f"Exported {s.people} people ({s.files} new files) to {s.dest}.")
    if s.missing:
        console.print(f"{s.missing} photos are missing from disk and were listed but not exported.")


@app.command()
def regroup(
    library: LibraryOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Regroup every face now (your decisions are kept).

    Faces analysed by an older model are analysed again first.
    """
    with _open(library) as lib, _progress_display(quiet) as (on_progress, on_problem):
        try:
            s = lib.regroup(on_progress=on_progress, on_problem=on_problem, on_wait=_waiting)
        except KeyboardInterrupt:
            err.print("Interrupted. Work done so far is saved; run regroup again to finish.")
            raise typer.Exit(130) from None
    console.print(f"{s.faces} faces: {s.faces_assigned} in {s.people} people ({s.new_people} new).")


@app.command()
def review(
    library: LibraryOpt = None,
    limit: Annotated[int, typer.Option(help="Questions to ask at most.")] = 20,
) -> None:
    """Answer the questions that fix the most errors first (y / n / s to skip, q to stop)."""
    with _open(library) as lib:
        items = lib.review(limit)
        if not items:
            console.print("Nothing to review.")
            return
        answered = 0
        for i, item in enumerate(items, 1):
            reply = typer.prompt(f"[{i}/{len(items)}] {item.question} [y/n/s/q]", default="s")
            key = reply.strip().lower()[:1]
            if key == "q":
                break
            if key in ("y", "n"):
                try:
                    lib.answer(item, is_same=key == "y")
                except FacefileError as exc:  # an earlier answer made this question moot
                    console.print(f"  skipped: {_safe(str(exc))}", soft_wrap=True)
                    continue
                answered += 1
        if answered:
            s = lib.regroup()
            console.print(f"{answered} answers kept; regrouped {s.faces} faces into {s.people} people.")


@app.command()
def why(face: Annotated[str, typer.Argument(help="face-12 or 12.")], library: LibraryOpt = None) -> None:
    """Why a face is in its person: its nearest faces and the closest other person."""
    with _open(library, read_only=True) as lib:
        e = lib.why(face)
    console.print(_safe(e.text))


@app.command()
def config(library: LibraryOpt = None) -> None:
    """Every setting with its value and where it can be set."""
    from facefile.config import describe

    with _open(library, read_only=True) as lib:
        current = lib.settings
    table = Table("setting", "value", "default", "help")
    for key, default, help_ in describe():
        section, _, field_name = key.partition(".")
        value = getattr(getattr(current, section), field_name)
        table.add_row(key, str(value), str(default), help_)
    console.print(table)
    console.print(f"Set in {_safe(str(lib.path / 'facefile.toml'))}, as FACEFILE_SECTION_KEY, or with flags.")


@app.command("migrate")
def migrate_(
    src: Annotated[
        str, typer.Argument(metavar="SRC", help="Library to copy: a folder or postgresql:// URL.")
    ],
    dst: Annotated[str, typer.Argument(metavar="DST", help="Where to copy it (must be empty).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Copy a library between a folder (SQLite) and PostgreSQL, with nothing lost.

    Ids, names, every decision, hidden and excluded state, crops and
    facefile.toml are copied; SRC is not changed. Stop scans and edits on
    SRC first: the copy is of the moment it starts.
    """
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=quiet,
    ) as progress:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def on_progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(f"Copying {table}", total=total or None)
            progress.update(tasks[table], completed=done)

        s = migrate(src, dst, on_progress=on_progress)
    rows = sum(s.rows.values())
    console.print(
        f"Copied {rows} rows ({s.rows.get('photos', 0)} photos, {s.rows.get('faces', 0)} faces, "
        f"{s.rows.get('people', 0)} people) and {s.crops} crops to {_safe(str(library_location(dst)))}."
    )


xmp_app = typer.Typer(help="Names as XMP face regions, for digiKam, Lightroom, darktable and Immich.")


@xmp_app.command("write")
def xmp_write(
    people_: Annotated[
        list[str] | None, typer.Argument(metavar="[PERSON]...", help="Only photos of these people.")
    ] = None,
    library: LibraryOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; list what would change.")
    ] = False,
    include_unnamed: Annotated[
        bool, typer.Option("--include-unnamed", help="Write unnamed people too, their id as the name.")
    ] = False,
    sidecar_name: Annotated[
        str,
        typer.Option(
            "--sidecar-name",
            help="photo.ext.xmp (IMG_1.jpg.xmp: digiKam, darktable) or photo.xmp (IMG_1.xmp: Lightroom).",
        ),
    ] = "photo.ext.xmp",
) -> None:
    """Write people's names as face regions in XMP sidecars beside the photos (photos are never changed)."""

    def on_problem(path: str, reason: str) -> None:
        err.print(f"[yellow]not written[/] {_safe(path)}: {_safe(reason)}", soft_wrap=True)

    with _open(library) as lib:
        s = lib.write_xmp(
            people_ or None,
            dry_run=dry_run,
            include_unnamed=include_unnamed,
            sidecar_name=sidecar_name,
            on_problem=on_problem,
        )
    verb = "would write" if dry_run else "wrote"
    for change in s.changes:
        what = [f"+{n}" for n in change.added] + [f"-{n}" for n in change.removed]
        state = "new" if change.is_new else "merged"
        console.print(f"{verb} {_safe(change.sidecar)} ({state}) {_safe(' '.join(what))}", soft_wrap=True)
    console.print(
        f"{s.photos} photos: {verb} {s.written} sidecars, {s.unchanged} already up to date"
        + (f", {len(s.problems)} not written" if s.problems else "")
        + "."
    )


app.command("serve")(serve)


def _mount_commands() -> None:
    """Mount the command groups other packages publish (``facefile.commands`` entry points)."""
    for ep in entry_points(group="facefile.commands"):
        app.add_typer(ep.load(), name=ep.name)


_mount_commands()
app.add_typer(xmp_app, name="xmp")


def _waiting(text: str) -> None:
    err.print(f"[yellow]waiting[/] {_safe(text)}", soft_wrap=True)


def _safe(text: str) -> str:
    """Escape Rich markup and undecodable characters in user data."""
    from rich.markup import escape

    return escape(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
