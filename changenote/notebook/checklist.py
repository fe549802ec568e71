"""Ticking checklist items with evidence: a note, or a command that ran and its exit status."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from changenote.errors import ChangenoteError, NotFoundError, UsageError
from changenote.measure.probes import run_shell
from changenote.notebook import history, notes
from changenote.notebook.workflow import refuse_abandoned
from changenote.store.db import resolve_change

if TYPE_CHECKING:
    from changenote.notebook.workflow import Notebook
    from changenote.store.models import ChecklistItem


def resolve_item(items: Sequence[ChecklistItem], text: str) -> ChecklistItem:
    """An item by key, or by a unique prefix of its key or label (case-insensitive)."""
    wanted = text.strip().lower()
    if not wanted:
        raise UsageError("give a checklist item, e.g. backup")
    for item in items:
        if item.key.lower() == wanted:
            return item
    matches = [
        i for i in items if i.key.lower().startswith(wanted) or i.label.lower().startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    keys = ", ".join(i.key for i in items)
    if not matches:
        raise NotFoundError(f"no checklist item {text!r} (items: {keys})")
    raise UsageError(f"checklist item {text!r} is ambiguous: {', '.join(i.key for i in matches)}")


def tick(
    notebook: Notebook,
    ref: str | None,
    item_text: str,
    note: str | None = None,
    cmd: str | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Tick one item. A ``cmd`` runs first; if it fails, nothing is ticked or stored."""
    from sqlmodel import col, select

    from changenote.notebook import document
    from changenote.store.models import ChecklistItem, CommandRecord, utcnow

    if note is not None and not note.strip():
        raise UsageError("--note cannot be empty")
    if cmd is not None and not cmd.strip():
        raise UsageError("--cmd needs a shell command")
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError(f"--timeout must be a finite number greater than 0, got {timeout:g}")
    store = notebook.store
    with store.read() as session:
        change = resolve_change(session, ref)
        refuse_abandoned(change)
        items = session.exec(
            select(ChecklistItem)
            .where(ChecklistItem.change_id == change.id)
            .order_by(col(ChecklistItem.position))
        ).all()
        item = resolve_item(items, item_text)
        change_id, item_id = change.id, item.id
        notebook.acting_on("tick", change, item.key + (", after its --cmd succeeds" if cmd else ""))
    evidence: list[str] = []
    if note:
        evidence.append(note.strip())
    exit_status = None
    if cmd:
        attempt = run_shell(cmd, timeout)
        shown = notebook.redact_text(cmd.strip())
        if not attempt.ok:
            last = attempt.output.strip().splitlines()[-1:] or [""]
            detail = f": {notebook.redact_text(last[0][:200])}" if last[0] else ""
            raise ChangenoteError(f"{shown!r} failed ({attempt.status}){detail}; not ticked")
        exit_status = 0
        took = attempt.time_ms or 0.0
        duration = f"{took:.0f} ms" if took < 1000 else f"{took / 1000:.1f} s"
        evidence.append(f"ran: {shown} (exit 0, {duration})")
    if not evidence:
        evidence.append("ticked by hand")
    by = history.who(notebook.config, None)
    with notes.Staged(notebook.config) as staged, store.write() as session:
        change = resolve_change(session, str(change_id))
        target = session.get(ChecklistItem, item_id)
        if target is None:  # deleted meanwhile by another process
            raise NotFoundError(f"checklist item {item_text!r} is gone")
        target.done = True
        # Evidence accumulates: a later tick (a note after `measure`) adds, never erases.
        earlier = [target.evidence] if target.done and target.evidence else []
        target.evidence = notebook.redact_text("; ".join([*earlier, *evidence]))
        target.done_at = utcnow()
        session.add(target)
        history.record(session, change, "tick", by, name=target.key, at=target.done_at)
        if cmd:
            count = len(
                session.exec(
                    select(CommandRecord.id).where(CommandRecord.change_id == change.id)
                ).all()
            )
            session.add(
                CommandRecord(
                    change_id=change.id,  # type: ignore[arg-type]
                    position=count + 1,
                    command=notebook.redact_text(cmd.strip()) or "",
                    source="tick",
                    exit_status=exit_status,
                )
            )
        session.flush()
        doc = document.load(session, change)
        if change.note_path:  # keep a shipped change's note in step (a late "watch" tick)
            staged.write(doc)
        return doc
