"""Commands that read the notebook: ``list``, ``search``, ``show``, ``render``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from changenote.cli import common
from changenote.cli.options import (
    Json,
    Limit,
    ListJson,
    Owner,
    RenderRef,
    Service,
    ShowRef,
    Since,
    TagFilter,
)


def list_(
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help="Only baseline, shipped or abandoned.")
    ] = None,
    service: Service = None,
    owner: Owner = None,
    tag: TagFilter = None,
    since: Since = None,
    review: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS",
            help="Only notes drafted, in-review, reviewed, needs-update or superseded.",
        ),
    ] = None,
    limit: Limit = None,
    as_json: ListJson = False,
) -> None:
    """List the changes in the notebook, newest first."""
    from changenote.errors import UsageError
    from changenote.notebook.history import REVIEW_STATES
    from changenote.store.db import STATUSES, list_changes

    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    reviews = (*REVIEW_STATES, "superseded")
    for option, value, allowed in (("--status", status, STATUSES), ("--review", review, reviews)):
        if value is not None and value not in allowed:
            raise UsageError(f"{option} {value!r}: use one of {', '.join(allowed)}")
    rows = list_changes(
        common.config().store_url(), limit, status=status, service=service, owner=owner,
        tag=tag, since=since, review=review,
    )  # fmt: skip
    filtered = any(v is not None for v in (status, service, owner, tag, since, review))
    common.emit_rows(rows, as_json, "no change matches these filters" if filtered else None)


def search(
    query: Annotated[list[str], typer.Argument(metavar="WORDS...", help="What to look for.")],
    service: Service = None,
    owner: Owner = None,
    tag: TagFilter = None,
    since: Since = None,
    until: Annotated[
        str | None, typer.Option(metavar="DATE", help="Shipped (or started) on or before.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Show at most this many.")] = 20,
    as_json: ListJson = False,
) -> None:
    """Find changes by their words, best first.

    The title, reason, expected result, tags and the other words of a change are
    searched (docs/SEARCH.md)."""
    from changenote.store.search import search as find

    words = " ".join(query)
    rows = find(common.config().store_url(), words, service, owner, tag, since, until, limit)
    common.emit_rows(rows, as_json, f"no change matches {words!r}")


def show(
    ref: ShowRef = None,
    warnings: Annotated[
        bool, typer.Option("--warnings", help="Show every warning, info ones too.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Show one change: its runs, comparison, checklist and note."""
    common.emit(common.notebook().show(ref), as_json, "show", warnings)


def render(ref: RenderRef = None) -> None:
    """Re-render notes from the store (all shipped changes without ID)."""
    skipped: list[Any] = []
    for path in common.notebook().render(ref, skipped):
        typer.echo(str(path))
    common.skipped(skipped)


def status(as_json: ListJson = False) -> None:
    """Show what is open and what is due.

    Each open change with its next step and the command to run, the follow-ups due,
    the notes due for review."""
    from changenote.cli import display
    from changenote.notebook.status import status as what

    found = what(common.notebook())
    if as_json:
        display.print_json(found)
    else:
        display.print_status(found)
