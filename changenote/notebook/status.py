"""``changenote status``: what is open and what is due, each with the command to run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from changenote.notebook.workflow import Notebook

#: The step each checklist item stands for, before a change is shipped.
_BEFORE_SHIP = {
    "backup": ("create a safe backup", 'changenote tick {ref} backup --cmd "..."'),
    "test": ("test the smallest change", 'changenote measure {ref} --label "smallest change"'),
}


def status(notebook: Notebook) -> dict[str, Any]:
    """The open changes with their next step, the follow-ups due, the notes due for review."""
    from datetime import date

    from sqlmodel import col, select

    from changenote.notebook.revising import due, open_follow_ups
    from changenote.store.db import OPEN
    from changenote.store.models import Change, ChecklistItem

    result: dict[str, Any] = {"open": [], "follow_ups_due": [], "reviews_due": []}
    if not notebook.store.exists():
        return result
    with notebook.store.read() as session:
        changes = session.exec(
            select(Change).where(Change.status == OPEN).order_by(col(Change.id))
        ).all()
        for change in changes:
            items = session.exec(
                select(ChecklistItem)
                .where(ChecklistItem.change_id == change.id)
                .order_by(col(ChecklistItem.position))
            ).all()
            result["open"].append({
                "id": change.id, "slug": change.slug, "title": change.title,
                "owner": change.owner, **_next_step(change.slug, items),
            })  # fmt: skip
    today = date.today().isoformat()
    result["follow_ups_due"] = [
        f for f in open_follow_ups(notebook) if f["due"] is not None and f["due"] <= today
    ]
    result["reviews_due"] = due(notebook)
    return result


def _next_step(ref: str, items: Sequence[Any]) -> dict[str, str]:
    """The first step not done before ship (backup, test, a project item), else ship."""
    for item in items:
        if item.done or item.key in ("capture", "watch", "note"):
            continue
        if item.key in _BEFORE_SHIP:
            step, command = _BEFORE_SHIP[item.key]
            return {"next": step, "command": command.format(ref=ref)}
        return {"next": item.label, "command": f"changenote tick {ref} {item.key}"}
    return {"next": "ship it", "command": f'changenote ship {ref} --reason "..."'}
