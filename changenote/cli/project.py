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
            "--dir",
            metavar="DIR",
            help="Build it here: a new or empty folder, or an earlier demo's.",
        ),
    ] = None,
    runs: Annotated[int, typer.Option(metavar="N", help="Measured runs per probe.")] = 15,
) -> None:
    """Run the whole cycle on a sample service, step by step.

    It builds in a new temporary folder (kept, its path printed) unless --dir names one.
    """
    import shutil
    from pathlib import Path

    from changenote.config import Config
    from changenote.notebook.demo import WIDTH, run_demo

    def build_wiki(config: Config, out: Path) -> str:
        from changenote.wiki.site import build

        result = build(config, out)
        return (
            f"Wrote {result.pages} files: the HTML site starts at wiki/html/index.html; "
            "the markdown (GitHub wiki, MkDocs) is in wiki/markdown/."
        )

    width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
    run_demo(folder, runs, say=typer.echo, build_wiki=build_wiki, width=width)
