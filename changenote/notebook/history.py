"""What was done to a change, with when and who: its events, and its timeline.

Since schema 0009 every action leaves an event: ``baseline``, ``measure`` (``name``: the
run's label), ``tick`` (``name``: the item), ``ship``, ``watch``, ``abandon`` and
``reopen`` (``note``: why), ``edit`` (``name``: the field, ``old`` and ``new``). Text is
redacted like everything else before it is stored. ``by`` is who the user says
(``--by``), else the name git puts on their commits, else their login name.

The timeline is the events in time order; for a change recorded before there were
events (no ``baseline`` event: an older store, or an import from one) what its runs,
checklist, ship time and watches say fills in, without names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changenote.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel import Session

    from changenote.config import Config
    from changenote.store.models import Change

#: What an event can be, in the order a change usually meets them.
KINDS = (
    "baseline", "measure", "tick", "ship", "watch", "abandon", "reopen", "edit", "review",
    "follow-up",
)  # fmt: skip
#: A note's review states, ``superseded`` being set by ``edit --supersedes`` only.
REVIEW_STATES = ("drafted", "in-review", "reviewed", "needs-update")
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
    at: datetime | None = None,
) -> None:
    """Add an event to ``change`` (text already redacted), at ``at`` (else now), in the
    open transaction."""
    from changenote.store.models import Event, utcnow

    assert kind in KINDS, kind
    assert change.id is not None
    session.add(
        Event(
            change_id=change.id, at=at or utcnow(), by=by, kind=kind, name=name, old=old,
            new=new, note=note,
        )
    )  # fmt: skip


def events(session: Session, change_id: int) -> list[dict[str, Any]]:
    """The change's events, oldest first, as the document has them.

    Read with SQLAlchemy Core, not the ORM: every document load runs this (and
    :func:`links`, :func:`follow_ups`), so it must cost little (``bench/document.py``).
    """
    from sqlalchemy import select

    from changenote.formatting import iso
    from changenote.store.models import Event

    t = Event.__table__.c  # type: ignore[attr-defined]
    rows = session.connection().execute(
        select(t.at, t.by, t.kind, t.name, t.old, t.new, t.note)
        .where(t.change_id == change_id)
        .order_by(t.id)
    )
    return [
        {"at": iso(at), "by": by, "kind": kind, "name": name, "old": old, "new": new,
         "note": note}
        for at, by, kind, name, old, new, note in rows
    ]  # fmt: skip


def links(session: Session, change: Change) -> dict[str, Any]:
    """``superseded_by`` (the change that supersedes this one, or null) and
    ``supersedes`` (those it supersedes), each as uid and slug; a uid this store does
    not hold has a null slug."""
    from sqlalchemy import select

    from changenote.store.models import Change as Row

    t = Row.__table__.c  # type: ignore[attr-defined]
    conn = session.connection()
    newer = None
    if change.superseded_by:
        slug = conn.execute(select(t.slug).where(t.uid == change.superseded_by)).scalar()
        newer = {"uid": change.superseded_by, "slug": slug}
    older = conn.execute(select(t.uid, t.slug).where(t.superseded_by == change.uid).order_by(t.id))
    return {
        "superseded_by": newer,
        "supersedes": [{"uid": uid, "slug": slug} for uid, slug in older],
    }


def timeline(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of the document in time order, as ``{at, by, kind, what}``. A change
    recorded before there were events (no ``baseline`` event) has its steps filled in
    from the rest of the document, without names."""
    stored = doc.get("events") or []
    entries = [(e["at"], e.get("by"), e["kind"], _what(e)) for e in stored]
    if not any(e["kind"] == "baseline" for e in stored):
        entries += _derived(doc)
    entries.sort(key=lambda e: e[0])  # stable: events of one moment keep their order
    return [{"at": at, "by": by, "kind": kind, "what": what} for at, by, kind, what in entries]


def _derived(doc: dict[str, Any]) -> list[tuple[str, None, str, str | None]]:
    """What the runs, checklist, ship time and watches of a change tell of its steps."""
    entries: list[tuple[str, None, str, str | None]] = []
    if doc.get("created_at"):
        entries.append((doc["created_at"], None, "baseline", None))
    for run in (doc.get("runs") or [])[1:]:
        if run["label"] != "after" and not (run.get("settings") or {}).get("reference"):
            entries.append((run["started_at"], None, "measure", run["label"]))
    for item in doc.get("checklist") or []:
        if item.get("done") and item.get("done_at"):
            entries.append((item["done_at"], None, "tick", item["key"]))
    if doc.get("shipped_at"):
        entries.append((doc["shipped_at"], None, "ship", None))
    for watch in doc.get("watches") or []:
        if watch.get("started_at"):
            entries.append((_utc(watch["started_at"]), None, "watch", None))
    return entries


def _what(event: dict[str, Any]) -> str | None:
    if event["kind"] == "follow-up":  # name: "#2", new: "done" once done
        if event.get("new") == "done":
            return f"{event.get('name')} done" + (f": {event['note']}" if event.get("note") else "")
        return f"{event.get('name')} {event.get('note') or ''}".rstrip()
    if event["kind"] == "review":  # name: the status given
        return f"{event.get('name')}" + (f": {event['note']}" if event.get("note") else "")
    if event["kind"] == "edit":
        return f"{event.get('name')}: {_quoted(event.get('old'))} → {_quoted(event.get('new'))}"
    return event.get("note") or event.get("name")


def _quoted(value: str | None) -> str:
    return "—" if value is None else repr(value)


def _utc(text: str) -> str:
    """A watch's local start time as the others are written (UTC, ``Z``)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def follow_ups(session: Session, change_id: int) -> list[dict[str, Any]]:
    """The change's follow-ups by number, as the document has them (Core, as
    :func:`events`)."""
    from sqlalchemy import select

    from changenote.formatting import iso
    from changenote.store.models import FollowUp

    t = FollowUp.__table__.c  # type: ignore[attr-defined]
    rows = session.connection().execute(
        select(t.number, t.text, t.owner, t.due, t.done, t.done_at, t.done_note,
               t.created_at, t.created_by)
        .where(t.change_id == change_id)
        .order_by(t.number)
    )  # fmt: skip
    return [
        {"n": n, "text": text, "owner": owner, "due": due.isoformat() if due else None,
         "done": bool(done), "done_at": iso(done_at), "note": note,
         "created_at": iso(created_at), "by": by}
        for n, text, owner, due, done, done_at, note, created_at, by in rows
    ]  # fmt: skip
