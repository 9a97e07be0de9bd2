"""The ``facefile`` command: Typer parses the arguments, :mod:`facefile.api` does the work, Rich renders it.

The commands live in ``people`` (people and faces) and ``library`` (the
whole library), the shared options and helpers in ``common``. The library
(numpy, the stages) loads inside the commands that use it, so
``facefile --help`` and argument errors answer at once.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click
import typer
from typer.core import TyperGroup

from facefile.cli import library, people
from facefile.cli.common import err, safe
from facefile.errors import FacefileError


class _Group(TyperGroup):
    """Turns facefile's own errors into one red line and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FacefileError as exc:
            err.print(f"[red]error:[/] {safe(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="Sort the faces in your photos into people, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


COMMANDS = {
    "scan": library.scan,
    "people": people.people,
    "show": people.show,
    "name": people.name,
    "merge": people.merge,
    "move": people.move,
    "unassign": people.unassign,
    "exclude": people.exclude,
    "include": people.include,
    "hide": people.hide,
    "unhide": people.unhide,
    "forget": people.forget,
    "faces": people.faces,
    "export": library.export,
    "regroup": library.regroup,
    "review": people.review,
    "why": people.why,
    "config": library.config,
    "migrate": library.migrate_,
    "serve": library.serve,
}
"""Every command, in the order ``facefile --help`` lists them."""

for _name, _command in COMMANDS.items():
    app.command(_name)(_command)


def _mount_commands() -> None:
    """Mount the command groups other packages publish (``facefile.commands`` entry points)."""
    for ep in entry_points(group="facefile.commands"):
        app.add_typer(ep.load(), name=ep.name)


_mount_commands()
app.add_typer(library.xmp_app, name="xmp")


def main() -> None:
    app()
