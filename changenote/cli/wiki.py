"""The ``wiki`` command: team wiki pages from every note."""

from __future__ import annotations

from typing import Annotated

import typer

from changenote.cli import common


def wiki(
    out: Annotated[
        str, typer.Option("--out", metavar="DIR", help="Output folder (created; reused later).")
    ] = "wiki",
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="markdown|html|both", help="What to write."),
    ] = "both",
    full: Annotated[bool, typer.Option("--full", help="Rewrite every page.")] = False,
    from_notes: Annotated[
        str | None,
        typer.Option(
            "--from-notes", metavar="DIR", help="Build from the notes' change records, no store."
        ),
    ] = None,
) -> None:
    """Build the team wiki pages from every note.

    Markdown (for a GitHub wiki or MkDocs) and a static HTML site; pages that did
    not change are not written again."""
    from pathlib import Path

    from changenote.wiki.site import build

    config = common.config()
    with common.progress_bar() as progress:
        bar = (lambda done, total: progress(done, total, "wiki pages")) if progress else None
        notes = Path(from_notes) if from_notes else None
        result = build(config, Path(out), fmt, full, notes, bar)
    typer.echo(
        f"wiki in {result.out}: {result.pages} file(s), {len(result.written)} written, "
        f"{result.unchanged} unchanged, {len(result.removed)} removed"
    )
    common.skipped(result.skipped)
