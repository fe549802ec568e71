"""What was done to a change besides measuring it, with when and who: its events.

``abandon`` and ``reopen`` keep why; an ``edit`` keeps the field and both values. The
text is redacted like everything else before it is stored. ``by`` is who the user says
(``--by``), else the name git puts on their commits, else their login name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changenote.errors import UsageError

if TYPE_CHECKING:
    from sqlmodel import Session

    from changenote.config import Config
    from changenote.store.models import Change

#: What an event can be, in the order a change usually meets them.
KINDS = ("abandon", "reopen", "edit")
#: The longest name ``--by`` takes (the column's width).
BY_LIMIT = 64


def who(config: Config, by: str | None) -> str:
    """The name an event is recorded under."""
    from changenote.gitinfo import author_name
    from changenote.notebook.trust import current_user

    if by is not None:
        name = " ".join(by.split())
        if not name:
            raise UsageError("--by cannot be empty")
        if len(name) > BY_LIMIT:
            raise UsageError(f"--by is limited to {BY_LIMIT} characters, got {len(name)}")
        return name
    return (author_name(config.root) or current_user())[:BY_LIMIT]


def record(
    session: Session,
    change: Change,
    kind: str,
    by: str,
    *,
    name: str | None = None,
    old: str | None = None,
    new: str | None = None,
    note: str | None = None,
) -> None:
    """Add an event to ``change`` (text already redacted), now, in the open transaction."""
    from changenote.store.models import Event, utcnow

    assert kind in KINDS, kind
    assert change.id is not None
    session.add(
        Event(
            change_id=change.id, at=utcnow(), by=by, kind=kind, name=name, old=old, new=new,
            note=note,
        )
    )  # fmt: skip


def events(session: Session, change_id: int) -> list[dict[str, Any]]:
    """The change's events, oldest first, as the document has them."""
    from sqlmodel import col, select

    from changenote.formatting import iso
    from changenote.store.models import Event

    rows = session.exec(
        select(Event).where(Event.change_id == change_id).order_by(col(Event.id))
    ).all()
    return [
        {
            "at": iso(e.at),
            "by": e.by,
            "kind": e.kind,
            "name": e.name,
            "old": e.old,
            "new": e.new,
            "note": e.note,
        }
        for e in rows
    ]
