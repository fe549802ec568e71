"""Moving changes between stores: ``export`` and ``import``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from changenote.cli import common


def export(
    out: Annotated[
        str | None, typer.Option("--out", metavar="FILE", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Write every change as JSON Lines, oldest first.

    Each line is a whole change document (docs/EXPORT.md); --schema prints the
    JSON Schema those lines follow."""
    from pathlib import Path

    from changenote.notebook.transfer import export_to

    skipped: list[Any] = []
    count = export_to(common.config(), Path(out) if out else None, sys.stdout, skipped)
    if out is not None:
        typer.echo(f"exported {count} change(s) to {out}", err=True)
    common.skipped(skipped)


def import_(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE|DIR", help="JSON Lines from export, a note, or a folder of them."
        ),
    ],
) -> None:
    """Add changes from an export or from notes.

    Changes the store has already (same uid) are skipped."""
    from pathlib import Path

    from changenote.notebook.transfer import import_from

    result = import_from(common.config(), Path(source))
    typer.echo(
        f"read {result.read}, imported {result.imported}, already in the store {result.already}"
    )
    for renamed in result.renamed:
        typer.echo(f"slug taken, renamed: {renamed}")
