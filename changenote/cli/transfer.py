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
    schema: Annotated[
        bool,
        typer.Option(
            "--schema", help="Print the JSON Schema of an export line instead (draft 2020-12)."
        ),
    ] = False,
) -> None:
    """Write every change as JSON Lines, oldest first.

    Each line is a whole change document (docs/EXPORT.md); --schema prints the
    JSON Schema those lines follow."""
    from pathlib import Path

    from changenote.notebook.transfer import export_to

    if schema:
        _print_schema(out)
        return
    skipped: list[Any] = []
    count = export_to(common.config(), Path(out) if out else None, sys.stdout, skipped)
    if out is not None:
        typer.echo(f"exported {count} change(s) to {out}", err=True)
    common.skipped(skipped)


def _print_schema(out: str | None) -> None:
    """The schema file as shipped, byte for byte on stdout."""
    from changenote.errors import UsageError
    from changenote.notebook.schema import schema_bytes

    if out is not None:
        raise UsageError("--schema prints the schema on stdout; it takes no --out")
    data = schema_bytes()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        sys.stdout.flush()
        buffer.write(data)
        buffer.flush()
    else:  # a text stream without bytes under it (a test's capture)
        sys.stdout.write(data.decode("utf-8"))


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
