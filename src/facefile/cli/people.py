"""``facefile`` commands on people and faces: list, show, name, merge, move, edits, forget, review, why."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facefile.cli.common import LibraryOpt, console, err, open_library, safe
from facefile.errors import FacefileError

if TYPE_CHECKING:
    from facefile.api import Library


def people(
    library: LibraryOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Include hidden people.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who is in the library, largest first."""
    with open_library(library, read_only=True) as lib:
        rows = lib.people(include_hidden=all_)
    if json_:
        out = [
            {
                "person": p.key,
                "name": p.name,
                "faces": p.n_faces,
                "photos": p.n_photos,
                "hidden": p.is_hidden,
                "confirmed": p.n_confirmed,
            }
            for p in rows
        ]
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("person", "name", "faces", "photos")
    for p in rows:
        table.add_row(
            p.key, safe(p.name or "") + (" (hidden)" if p.is_hidden else ""), str(p.n_faces), str(p.n_photos)
        )
    console.print(table)


def show(
    person: Annotated[str, typer.Argument(help="person-0007, 7, or a name.")],
    library: LibraryOpt = None,
) -> None:
    """The photos and faces of one person."""
    with open_library(library, read_only=True) as lib:
        p = lib.person(person)
        faces = lib.faces(p.id)
    console.print(f"[bold]{p.key}[/] {safe(p.name or '(no name)')}: {p.n_faces} faces in {p.n_photos} photos")
    table = Table("face", "photo", "box", "confidence", "by")
    for f in faces:
        if f.span is not None:
            continue
        box = ", ".join(f"{v:.0f}" for v in f.box.to_list())
        table.add_row(f.key, safe(f.photo), box, f"{f.confidence:.2f}", f.source or "")
    console.print(table)
    videos = [f for f in faces if f.span is not None]
    if videos:
        table = Table("face", "video", "seen", "confidence", "by")
        for f in sorted(videos, key=lambda f: (f.photo, f.span.t_start if f.span else 0.0)):
            assert f.span is not None
            table.add_row(f.key, safe(f.photo), f.span.label, f"{f.confidence:.2f}", f.source or "")
        console.print(table)


def name(
    person: Annotated[str, typer.Argument(help="person-0007 or 7.")],
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="The name ('' clears it).")],
    library: LibraryOpt = None,
) -> None:
    """Name a person; its faces now are confirmed as that person (kept through every regroup)."""
    with open_library(library) as lib:
        p = lib.name(person, new_name)
    if not p.name:
        console.print(f"{p.key} has no name now.")
        return
    console.print(
        f"{p.key} is now {safe(p.name)}: naming confirmed its {p.n_confirmed} faces, "
        "which stay with the name through every regroup (move or unassign one to change that)."
    )


def merge(
    source: Annotated[str, typer.Argument(help="Person merged away.")],
    target: Annotated[str, typer.Argument(help="Person that stays.")],
    library: LibraryOpt = None,
) -> None:
    """Merge person A into person B."""
    with open_library(library) as lib:
        p = lib.merge(source, target)
    console.print(f"Merged into {p.key} {safe(p.name or '')}: {p.n_faces} faces.")


def move(
    faces: Annotated[list[str], typer.Argument(help="Face ids (face-12 or 12), then the target person.")],
    library: LibraryOpt = None,
) -> None:
    """Move faces to a person: facefile move FACE... PERSON|new."""
    if len(faces) < 2:
        raise FacefileError("Give at least one face and a person: facefile move face-12 person-0007")
    with open_library(library) as lib:
        p = lib.move(faces[:-1], faces[-1])
    console.print(f"Moved {len(faces) - 1} face(s) to {p.key}.")


