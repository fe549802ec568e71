"""Notes: where a change's note goes, its text (pure), and writing it atomically.

A note is changenote's only where changenote wrote it: its path is derived from the
date and the slug and made unique against the store and the files on disk, and a file
whose front matter does not carry the change's uid is never written over.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Container
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.config import Config
from changenote.errors import ChangenoteError

if TYPE_CHECKING:
    from changenote.store.db import Store


def relpath(config: Config, doc: dict[str, Any]) -> str:
    """``notes/<date>-<slug>.md`` relative to the project root (absolute if outside it)."""
    from changenote.notebook import document

    return _relative(config, config.notes_path / document.note_filename(doc))


def _relative(config: Config, path: Path) -> str:
    try:
        return path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def absolute(config: Config, note_path: str) -> Path:
    target = Path(note_path)
    return target if target.is_absolute() else config.root / target


#: ``uid: <32 hex digits>`` at the top level of a note's front matter (YAML may quote it).
_UID_LINE = re.compile(r"^uid: *['\"]?([0-9a-f]{32})['\"]? *$", re.M)


def note_uid(path: Path) -> str | None:
    """The change uid in the front matter of the file at ``path``; None when the file is
    not a note changenote wrote (or cannot be read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    if not head.startswith(b"---\n"):
        return None
    end = head.find(b"\n---\n", 4)
    found = _UID_LINE.search(head[4 : end if end > 0 else None].decode("utf-8", "replace"))
    return found.group(1) if found else None


def _free(config: Config, note_path: str, uid: str, taken: Container[str | None]) -> bool:
    """Whether ``note_path`` may hold the note of ``uid``: no other change of the store
    has it, and the file there is missing or already this change's note."""
    if note_path in taken:
        return False
    target = absolute(config, note_path)
    return not os.path.lexists(target) or note_uid(target) == uid


def unique_path(config: Config, doc: dict[str, Any], taken: Container[str | None]) -> str:
    """The derived note path (``notes/<date>-<slug>.md``), made unique against the
    store's note paths (``taken``) and the files on disk: ``-2``, ``-3``... when needed."""
    base = relpath(config, doc)
    if _free(config, base, doc["uid"], taken):
        return base
    stem = base[: -len(".md")]
    n = 2
    while not _free(config, f"{stem}-{n}.md", doc["uid"], taken):
        n += 1
    return f"{stem}-{n}.md"


def place(config: Config, doc: dict[str, Any], taken: Container[str | None]) -> str | None:
    """Where an imported change's note goes; None for a change without a note.

    The path it brings is a hint, never a licence to overwrite: it is kept when it is
    a markdown file inside the notes folder that no other change has and that is
    missing or already this change's note; otherwise the note goes to the derived path
    (:func:`unique_path`)."""
    given = doc.get("note_path")
    if given is None:
        return None
    if isinstance(given, str) and given.endswith(".md") and "\x00" not in given:
        try:
            resolved = absolute(config, given).resolve()
            if config.notes_path.resolve() in resolved.parents:
                # as relpath gives it: relative to the root, no `..`, no machine's own path
                hint = _relative(config, resolved)
                if _free(config, hint, doc["uid"], taken):
                    return hint
        except (OSError, ValueError, RuntimeError):
            pass
    return unique_path(config, doc, taken)


def text(config: Config, doc: dict[str, Any], with_record: bool = True) -> str:
    """The rendered note of a change document (pure).

    The note is its short front matter, the readable part (the template), and the
    whole document as a folded record block at the end (:mod:`note_yaml`).
    ``with_record=False`` gives only the readable part: the wiki and the demo show
    that, and dumping the record is the slowest step of a note. The record block is
    added here, not by the template, so an overriding template cannot lose it.
    """
    from changenote.notebook import document, note_yaml
    from changenote.render import render

    override = config.templates_path
    if override is not None and not override.is_dir():
        raise ChangenoteError(
            f"templates_dir {config.templates_dir!r} is not a folder ({override})"
        )
    front = note_yaml.front_matter(doc) if with_record else ""
    body = render("note.md.j2", document.note_context(doc, front), override)
    if not with_record:
        return body
    return body.rstrip("\n") + "\n\n" + note_yaml.record_block(note_yaml.record(doc))


def _target(config: Config, doc: dict[str, Any]) -> Path:
    """The note file of ``doc``: inside the notes folder, and not someone else's file."""
    target = absolute(config, doc["note_path"])
    folder = config.notes_path
    if folder not in target.resolve().parents:
        raise ChangenoteError(f"refusing to write a note outside {folder}: {target}")
    if os.path.lexists(target) and note_uid(target) != doc["uid"]:
        raise ChangenoteError(
            f"refusing to overwrite {doc['note_path']}: changenote did not write it (its "
            f"front matter has no uid of change {doc['slug']!r}); move that file away, then "
            "run `changenote render` again"
        )
    return target


def write(config: Config, doc: dict[str, Any]) -> Path:
    """Render and write the note of ``doc`` to its ``note_path``, inside the notes folder."""
    from changenote.files import remove_stale_temporaries, write_atomic

    target = _target(config, doc)
    try:
        remove_stale_temporaries(target.parent, target.name)
        write_atomic(target, text(config, doc))
    except OSError as exc:
        raise ChangenoteError(f"cannot write the note {target}: {_why(exc)}") from None
    return target


def _why(exc: OSError) -> str:
    import errno

    return "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else str(exc.strerror)


def pending_name(target: Path, uid: str) -> Path:
    return target.with_name(f".{target.name}.{uid}.pending")


_PENDING = re.compile(r"\.(.+\.md)\.([0-9a-f]{32})\.pending")
_PENDING_TEMPORARY = re.compile(r"\.\.(.+\.md)\.([0-9a-f]{32})\.pending\.[^/]+\.tmp")


def check_writable(config: Config) -> None:
    """Refuse, before a long measurement, a notes folder no note can be written in: a
    file in its place or above it, or a folder this user cannot write."""
    folder = config.notes_path
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ChangenoteError(
            f"cannot write notes in {folder}: {probe} is a file, not a folder "
            "(move it, or set notes_dir in changenote.toml)"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ChangenoteError(f"cannot write notes in {folder}: {probe} is not writable")


class Staged:
    """Notes written with a store transaction: they appear only once it has committed.

    Use as ``with Staged(config) as staged, store.write() as session: ...``. Inside,
    :meth:`write` puts each note in a hidden pending file next to its place; the store
    commits first (the inner block), then this renames each pending file into place.
    If anything raised, the pending files are removed and the notes stay as they were.
    A kill before the commit leaves only a pending file; a kill between the commit and
    the rename leaves the store ahead of the note: :func:`settle` (run by the next
    writer) removes the first and re-renders the second from the store.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._pending: list[tuple[Path, Path, dict[str, Any]]] = []

    def __enter__(self) -> Staged:
        return self

    def write(self, doc: dict[str, Any]) -> Path:
        from changenote.files import remove_stale_temporaries, write_atomic

        target = _target(self.config, doc)
        pending = pending_name(target, doc["uid"])
        try:
            # what a writer killed inside write_atomic left (the note's, its pending's)
            remove_stale_temporaries(target.parent, target.name)
            remove_stale_temporaries(target.parent, pending.name)
            write_atomic(pending, text(self.config, doc))
        except OSError as exc:
            raise ChangenoteError(f"cannot write the note {target}: {_why(exc)}") from None
        self._pending.append((pending, target, doc))
        return target

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is not None:
            for pending, _target_path, _doc in self._pending:
                with contextlib.suppress(OSError):  # the original error matters more
                    pending.unlink(missing_ok=True)
            return
        for pending, target, doc in self._pending:
            try:
                os.replace(pending, target)
            except FileNotFoundError:  # another process's settle() took it: write again
                write(self.config, doc)
            except OSError as error:
                raise ChangenoteError(
                    f"the store is recorded but the note {target} could not be put in place "
                    f"({_why(error)}); `changenote render` writes it again"
                ) from None


def settle(config: Config, store: Store) -> list[Path]:
    """Finish what a killed writer left: a pending note whose change the store has
    with that note path is written again from the store; any other is removed.

    Returns the notes written again. Cheap when there is nothing to do (one walk of
    the notes folder).
    """
    folder = config.notes_path
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob(".*.pending*"):
        if _PENDING.fullmatch(path.name):
            found.append(path)
        elif _PENDING_TEMPORARY.fullmatch(path.name) and _stale(path):
            with contextlib.suppress(OSError):  # a writer killed while writing a pending
                path.unlink()
    if not found:
        return []
    from sqlmodel import select

    from changenote.notebook import document
    from changenote.store.models import Change

    written = []
    with store.read() as session:
        for pending in found:
            match = _PENDING.fullmatch(pending.name)
            assert match is not None
            target = pending.with_name(match.group(1))
            change = session.exec(select(Change).where(Change.uid == match.group(2))).first()
            if change is not None and change.note_path:
                mine = absolute(config, change.note_path)
                if mine.resolve() == target.resolve():
                    written.append(write(config, document.load(session, change)))
            with contextlib.suppress(OSError):
                pending.unlink(missing_ok=True)
    return written


def _stale(path: Path) -> bool:
    """Old enough that no live writer owns it (writing a note takes milliseconds; a
    younger one may be another process's, which the next write of that note removes)."""
    import time

    try:
        return time.time() - path.stat().st_mtime > 300
    except OSError:
        return False


def read_note(path: Path) -> dict[str, Any] | None:
    """The change document a note carries; None for a file that is not a note.

    Today's notes carry it in the record block at their end (the front matter is a
    summary, checked against it); notes written before carry it as their front matter.
    """
    from changenote.notebook import note_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ChangenoteError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    front, record = note_yaml.split(text, path.name)
    if front is None:
        return None
    summary = note_yaml.load(front, path.name, "front matter")
    if record is None:
        doc = summary
    else:
        doc = note_yaml.load(record, path.name, "the change record block")
        mine = summary.get("uid") if isinstance(summary, dict) else None
        if not isinstance(doc, dict) or mine is None or mine != doc.get("uid"):
            raise ChangenoteError(
                f"{path.name}: the front matter's uid and the change record's disagree "
                "(was one pasted from another note?)"
            )
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("slug"), str)
        or not isinstance(doc.get("title"), str)
    ):
        where = "front matter" if record is None else "change record block"
        raise ChangenoteError(f"{path.name}: {where} is not a changenote record")
    doc.setdefault("note_path", path.name)
    return doc
