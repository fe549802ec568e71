"""Export and import: whole change documents as JSON Lines, or notes' front matter.

An export line is the change document (``changenote/change@1``, see docs/JSON.md)
with one more key, ``export``, holding what the store keeps but the document does not
show (the probes' full specs, files dirty at baseline, each file's and command's
source and time). Reading a source (an export, a note, a folder of them) is here;
writing what it holds into the store is :mod:`changenote.notebook.importing`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from changenote.errors import UnreadableChangeError, UsageError
from changenote.formatting import iso

if TYPE_CHECKING:
    from changenote.notebook.importing import ImportResult


EXPORT_SCHEMA = "changenote/export@1"


CHANGE_SCHEMA = "changenote/change@1"


def export_lines(store: Any, skipped: list[UnreadableChangeError] | None = None) -> Iterator[str]:
    """One JSON line per change, oldest first.

    A change that cannot be read (see :func:`document.load`) is left out and added to
    ``skipped``; without that list, it stops the export.
    """
    from sqlmodel import col, select

    from changenote.store.models import Change

    if not store.exists():
        return
    with store.read() as session:
        ids = session.exec(select(Change.id).order_by(col(Change.id))).all()
        for change_id in ids:
            try:
                doc = _export_document(session, change_id)
            except UnreadableChangeError as exc:
                if skipped is None:
                    raise
                skipped.append(exc)
                continue
            yield json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str)


def _export_document(session: Any, change_id: int) -> dict[str, Any]:
    """A change's export line as a document: the change document and its ``export``."""
    from sqlmodel import col, select

    from changenote.notebook import document, rules
    from changenote.store.models import Change, CommandRecord, FileTouched

    doc = document.load_id(session, change_id)
    change = session.get(Change, change_id)
    assert change is not None
    files = session.exec(
        select(FileTouched).where(FileTouched.change_id == change_id).order_by(col(FileTouched.id))
    ).all()
    commands = session.exec(
        select(CommandRecord)
        .where(CommandRecord.change_id == change_id)
        .order_by(col(CommandRecord.position), col(CommandRecord.id))
    ).all()
    dirty = change.base_dirty_files
    if not isinstance(dirty, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in dirty.items()
    ):
        raise UnreadableChangeError(
            change.slug, "export.base_dirty_files: must be an object of texts"
        )
    doc["export"] = {
        "schema": EXPORT_SCHEMA,
        "probe_specs": list(change.probes),
        "base_dirty_files": dict(dirty),
        "file_sources": [f.source for f in files],
        "command_times": [iso(c.recorded_at) for c in commands],
    }
    found = rules.rules(doc)  # the command times
    if found is not None:
        raise UnreadableChangeError(change.slug, f"{found[0]}: {found[1]}")
    return doc


def read_documents(source: Path, root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) from a JSON Lines file, a note, or a folder of them.

    A note's front matter leaves out where the note is; it is the note's own path,
    relative to the project ``root``.
    """
    import os

    from changenote.notebook.notes import read_note

    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix in (".jsonl", ".md", ".json"))
        if not paths:
            raise UsageError(f"{source}: no .jsonl or .md files to import")
    elif source.is_file():
        paths = [source]
    else:
        raise UsageError(f"nothing to import at {source}")
    for path in paths:
        if path.suffix == ".md":
            doc = read_note(path)
            if doc is not None:
                doc = _at_the_door(path.name, doc)
                where = path.resolve()
                inside = root.resolve() in where.parents
                doc["note_path"] = os.path.relpath(where, root) if inside else str(where)
                yield path.name, doc
            continue
        with path.open(encoding="utf-8") as fh:
            try:
                yield from _json_lines(path.name, fh)
            except UnicodeDecodeError:
                raise UsageError(f"{path.name}: not UTF-8 text") from None


def _json_lines(name: str, fh: IO[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    loads = orjson.loads
    for number, line in enumerate(fh, start=1):
        try:
            doc = loads(line)
        except ValueError:
            if not line.strip():
                continue
            try:  # what orjson refuses and json takes: NaN, Infinity, huge integers
                doc = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"{name}:{number}: not JSON ({exc})") from None
            except RecursionError:
                raise UsageError(f"{name}:{number}: not JSON (nested too deeply)") from None
            doc = _at_the_door(f"{name}:{number}", doc)
        yield f"{name}:{number}", doc


def _at_the_door(where: str, doc: Any) -> Any:
    """A document the strict JSON parser refused, or a note's YAML, as a store can keep
    it (see :func:`changenote.notebook.schema.door`); else one line naming the field."""
    if not isinstance(doc, dict):
        return doc  # not a change document: import says so
    from changenote.notebook.schema import door

    try:
        return door(doc)
    except ValueError as exc:
        key, what = exc.args
        raise UsageError(f"{where}: {key}: {what}" if key else f"{where}: {what}") from None
    except RecursionError:
        raise UsageError(f"{where}: not a valid change document (nested too deeply)") from None


def export_to(
    config: Any,
    out: Path | None,
    stream: IO[str],
    skipped: list[UnreadableChangeError] | None = None,
) -> int:
    """Export every change of the project's store: to ``out`` atomically, else to ``stream``.

    Returns how many changes were written; those that cannot be read go to ``skipped``.
    """
    from changenote.files import write_atomic
    from changenote.store.db import Store

    lines = export_lines(Store(config.store_url()), skipped)
    if out is None:
        count = 0
        for line in lines:
            stream.write(line + "\n")
            count += 1
        return count
    text = "".join(line + "\n" for line in lines)
    write_atomic(out, text)
    return text.count("\n")


def import_from(config: Any, source: Path) -> ImportResult:
    """Import an export, a note, or a folder of them into the project's store."""
    from changenote.notebook import notes
    from changenote.notebook.importing import import_documents, redactor
    from changenote.store.db import Store

    store = Store(config.store_url())
    notes.settle(config, store)  # what a killed ship left, before placing new notes
    return import_documents(
        store,
        read_documents(source, config.root),
        redactor(tuple(config.redact_patterns)),
        place_note=lambda doc, taken: notes.place(config, doc, taken),
    )
