"""What every ``facefile`` command shares: consoles, ``--library``, opening a library, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from facefile.api import Library
    from facefile.scan.scanner import ScanProgress

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

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


def open_library(
    library: str | None, *, create: bool = False, read_only: bool = False, **settings: object
) -> Library:
    from facefile.api import Library

    return Library(library, create=create, read_only=read_only, settings=settings)


@contextmanager
def progress_display(
    quiet: bool,
) -> Iterator[tuple[Callable[[ScanProgress], None], Callable[[str, str], None]]]:
    """A live progress bar for long work: yields ``(on_progress, on_problem)`` callbacks."""
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
        "analyze": "Analysing",
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
            progress.console.print(f"[yellow]skipped[/] {safe(path)}: {safe(reason)}", soft_wrap=True)

        try:
            yield on_progress, on_problem
        except KeyboardInterrupt:
            progress.stop()
            raise


def waiting(text: str) -> None:
    """Say once why a command waits (another scan holds the library)."""
    err.print(f"[yellow]waiting[/] {safe(text)}", soft_wrap=True)


def safe(text: str) -> str:
    """Escape Rich markup and undecodable characters in user data."""
    from rich.markup import escape

    return escape(text.encode("utf-8", "backslashreplace").decode("utf-8"))
