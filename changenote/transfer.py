"""Export and import: whole change documents as JSON Lines, or notes' front matter.

An export line is the change document (``changenote/change@1``, see docs/JSON.md)
with one more key, ``export``, holding what the store keeps but the document does not
show (the probes' full specs, files dirty at baseline, each file's and command's
source and time). Import is idempotent by the change's ``uid``: a change already in
the store is left alone, so importing twice changes nothing and two teammates' exports
merge. Rows are written with SQLAlchemy Core in bulk, with ids assigned here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from changenote.errors import UsageError

EXPORT_SCHEMA = "changenote/export@1"
CHANGE_SCHEMA = "changenote/change@1"


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    text = str(text)
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":  # the documents' own form
        return _utc(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                    int(text[14:16]), int(text[17:19]))  # fmt: skip
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def export_lines(store: Any) -> Iterator[str]:
    """One JSON line per change, oldest first."""
    from sqlmodel import col, select

    from changenote import document
    from changenote.models import Change, CommandRecord, FileTouched

    if not store.exists():
        return
    with store.read() as session:
        ids = session.exec(select(Change.id).order_by(col(Change.id))).all()
        for change_id in ids:
            change = session.get(Change, change_id)
            assert change is not None
            doc = document.load(session, change)
            files = session.exec(
                select(FileTouched)
                .where(FileTouched.change_id == change_id)
                .order_by(col(FileTouched.id))
            ).all()
            commands = session.exec(
                select(CommandRecord)
                .where(CommandRecord.change_id == change_id)
                .order_by(col(CommandRecord.position), col(CommandRecord.id))
            ).all()
            doc["export"] = {
                "schema": EXPORT_SCHEMA,
                "probe_specs": list(change.probes),
                "base_dirty_files": dict(change.base_dirty_files),
                "file_sources": [f.source for f in files],
                "command_times": [document._iso(c.recorded_at) for c in commands],
            }
            yield json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class ImportResult:
    """What an import did."""

    read: int = 0
    imported: int = 0
    #: Changes whose uid the store already had.
    already: int = 0
    #: Slugs renamed because another change had them.
    renamed: list[str] = field(default_factory=list)


def read_documents(source: Path, root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) from a JSON Lines file, a note, or a folder of them.

    A note's front matter leaves out where the note is; it is the note's own path,
    relative to the project ``root``.
    """
    import os

    from changenote.wiki import read_note

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
                where = path.resolve()
                inside = root.resolve() in where.parents
                doc["note_path"] = os.path.relpath(where, root) if inside else str(where)
                yield path.name, doc
            continue
        with path.open(encoding="utf-8") as fh:
            yield from _json_lines(path.name, fh)


