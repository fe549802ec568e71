"""Correcting the record: a change set aside (abandon), opened again (reopen), its words
edited. Each is one transaction that leaves an event with when and who; measurements,
verdicts and timestamps are not editable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changenote.errors import ChangenoteError, UsageError
from changenote.notebook import history, notes

if TYPE_CHECKING:
    from changenote.notebook.workflow import Notebook

#: What ``edit`` may change: the change's words, never what was measured.
EDITABLE = (
    "title", "service", "owner", "route", "input", "noticed", "expected", "reason", "rollback",
)  # fmt: skip


def abandon(
    notebook: Notebook, ref: str | None, reason: str, by: str | None = None
) -> dict[str, Any]:
    """Set an open change aside: kept with its runs, out of every id-less default and of
    "waiting to ship"."""
    from changenote.notebook import document

    why = reason.strip()
    if not why:
        raise UsageError("abandon needs --reason: say why the change is set aside")
    name = history.who(notebook.config, by)
    _not_empty(notebook)
    with notebook.store.write() as session:
        change = document.resolve(session, ref)
        document.load(session, change)  # one that cannot be read stops here, named
        if change.status == "shipped":
            raise ChangenoteError(
                f"change {change.slug!r} is shipped: its note stands, it is not abandoned"
            )
        if change.status == "abandoned":
            raise ChangenoteError(f"change {change.slug!r} is already abandoned")
        notebook.acting_on("abandon", change, "setting it aside")
        change.status = "abandoned"
        session.add(change)
        history.record(session, change, "abandon", name, note=notebook.redact_text(why))
        session.flush()
        return document.load(session, change)


def reopen(
    notebook: Notebook, ref: str, reason: str | None = None, by: str | None = None
) -> dict[str, Any]:
    """An abandoned change open again, as it was when it was set aside."""
    from changenote.notebook import document
    from changenote.store.db import OPEN, resolve_change

    why = reason.strip() if reason is not None else None
    if reason is not None and not why:
        raise UsageError("--reason cannot be empty")
    name = history.who(notebook.config, by)
    _not_empty(notebook)
    with notebook.store.write() as session:
        change = resolve_change(session, ref)
        document.load(session, change)
        if change.status != "abandoned":
            state = (
                "shipped: a shipped change stays shipped" if change.status == "shipped" else "open"
            )
            raise ChangenoteError(f"change {change.slug!r} is not abandoned: it is {state}")
        notebook.acting_on("reopen", change, "opening it again")
        change.status = OPEN
        session.add(change)
        history.record(session, change, "reopen", name, note=notebook.redact_text(why))
        session.flush()
        return document.load(session, change)


def edit(
    notebook: Notebook,
    ref: str,
    fields: dict[str, str],
    tag: list[str] | None = None,
    untag: list[str] | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """Change the words of a change: each field that differs becomes an ``edit`` event
    (old and new value, redacted); a shipped change's note is rendered again, in place.

    ``fields`` maps a name of :data:`EDITABLE` to its new text; an empty text clears
    it (the title cannot be cleared). Tags are added and removed by name.
    """
    from changenote.measure import expectations
    from changenote.notebook import document

    tag, untag = tag or [], untag or []
    if not fields and not tag and not untag:
        raise UsageError(
            "edit needs something to change: --title, --reason, --rollback, --owner, "
            "--service, --route, --input, --noticed, --expect, --tag or --untag"
        )
    wanted: dict[str, str | None] = {}
    for key, value in fields.items():
        if key not in EDITABLE:
            raise UsageError(f"{key} cannot be edited: measurements, verdicts and times stay")
        text = value.strip()
        if key == "title" and not text:
            raise UsageError("--title cannot be empty")
        wanted[key] = notebook.redact_text(text) if text else None
    if wanted.get("expected"):
        expectations.parse(wanted["expected"], strict=True)  # a typo must not check nothing
    for option, names in (("--tag", tag), ("--untag", untag)):
        if any(not t.strip() for t in names):
            raise UsageError(f"{option} cannot be empty")
    adding = {notebook.redact_text(t.strip()) or "" for t in tag}
    removing = {notebook.redact_text(t.strip()) or "" for t in untag}
    if adding & removing:
        raise UsageError(f"--tag and --untag both name {sorted(adding & removing)[0]!r}")
    name = history.who(notebook.config, by)
    _not_empty(notebook)
    with notes.Staged(notebook.config) as staged, notebook.store.write() as session:
        change = document.resolve(session, ref)
        before = document.load(session, change)  # one that cannot be read stops here
        absent = sorted(removing - set(change.tags))
        if absent:
            raise UsageError(f"change {change.slug!r} has no tag {absent[0]!r}")
        edits: list[tuple[str, str | None, str | None]] = []
        for key, new in wanted.items():
            old = getattr(change, key)
            if old != new:
                edits.append((key, old, new))
                setattr(change, key, new)
        tags = sorted((set(change.tags) | adding) - removing)
        if tags != sorted(change.tags):
            edits.append(("tags", ", ".join(sorted(change.tags)), ", ".join(tags)))
            change.tags = tags
        if not edits:
            return before
        notebook.acting_on("edit", change, ", ".join(key for key, _, _ in edits))
        if any(key == "expected" for key, _, _ in edits) and change.status == "shipped":
            after = next((r for r in before["runs"] if r["label"] == "after"), None)
            if after is not None:  # the same after-run, checked against the new words
                checks = expectations.parse(change.expected)
                change.expectations = expectations.evaluate(checks, after["metrics"])
        session.add(change)
        for key, was, now in edits:
            history.record(session, change, "edit", name, name=key, old=was, new=now)
        session.flush()
        doc = document.load(session, change)
        if change.note_path:
            staged.write(doc)
        return doc


def _not_empty(notebook: Notebook) -> None:
    """A store that was never made is not made now: there is nothing to correct."""
    from changenote.errors import NotFoundError
    from changenote.store.db import EMPTY

    if not notebook.store.exists():
        raise NotFoundError(EMPTY)
