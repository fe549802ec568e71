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

    why = _optional(reason, "--reason")
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
    supersedes: str | None = None,
) -> dict[str, Any]:
    """Change the words of a change: each field that differs becomes an ``edit`` event
    (old and new value, redacted); a shipped change's note is rendered again, in place.

    ``fields`` maps a name of :data:`EDITABLE` to its new text; an empty text clears
    it (the title cannot be cleared). Tags are added and removed by name.
    ``supersedes`` names a shipped change this one replaces: it becomes ``superseded``
    and both notes link to each other.
    """
    from changenote.measure import expectations
    from changenote.notebook import document

    tag, untag = tag or [], untag or []
    if not fields and not tag and not untag and supersedes is None:
        raise UsageError(
            "edit needs something to change: --title, --reason, --rollback, --owner, "
            "--service, --route, --input, --noticed, --expect, --tag, --untag or "
            "--supersedes"
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
        older = _superseded(session, change, supersedes) if supersedes is not None else None
        if older is not None:
            edits.append(("supersedes", None, older.slug))
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
        if older is not None:
            was_by = older.superseded_by
            older.superseded_by, older.review_status = change.uid, "superseded"
            session.add(older)
            history.record(
                session, older, "edit", name, name="superseded_by", old=was_by, new=change.slug
            )
        doc = _rendered(session, change, staged)
        if older is not None:
            _rendered(session, older, staged)
        return doc


def _superseded(session: Any, change: Any, ref: str) -> Any:
    """The shipped change ``ref`` that ``change`` replaces; None when it already does."""
    from changenote.notebook import document

    older = document.resolve(session, ref)
    if older.id == change.id:
        raise UsageError(f"change {change.slug!r} cannot supersede itself")
    if older.status != "shipped":
        raise UsageError(
            f"--supersedes {older.slug!r}: only a shipped change is superseded (it is "
            f"{'open' if older.status == 'baseline' else older.status})"
        )
    if older.superseded_by == change.uid:
        return None
    if older.superseded_by is not None:
        raise UsageError(f"--supersedes {older.slug!r}: it is superseded by another change")
    if change.superseded_by == older.uid:
        raise UsageError(f"--supersedes {older.slug!r}: that change supersedes this one")
    return older


def _optional(text: str | None, option: str) -> str | None:
    """An optional option's text, stripped; given but blank is a usage error."""
    if text is None:
        return None
    if not text.strip():
        raise UsageError(f"{option} cannot be empty")
    return text.strip()


def _not_empty(notebook: Notebook) -> None:
    """A store that was never made is not made now: there is nothing to correct."""
    from changenote.errors import NotFoundError
    from changenote.store.db import EMPTY

    if not notebook.store.exists():
        raise NotFoundError(EMPTY)


def delete(notebook: Notebook, ref: str, yes: bool) -> dict[str, Any]:
    """Remove a change recorded by mistake, its rows and its note file (its wiki pages go
    at the next build). Without ``yes``, only what it would remove (``deleted`` false).

    The note is moved to its pending name before the store commits and removed after;
    a kill in between is settled by the next writer (restored if the change is still
    there, removed if not). A change whose rows cannot be read can still be deleted.
    """
    import os

    from sqlmodel import func, select

    from changenote.store.db import resolve_change
    from changenote.store.models import Run

    _not_empty(notebook)
    notes.settle(notebook.config, notebook.store)
    with notebook.store.read() as session:
        change = resolve_change(session, ref)
        runs = session.exec(select(func.count()).where(Run.change_id == change.id)).one()
        plan: dict[str, Any] = {
            "id": change.id, "uid": change.uid, "slug": change.slug, "title": change.title,
            "status": change.status, "runs": runs, "note_path": change.note_path,
            "deleted": False,
        }  # fmt: skip
    note = notes.absolute(notebook.config, plan["note_path"]) if plan["note_path"] else None
    if note is not None and notes.note_uid(note) != plan["uid"]:
        note = None  # not there, or not this change's: not changenote's to remove
    plan["note_removed"] = note is not None
    if not yes:
        return plan
    notebook.acting_on("delete", change, "removing it")
    pending = notes.pending_name(note, plan["uid"]) if note is not None else None
    if note is not None and pending is not None:
        os.replace(note, pending)
    try:
        with notebook.store.write() as session:
            change = resolve_change(session, str(plan["id"]))
            if change.uid != plan["uid"]:
                raise ChangenoteError(f"change #{plan['id']} changed meanwhile; nothing deleted")
            session.delete(change)  # the database removes its rows with it
    except BaseException:
        if note is not None and pending is not None:
            os.replace(pending, note)
        raise
    if pending is not None:
        pending.unlink(missing_ok=True)
    plan["deleted"] = True
    return plan


def review(
    notebook: Notebook,
    ref: str,
    status: str,
    by: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Set the review status of a shipped change's note; the note shows it."""
    from changenote.notebook import document
    from changenote.store.models import utcnow

    if status not in history.REVIEW_STATES:
        raise UsageError(f"--status {status!r}: use one of {', '.join(history.REVIEW_STATES)}")
    said = _optional(note, "--note")
    name = history.who(notebook.config, by)
    _not_empty(notebook)
    with notes.Staged(notebook.config) as staged, notebook.store.write() as session:
        change = document.resolve(session, ref)
        document.load(session, change)
        if change.status != "shipped":
            raise ChangenoteError(
                f"change {change.slug!r} is not shipped: it has no note to review yet"
            )
        if change.review_status == "superseded":
            raise ChangenoteError(
                f"change {change.slug!r} is superseded: review the change that supersedes it"
            )
        notebook.acting_on("review", change, status)
        change.review_status = status
        change.reviewed_by, change.reviewed_at = name, utcnow()
        session.add(change)
        history.record(
            session, change, "review", name, name=status, note=notebook.redact_text(said),
            at=change.reviewed_at,
        )  # fmt: skip
        return _rendered(session, change, staged)


def due(notebook: Notebook) -> list[dict[str, Any]]:
    """Shipped notes that want a review: never reviewed, in review, needing an update, or
    reviewed longer ago than ``review_after_days``; oldest first."""
    from datetime import timedelta

    from sqlmodel import col, select

    from changenote.formatting import iso
    from changenote.store.models import Change, utcnow

    if not notebook.store.exists():
        return []
    days = notebook.config.review_after_days
    now = utcnow()
    rows = []
    with notebook.store.read() as session:
        shipped = session.exec(
            select(Change).where(Change.status == "shipped").order_by(col(Change.shipped_at))
        ).all()
        for change in shipped:
            state = change.review_status or "drafted"
            if state == "superseded":
                continue
            reviewed = change.reviewed_at
            if reviewed is not None and reviewed.tzinfo is None:
                from datetime import UTC

                reviewed = reviewed.replace(tzinfo=UTC)
            if state == "reviewed":
                if days is None or reviewed is None or now - reviewed < timedelta(days=days):
                    continue
                why = f"reviewed {(iso(reviewed) or '')[:10]}, over {days} day(s) ago"
            else:
                why = {"drafted": "never reviewed", "in-review": "in review",
                       "needs-update": "needs an update"}[state]  # fmt: skip
            rows.append({
                "id": change.id, "slug": change.slug, "title": change.title,
                "review": state, "reviewed_by": change.reviewed_by,
                "reviewed_at": iso(change.reviewed_at), "why": why,
                "note_path": change.note_path,
            })  # fmt: skip
    return rows


#: The longest follow-up owner (the column's width).
OWNER_LIMIT = 64


def follow_up(
    notebook: Notebook,
    ref: str,
    text: str | None = None,
    owner: str | None = None,
    due: str | None = None,
    done: int | None = None,
    note: str | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """Add a follow-up to a change (``text``, with an owner and a due date), or mark
    follow-up number ``done`` done (with a ``note``)."""
    from datetime import date

    from sqlmodel import func, select

    from changenote.notebook import document
    from changenote.store.models import FollowUp, utcnow

    if done is None:
        what = (text or "").strip()
        if not what:
            raise UsageError('follow-up needs its text: changenote follow-up ID "what to do"')
        if note is not None:
            raise UsageError("--note goes with --done N")
    else:
        if text is not None or owner is not None or due is not None:
            raise UsageError("follow-up --done N takes only --note (and --by)")
        if done < 1:
            raise UsageError(f"--done takes a follow-up number (1, 2, ...), got {done}")
    when = None
    if due is not None:
        try:
            when = date.fromisoformat(due.strip())
        except ValueError:
            raise UsageError(f"--due {due!r} is not a date: write it as 2026-12-31") from None
    who_owns = " ".join(owner.split()) if owner is not None else None
    if owner is not None and not who_owns:
        raise UsageError("--owner cannot be empty")
    if who_owns is not None and len(who_owns) > OWNER_LIMIT:
        raise UsageError(f"--owner is limited to {OWNER_LIMIT} characters")
    said = _optional(note, "--note")
    name = history.who(notebook.config, by)
    _not_empty(notebook)
    with notes.Staged(notebook.config) as staged, notebook.store.write() as session:
        change = document.resolve(session, ref)
        document.load(session, change)
        assert change.id is not None
        if done is None:
            count = session.exec(
                select(func.max(FollowUp.number)).where(FollowUp.change_id == change.id)
            ).one()
            number = (count or 0) + 1
            notebook.acting_on("follow-up", change, f"adding #{number}")
            item = FollowUp(
                change_id=change.id, number=number, text=notebook.redact_text(what) or "",
                owner=notebook.redact_text(who_owns), due=when, created_at=utcnow(),
                created_by=name,
            )  # fmt: skip
            session.add(item)
            history.record(session, change, "follow-up", name, name=f"#{number}", note=item.text)
        else:
            found = session.exec(
                select(FollowUp).where(FollowUp.change_id == change.id, FollowUp.number == done)
            ).first()
            if found is None:
                raise UsageError(f"change {change.slug!r} has no follow-up #{done}")
            item = found
            if item.done:
                raise ChangenoteError(f"follow-up #{done} of {change.slug!r} is already done")
            notebook.acting_on("follow-up", change, f"#{done} done")
            item.done, item.done_at = True, utcnow()
            item.done_note = notebook.redact_text(said)
            session.add(item)
            history.record(
                session, change, "follow-up", name, name=f"#{done}", new="done",
                note=item.done_note, at=item.done_at,
            )  # fmt: skip
        return _rendered(session, change, staged)


def open_follow_ups(notebook: Notebook) -> list[dict[str, Any]]:
    """Every follow-up not done yet, overdue first, then by due date (none last)."""
    from datetime import date

    from sqlmodel import select

    from changenote.store.models import Change, FollowUp

    if not notebook.store.exists():
        return []
    today = date.today()
    with notebook.store.read() as session:
        rows = session.exec(
            select(FollowUp, Change.id, Change.slug, Change.title)
            .join(Change, Change.id == FollowUp.change_id)  # type: ignore[arg-type]
            .where(FollowUp.done == False)  # noqa: E712 - SQL, not Python
        ).all()
    items = [
        {
            "change": cid, "slug": slug, "title": title, "n": f.number, "text": f.text,
            "owner": f.owner, "due": f.due.isoformat() if f.due else None,
            "overdue": f.due is not None and f.due < today,
        }
        for f, cid, slug, title in rows
    ]  # fmt: skip
    items.sort(
        key=lambda i: (not i["overdue"], i["due"] is None, i["due"] or "", i["change"], i["n"])
    )
    return items


def _rendered(session: Any, change: Any, staged: notes.Staged) -> dict[str, Any]:
    """The change's document after the edit, its note (if shipped) staged to match."""
    from changenote.notebook import document

    session.flush()
    doc = document.load(session, change)
    if change.note_path:
        staged.write(doc)
    return doc