def one_edit(what: str, doc: str, edit: Callable[[Library, str], object], done: str) -> Callable[..., None]:
    """A command ``NAME FACE|PERSON``: one edit of one face or person, then one line saying so.

    Args:
        what: ``"face"`` or ``"person"`` (its argument).
        doc: the command's help; edit: calls the library; done: the line
            printed after, ``{ref}`` standing for the argument.
    """

    def command(ref: str, library: str | None = None) -> None:
        with open_library(library) as lib:
            edit(lib, ref)
        console.print(done.format(ref=safe(ref)))

    example = "face-12 or 12" if what == "face" else "person-0007, 7, or a name"
    command.__doc__ = doc
    command.__annotations__ = {
        "ref": Annotated[str, typer.Argument(metavar=what.upper(), help=f"{example}.")],
        "library": LibraryOpt,
        "return": None,
    }
    return command


unassign = one_edit(
    "face",
    "Take a face out of its person (remembered as 'not this person').",
    lambda lib, face: lib.unassign(face),
    "{ref} now belongs to nobody.",
)
exclude = one_edit(
    "face",
    "Keep a face out of grouping altogether.",
    lambda lib, face: lib.exclude(face),
    "{ref} is excluded from grouping.",
)
include = one_edit(
    "face",
    "Let an excluded face back into grouping.",
    lambda lib, face: lib.exclude(face, is_excluded=False),
    "{ref} takes part in grouping again.",
)
hide = one_edit(
    "person",
    "Hide a person from lists; its faces now stay with it (kept through every regroup).",
    lambda lib, person: lib.hide(person),
    "{ref} is hidden with its faces; 'facefile people --all' shows it.",
)
unhide = one_edit(
    "person",
    "Show a hidden person again.",
    lambda lib, person: lib.hide(person, is_hidden=False),
    "{ref} is visible again.",
)


def forget(
    person: Annotated[str | None, typer.Argument(help="Person to erase.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Erase the whole library.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    library: LibraryOpt = None,
) -> None:
    """Erase a person for real: faces, embeddings, crops and name. Photos are never touched."""
    if all_ == (person is not None):
        raise FacefileError("Give either a PERSON or --all: facefile forget person-0007")
    with open_library(library) as lib:
        what = f"the whole library at {lib.location}" if all_ else lib.person(person or "").key
        if not yes and not typer.confirm(f"Erase {what}? This cannot be undone", default=False):
            raise typer.Exit(1)
        if all_:
            lib.forget_all()
            console.print(f"Erased the library at {safe(str(lib.location))}. Your photos are untouched.")
            return
        n = lib.forget(
            person or "",
            on_problem=lambda path, reason: err.print(
                f"[yellow]sidecar not changed[/] {safe(path)}: {safe(reason)}", soft_wrap=True
            ),
        )
    console.print(f"Erased {what}: {n} faces with their embeddings, crops and XMP regions facefile wrote.")


def faces(
    library: LibraryOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    person: Annotated[str | None, typer.Option(help="Only this person's faces.")] = None,
    unassigned: Annotated[bool, typer.Option(help="Only faces that belong to nobody.")] = False,
) -> None:
    """Every face: photo, box (left, top, right, bottom), person, confidence."""
    with open_library(library, read_only=True) as lib:
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
        table.add_row(f.key, pid, f"{f.confidence:.2f}", safe(f.photo))
    console.print(table)


def review(
    library: LibraryOpt = None,
    limit: Annotated[int, typer.Option(help="Questions to ask at most.")] = 20,
) -> None:
    """Answer the questions that fix the most errors first (y / n / s to skip, q to stop)."""
    with open_library(library) as lib:
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
                    console.print(f"  skipped: {safe(str(exc))}", soft_wrap=True)
                    continue
                answered += 1
        if answered:
            s = lib.regroup()
            console.print(f"{answered} answers kept; regrouped {s.faces} faces into {s.people} people.")


def why(face: Annotated[str, typer.Argument(help="face-12 or 12.")], library: LibraryOpt = None) -> None:
    """Why a face is in its person: its nearest faces and the closest other person."""
    with open_library(library, read_only=True) as lib:
        e = lib.why(face)
    console.print(safe(e.text))