def _json_lines(name: str, fh: IO[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{name}:{number}: not JSON ({exc})") from None
        yield f"{name}:{number}", doc


_REQUIRED = ("uid", "slug", "title", "status", "created_at")


def redactor(patterns: Any = ()) -> Any:
    """Redaction for imported text, remembering repeated strings (routes, owners...)."""
    import functools

    from changenote.redact import redact

    @functools.lru_cache(maxsize=4096)
    def hide(text: str) -> str | None:
        return redact(text, patterns)

    return lambda text: hide(text) if text is not None else None


def _check(where: str, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: not a change document (an object was expected)")
    if doc.get("schema") != CHANGE_SCHEMA:
        raise UsageError(f"{where}: schema {doc.get('schema')!r} is not {CHANGE_SCHEMA!r}")
    missing = [k for k in _REQUIRED if not doc.get(k)]
    if missing:
        raise UsageError(f"{where}: missing {', '.join(missing)}")
    for key in ("uid", "slug", "title", "status"):
        if not isinstance(doc[key], str):
            raise UsageError(f"{where}: {key} must be a string")
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", doc["slug"]) or doc["slug"].isdigit():
        raise UsageError(f"{where}: slug {doc['slug'][:40]!r} is not a changenote slug")
    for key in ("runs", "checklist", "command_log", "files_touched", "tags"):
        if not isinstance(doc.get(key, []), list):
            raise UsageError(f"{where}: {key} must be a list")
    return doc


class _Ids:
    """The next free id per table, assigned here so rows can be inserted in bulk."""

    def __init__(self, conn: Any, tables: Iterable[Any]) -> None:
        from sqlalchemy import func, select

        self.next = {
            t.name: (conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1 for t in tables
        }

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def import_documents(
    store: Any, documents: Iterable[tuple[str, dict[str, Any]]], redact: Any
) -> ImportResult:
    """Add every change the store does not have yet; one transaction for all of them."""
    from sqlalchemy import select

    from changenote.models import (
        Change,
        ChecklistItem,
        CommandRecord,
        FileTouched,
        Metric,
        Run,
    )

    tables = {
        str(m.__tablename__): m.__table__  # type: ignore[union-attr]
        for m in (Change, Run, Metric, CommandRecord, FileTouched, ChecklistItem)
    }
    result = ImportResult()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    change_t = tables["change"]
    with store.write() as session:
        conn = session.connection()
        uids = set(conn.execute(select(change_t.c.uid)).scalars())
        slugs = set(conn.execute(select(change_t.c.slug)).scalars())
        taken_ids = set(conn.execute(select(change_t.c.id)).scalars())
        ids = _Ids(conn, tables.values())
        wanted_ids: list[tuple[dict[str, Any], str, str]] = []
        for where, raw in documents:
            result.read += 1
            doc = _check(where, raw)
            if doc["uid"] in uids:
                result.already += 1
                continue
            uids.add(doc["uid"])
            slug = doc["slug"]
            if slug in slugs:
                n = 2
                while f"{slug}-{n}" in slugs:
                    n += 1
                result.renamed.append(f"{slug} -> {slug}-{n}")
                slug = f"{slug}-{n}"
            slugs.add(slug)
            if slug != doc["slug"]:
                doc = {**doc, "note_path": _renamed_note(doc.get("note_path"), doc["slug"], slug)}
            wanted_ids.append((doc, slug, where))
        # Keep a document's id where it is free (a round trip into an empty store gives
        # the same ids); the others get new ones after the largest.
        for doc, _, _ in wanted_ids:
            want = doc.get("id")
            if isinstance(want, int) and want > 0 and want not in taken_ids:
                taken_ids.add(want)
                doc["_id"] = want
        ids.next["change"] = max([ids.next["change"], *(i + 1 for i in taken_ids)])
        for doc, slug, where in wanted_ids:
            change_id = doc.pop("_id", None) or ids.take("change")
            try:
                _rows(doc, slug, change_id, ids, rows, redact)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)[:120]
                raise UsageError(f"{where}: not a valid change document ({detail})") from None
            result.imported += 1
        for name in ("change", "run", "metric", "command", "file_touched", "checklist_item"):
            if rows[name]:
                _insert(conn, tables[name], rows[name])
        if conn.dialect.name == "postgresql" and result.imported:
            from sqlalchemy import text

            for name in tables:  # explicit ids: move the sequences past them
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                    )
                )
    return result


def _sqlite_time(value: Any) -> Any:
    """A time as SQLAlchemy stores it on SQLite: naive UTC text with microseconds."""
    if value is None:
        return None
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _renamed_note(path: Any, old: str, new: str) -> str | None:
    """The note path of a change whose slug was taken: the same folder and date, the new
    slug (two changes never share a note file)."""
    if not isinstance(path, str) or not path.endswith(f"{old}.md"):
        return None
    return path[: -len(f"{old}.md")] + f"{new}.md"


def _deep(value: Any, redact: Any) -> Any:
    """Every string inside ``value`` (lists, objects) redacted; numbers as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        if value and not isinstance(value[0], (str, list, dict)):
            return value  # samples and the like: no text inside
        return [_deep(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _deep(v, redact) for k, v in value.items()}
    return value


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert: one executemany. On SQLite straight to the driver (SQLAlchemy's
    per-row parameter handling cost more than the inserts), converting only the JSON
    and time columns as SQLAlchemy would; elsewhere through Core."""
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    from sqlalchemy import JSON, DateTime

    columns = list(rows[0])
    kinds = {c.name: c.type for c in table.columns}
    as_json = [i for i, c in enumerate(columns) if isinstance(kinds[c], JSON)]
    as_time = [i for i, c in enumerate(columns) if isinstance(kinds[c], DateTime)]
    dumps = json.dumps
    values = []
    for row in rows:
        items = list(row.values())
        for i in as_json:
            items[i] = dumps(items[i])
        for i in as_time:
            items[i] = _sqlite_time(items[i])
        values.append(tuple(items))
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    conn.exec_driver_sql(sql, values)


def _rows(
    doc: dict[str, Any],
    slug: str,
    change_id: int,
    ids: _Ids,
    rows: dict[str, list[dict[str, Any]]],
    redact: Any,
) -> None:
    """The table rows of one document (text redacted again: an export may be foreign)."""
    extra = doc.get("export") or {}
    specs = extra.get("probe_specs")
    if specs is None:  # from a note: the labels are all that is known
        specs = [{"kind": "cmd", "target": "", "label": label} for label in doc.get("probes", [])]
    rows["change"].append(
        {
            "id": change_id,
            "uid": doc["uid"],
            "slug": slug,
            "title": redact(doc["title"]),
            "status": doc["status"],
            "service": doc.get("service"),
            "owner": doc.get("owner"),
            "route": redact(doc.get("route")),
            "input": redact(doc.get("input")),
            "noticed": redact(doc.get("noticed")),
            "expected": redact(doc.get("expected")),
            "reason": redact(doc.get("reason")),
            "rollback": redact(doc.get("rollback")),
            "tags": list(doc.get("tags") or []),
            "probes": _deep(specs, redact),
            "settings": _deep(dict(doc.get("settings") or {}), redact),
            "base_commit": doc.get("base_commit"),
            "base_dirty": bool(doc.get("base_dirty")),
            "base_dirty_files": dict(extra.get("base_dirty_files") or {}),
            "head_commit": doc.get("head_commit"),
            "comparison": _deep(list(doc.get("comparison") or []), redact),
            "warnings": _deep(list(doc.get("warnings") or []), redact),
            "expectations": _deep(list(doc.get("expectations") or []), redact),
            "watches": _deep(list(doc.get("watches") or []), redact),
            "note_path": doc.get("note_path"),
            "created_at": _when(doc["created_at"]),
            "shipped_at": _when(doc.get("shipped_at")),
        }
    )
    for position, run in enumerate(doc.get("runs") or []):
        run_id = ids.take("run")
        rows["run"].append(
            {
                "id": run_id,
                "change_id": change_id,
                "position": position,
                "label": redact(run["label"]),
                "started_at": _when(run["started_at"]),
                "finished_at": _when(run["finished_at"]),
                "git_commit": run.get("git_commit"),
                "git_dirty": bool(run.get("git_dirty")),
                "probes": _deep(list(run.get("probe_results") or []), redact),
                "settings": _deep(dict(run.get("settings") or {}), redact),
                "environment": _deep(dict(run.get("environment") or {}), redact),
            }
        )
        for m in run.get("metrics") or []:
            rows["metric"].append(
                {
                    "id": ids.take("metric"),
                    "run_id": run_id,
                    "probe_index": m.get("probe_index", 0),
                    "probe": redact(m["probe"]),
                    "name": m["metric"],
                    "unit": m.get("unit") or "",
                    "better": m.get("better"),
                    "n": m.get("n", 0),
                    **{k: m.get(k) for k in ("median", "p95", "mean", "stdev", "min", "max")},
                    "samples": list(m.get("samples") or []),
                }
            )
    times = extra.get("command_times") or []
    for position, command in enumerate(doc.get("command_log") or []):
        at = times[position] if position < len(times) else doc["created_at"]
        rows["command"].append(
            {
                "id": ids.take("command"),
                "change_id": change_id,
                "position": position,
                "command": redact(command["command"]) or "",
                "source": command.get("source") or "import",
                "exit_status": command.get("exit_status"),
                "recorded_at": _when(at),
            }
        )
    sources = extra.get("file_sources") or []
    for i, path in enumerate(doc.get("files_touched") or []):
        rows["file_touched"].append(
            {
                "id": ids.take("file_touched"),
                "change_id": change_id,
                "path": redact(path),
                "source": sources[i] if i < len(sources) else "git",
            }
        )
    for position, item in enumerate(doc.get("checklist") or []):
        rows["checklist_item"].append(
            {
                "id": ids.take("checklist_item"),
                "change_id": change_id,
                "position": position,
                "key": item["key"],
                "label": item["label"],
                "done": bool(item.get("done")),
                "evidence": redact(item.get("evidence")),
                "done_at": _when(item.get("done_at")),
            }
        )
