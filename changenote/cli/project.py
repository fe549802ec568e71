"""Starting out: ``init`` writes a config, ``demo`` runs the whole cycle on a sample."""

from __future__ import annotations

from typing import Annotated

import typer


def init(
    service: Annotated[
        str | None, typer.Option(metavar="NAME", help="Service name for new changes.")
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Owner for new changes (default: git config user.name)."),
    ] = None,
    notes_dir: Annotated[str, typer.Option(metavar="DIR", help="Folder for the notes.")] = "notes",
) -> None:
    """Write a starter changenote.toml in the current folder."""
    from pathlib import Path

    from changenote.config import init_project

    path = init_project(Path.cwd(), service=service, owner=owner, notes_dir=notes_dir)
    typer.echo(f"wrote {path}")


def demo(
    folder: Annotated[
        str | None,
        typer.Option(
            "--dir", metavar="DIR", help="Where to build the demo (default: a new folder)."
        ),
    ] = None,
    runs: Annotated[int, typer.Option(metavar="N", help="Measured runs per probe.")] = 15,
) -> None:
    """Run the whole cycle on a bundled sample service and print the note."""
    from changenote.cli import display
    from changenote.notebook.demo import run_demo

    doc, note = run_demo(folder, runs, echo=typer.echo)
    display.print_demo(doc, note)
