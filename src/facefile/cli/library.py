"""``facefile`` commands on the whole library: scan, export, regroup, config, migrate, xmp, serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from facefile.cli.common import LibraryOpt, console, err, open_library, progress_display, safe, waiting
from facefile.errors import FacefileError


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
    lib = open_library(
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
    with lib, progress_display(quiet) as (on_progress, on_problem):
        try:
            summary = lib.scan(*folders, on_progress=on_progress, on_problem=on_problem, on_wait=waiting)
        except KeyboardInterrupt:
            err.print("Interrupted. Work done so far is saved; run the same scan again to finish.")
            raise typer.Exit(130) from None
    table = Table(title="Scan summary", show_header=False)
    table.add_row("photos found", str(summary.photos_found))
    table.add_row("analysed now", str(summary.photos_analyzed))
    if summary.videos_analyzed:
        table.add_row("  of them videos", str(summary.videos_analyzed))
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
        console.print(f"  skipped {count}: {safe(reason)}")
    for path, note in summary.notes:
        console.print(f"[yellow]note[/] {safe(path)}: {safe(note)}", soft_wrap=True)
    for path, reason in summary.metadata_problems:
        console.print(f"[yellow]metadata skipped[/] {safe(path)}: {safe(reason)}", soft_wrap=True)
    for line in summary.metadata_conflicts:
        console.print(f"[yellow]conflict[/] {safe(line)}", soft_wrap=True)


def export(
    dest: Annotated[Path, typer.Argument(help="Folder to create the person folders in.")],
    mode: Annotated[str, typer.Option(help="symlink, link (hard link) or copy.")] = "symlink",
    all_: Annotated[bool, typer.Option("--all", help="Include hidden people.")] = False,
    library: LibraryOpt = None,
) -> None:
    """One folder per person, plus people.json and people.csv. Originals are never touched."""
    with open_library(library, read_only=True) as lib:
        s = lib.export(dest, mode=mode, include_hidden=all_)
    console.print(f"Exported {s.people} people ({s.files} new files) to {s.dest}.")
    if s.missing:
        console.print(f"{s.missing} photos are missing from disk and were listed but not exported.")


def regroup(
    library: LibraryOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Regroup every face now (your decisions are kept).

    Faces analysed by an older model are analysed again first.
    """
    with open_library(library) as lib, progress_display(quiet) as (on_progress, on_problem):
        try:
            s = lib.regroup(on_progress=on_progress, on_problem=on_problem, on_wait=waiting)
        except KeyboardInterrupt:
            err.print("Interrupted. Work done so far is saved; run regroup again to finish.")
            raise typer.Exit(130) from None
    console.print(f"{s.faces} faces: {s.faces_assigned} in {s.people} people ({s.new_people} new).")


def config(library: LibraryOpt = None) -> None:
    """Every setting with its value and where it can be set."""
    from facefile.config import describe

    with open_library(library, read_only=True) as lib:
        current = lib.settings
    table = Table("setting", "value", "default", "help")
    for key, default, help_ in describe():
        section, _, field_name = key.partition(".")
        value = getattr(getattr(current, section), field_name)
        table.add_row(key, str(value), str(default), help_)
    console.print(table)
    console.print(f"Set in {safe(str(lib.path / 'facefile.toml'))}, as FACEFILE_SECTION_KEY, or with flags.")


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from facefile.api import library_location, migrate

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
        f"{s.rows.get('people', 0)} people) and {s.crops} crops to {safe(str(library_location(dst)))}."
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
        err.print(f"[yellow]not written[/] {safe(path)}: {safe(reason)}", soft_wrap=True)

    with open_library(library) as lib:
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
        if change.is_migrated:
            state += ", regions moved to the stored frame"
        console.print(f"{verb} {safe(change.sidecar)} ({state}) {safe(' '.join(what))}", soft_wrap=True)
    console.print(
        f"{s.photos} photos: {verb} {s.written} sidecars, {s.unchanged} already up to date"
        + (f", {len(s.problems)} not written" if s.problems else "")
        + "."
    )


def serve(
    library: LibraryOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on. Anything but 127.0.0.1 needs the printed access token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Browse people and fix mistakes in a web page on this machine."""
    from facefile.web.server import prepare_server, run_server

    server = prepare_server(library, host, port)
    console.print(f"facefile: serving {safe(str(server.location))}")
    console.print(f"Open {safe(server.url)}", soft_wrap=True)
    if server.token:
        console.print("Anyone with this address can change the library; share it only with yourself.")
    console.print("Press Ctrl+C to stop.")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    run_server(server)
