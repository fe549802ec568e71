"""What every command shares: opening the notebook, progress, printing, the CI gate."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from changenote.config import Config
    from changenote.notebook.workflow import Notebook


def config() -> Config:
    """The project's config, found from the current folder."""
    from changenote.config import load_config

    return load_config()


def notebook() -> Notebook:
    """The notebook of the project in the current folder."""
    from changenote.notebook.workflow import Notebook

    return Notebook(config(), announce=_say)


def _say(line: str) -> None:
    """A line on stderr saying what the command is about to do (stdout stays the result)."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def progress_bar() -> Any:
    """A Rich progress bar on stderr when it is a terminal, else nothing (the wiki's)."""
    from changenote.cli.display import progress_bar as bar

    return bar()


def measuring(book: Notebook) -> Any:
    """Progress of a measurement on stderr: a live line per probe with the time left on a
    terminal, else a line per probe every few seconds (``cli.progress``)."""
    from changenote.cli.progress import measuring as progress

    return progress(book.redact_text)


def emit(doc: dict[str, Any], as_json: bool, kind: str, every_warning: bool = False) -> None:
    """Print a change document: as JSON, or as tables for people."""
    from changenote.cli import display

    if as_json:
        display.print_json(doc)
    else:
        display.print_change(doc, kind, every_warning)


def emit_rows(rows: list[dict[str, Any]], as_json: bool, empty: str | None = None) -> None:
    """Print a list of changes (``list``, ``search``); ``empty``: what to say for none."""
    from changenote.cli import display

    if as_json:
        display.print_json(rows)
    else:
        display.print_list(rows, empty)


def gate(doc: dict[str, Any], enabled: bool) -> None:
    """The CI gate: exit 3 on a regression or an unmet expectation, with one line saying why."""
    if not enabled:
        return
    from changenote.notebook.document import gate_failures

    failed = gate_failures(doc)
    if failed:
        sys.stderr.write(f"changenote: gate failed: {failed}\n")
        raise typer.Exit(3)


def skipped(changes: list[Any]) -> None:
    """After a command that read every change: one line on stderr for each change it left
    out because it cannot be read, then exit 1 (what was written stays written)."""
    if not changes:
        return
    from changenote.redact import redact_message

    for exc in changes:
        line = redact_message(" ".join(str(exc).split()))
        sys.stderr.write(f"changenote: error: skipped: {line}\n")
    raise typer.Exit(1)
