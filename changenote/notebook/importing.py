"""Import: change documents into the store, idempotent by the change's ``uid``.

A change already in the store is left alone, so importing twice changes nothing and
two teammates' exports merge. Every document is checked and its text redacted again
(an export may be foreign); rows are written with SQLAlchemy Core in bulk, in batches,
with ids assigned here, in one transaction for the whole import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from changenote.errors import ChangenoteError, StoreError, UsageError

CHANGE_SCHEMA = "changenote/change@1"


_OWN_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    text = str(text)
    if _OWN_TIME.fullmatch(text):  # the documents' own form
        return _utc(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                    int(text[14:16]), int(text[17:19]))  # fmt: skip
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class ImportResult:
    """What an import did."""

    read: int = 0
    imported: int = 0
    #: Changes whose uid the store already had.
    already: int = 0
    #: Slugs renamed because another change had them.
    renamed: list[str] = field(default_factory=list)


def _orjson(value: Any) -> bytes | None:
    """orjson's JSON of ``value``; None where it would not give the same value back (it
    writes NaN and Infinity as null and refuses huge integers and non-text keys)."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return None
    return None if b"null" in text and _has_nan(value) else text


def _dumps(value: Any) -> str:
    """JSON text as SQLite keeps it: orjson's, else json's."""
    text = _orjson(value)
    return text.decode() if text is not None else json.dumps(value, ensure_ascii=False)


#: Documents per batch of rows handed to the writer.
BATCH = 2000


def redactor(patterns: Any = ()) -> Any:
    """Redaction for imported text (None stays None), remembering short repeated strings
    (routes, owners, probes...). Without extra patterns it carries ``might_hold_secret``,
    remembering too, for the JSON text of small structures. Long text (command output) is
    not remembered: a cache of it would grow with the file."""
    import functools

    from changenote.redact import might_hold_secret, redact

    def plain(text: str | None) -> str | None:
        if text is None or (not patterns and not might_hold_secret(text)):
            return text
        return redact(text, patterns)

    remembered = functools.lru_cache(maxsize=1 << 14)(plain)
    suspect = functools.lru_cache(maxsize=1 << 12)(might_hold_secret)

    def hide(text: str | None) -> str | None:
        return remembered(text) if text is None or len(text) <= _REMEMBER else plain(text)

    def quick(text: str) -> bool:
        return suspect(text) if len(text) <= _REMEMBER else might_hold_secret(text)

    if not patterns:
        hide.might_hold_secret = quick  # type: ignore[attr-defined]
    return hide


#: The longest text whose redaction is remembered.
_REMEMBER = 512


class Checker:
    """Checks each document before anything of it is written: the schema shipped with
    changenote (``export.schema.json``, its ``#/$defs/change``) through a validator
    compiled once per import, then the rules a schema cannot say
    (:func:`changenote.notebook.rules.rules`). A document that fails is one line,
    ``FILE:LINE: field: what is wrong``, the field a JSON path
    (``runs[0].metrics[2].samples[3]``), any value it quotes cut short."""

    def __init__(self) -> None:
        try:
            import jsonschema_rs  # here only: no other command pays for it
        except ImportError:
            raise ChangenoteError(
                "import checks documents with jsonschema-rs, which is not installed: "
                "pip install jsonschema-rs"
            ) from None

        from changenote.notebook import rules, schema

        self.schema = schema
        self.rules = rules.rules
        self.validator = jsonschema_rs.validator_for(schema.change_schema())
        self.valid = self.validator.is_valid

    def __call__(self, where: str, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise UsageError(f"{where}: not a change document (an object was expected)")
        if doc.get("schema") != CHANGE_SCHEMA:
            shown = self.schema.show(doc.get("schema"))
            raise UsageError(f"{where}: schema {shown} is not {CHANGE_SCHEMA!r}")
        if not self._valid(doc):
            found = self._why(doc)
            if found is not None:
                raise UsageError(_line(where, found))
        found = self.rules(doc, times=False)  # each is parsed as it is written
        if found is not None:
            raise UsageError(_line(where, found))
        return doc

    def _valid(self, doc: Any) -> bool:
        try:
            return bool(self.valid(doc))
        except (ValueError, TypeError, OverflowError, RecursionError):  # it cannot read it
            return False

    def _why(self, doc: dict[str, Any]) -> tuple[str, str] | None:
        """What is wrong with a document the validator refused; None when it was only a
        NaN or an Infinity in a measurement (the validator reads them as null)."""
        schema = self.schema
        if schema.has_nan(doc):
            doc = schema.finite_copy(doc)
            if self._valid(doc):
                return None
        found = schema.problem(doc)
        if found is not None:
            return found
        try:  # the two disagree (a pattern read another way): the validator's own words
            error = next(iter(self.validator.iter_errors(doc)))
        except (StopIteration, ValueError, TypeError, OverflowError, RecursionError):
            return "", "not a valid change document"
        return schema.field(list(error.instance_path)), schema.shorten(error.message)


def _line(where: str, found: tuple[str, str]) -> str:
    key, what = found
    return f"{where}: {key}: {what}" if key else f"{where}: {what}"


#: The columns import writes, in the order of the row tuples _Rows builds.
COLUMNS: dict[str, tuple[str, ...]] = {
    "change": (
        "id", "uid", "slug", "title", "status", "service", "owner", "route", "input",
        "noticed", "expected", "reason", "rollback", "tags", "probes", "settings",
        "base_commit", "base_dirty", "base_dirty_files", "head_commit", "comparison",
        "warnings", "expectations", "watches", "note_path", "created_at", "shipped_at",
        "origin", "review_status", "reviewed_by", "reviewed_at", "superseded_by",
    ),
    "run": (
        "id", "change_id", "position", "label", "started_at", "finished_at", "git_commit",
        "git_dirty", "probes", "settings", "environment",
    ),
    "metric": (
        "id", "run_id", "probe_index", "probe", "name", "unit", "better", "n", "median", "p95",
        "mean", "stdev", "min", "max", "samples",
    ),
    "command": (
        "id", "change_id", "position", "command", "source", "exit_status", "recorded_at",
    ),
    "file_touched": ("id", "change_id", "path", "source"),
    "checklist_item": (
        "id", "change_id", "position", "key", "label", "done", "evidence", "done_at",
    ),
    "event": ("id", "change_id", "at", "by", "kind", "name", "old", "new", "note"),
    "follow_up": (
        "id", "change_id", "number", "text", "owner", "due", "done", "done_at", "done_note",
        "created_at", "created_by",
    ),
}  # fmt: skip


def import_documents(
    store: Any,
    documents: Iterable[tuple[str, dict[str, Any]]],
    redact: Any,
    place_note: Callable[[dict[str, Any], set[str | None]], str | None] | None = None,
) -> ImportResult:
    """Add every change the store does not have yet; one transaction for all of them.

    Documents stream through in batches of rows, so memory stays flat. A document keeps
    its id where the store and the documents before it left it free (a round trip into
    an empty store gives the same ids); the others wait for the end and get new ids after
    the largest. ``place_note`` decides where each note goes (see notes.place).
    """
    from sqlalchemy import func, select

    from changenote.store.models import (
        Change,
        ChecklistItem,
        CommandRecord,
        Event,
        FileTouched,
        FollowUp,
        Metric,
        Run,
    )

    models = (Change, Run, Metric, CommandRecord, FileTouched, ChecklistItem, Event, FollowUp)
    tables = {str(m.__tablename__): m.__table__ for m in models}  # type: ignore[union-attr]
    result = ImportResult()
    change_t = tables["change"]
    check = Checker()
    with store.write() as session:
        conn = session.connection()
        uids = set(conn.execute(select(change_t.c.uid)).scalars())
        slugs = set(conn.execute(select(change_t.c.slug)).scalars())
        taken = set(conn.execute(select(change_t.c.id)).scalars())
        note_paths = set(conn.execute(select(change_t.c.note_path)).scalars())
        next_ids = {
            name: (conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1
            for name, t in tables.items()
        }
        sqlite = conn.dialect.name == "sqlite"
        # An id the store's integer column holds (PostgreSQL's is 32 bits); else a new one.
        id_limit = 2**63 if sqlite else 2**31
        rows = _Rows(redact, next_ids, sqlite=sqlite)
        writer: _Writer = _SqliteWriter(conn) if sqlite else _CoreWriter(conn, tables)
        # Documents whose id is taken wait for the end as compact JSON (a tenth of the
        # memory of the parsed document): merging a teammate's export, that is all of them.
        later: list[tuple[bytes | str, str, str]] = []
        try:
            for where, raw in documents:
                result.read += 1
                doc = check(where, raw)
                if doc["uid"] in uids:
                    result.already += 1
                    continue
                uids.add(doc["uid"])
                slug = doc["slug"]
                if slug in slugs:
                    n = 2
                    while _suffixed(slug, n) in slugs:
                        n += 1
                    result.renamed.append(f"{slug} -> {_suffixed(slug, n)}")
                    slug = _suffixed(slug, n)
                    if doc.get("note_path") is not None:
                        # the same folder and date, the new slug; else the usual place
                        renamed = _renamed_note(doc["note_path"], doc["slug"], slug)
                        doc = {**doc, "note_path": renamed or ""}
                slugs.add(slug)
                if place_note is not None and doc.get("note_path") is not None:
                    # two changes never share a note file, nor take one that is not theirs
                    placed = place_note({**doc, "slug": slug}, note_paths)
                    if placed != doc["note_path"]:
                        doc = {**doc, "note_path": placed}
                note_paths.add(doc.get("note_path"))
                want = doc.get("id")
                if type(want) is int and 0 < want < id_limit and want not in taken:
                    taken.add(want)
                    rows.add(where, doc, slug, want)
                    if rows.count >= BATCH:
                        writer.put(rows.take(), rows.spans)
                else:
                    later.append((_compact(doc), slug, where))
                result.imported += 1
            next_id = max([next_ids["change"], *(i + 1 for i in taken)])
            for packed, slug, where in later:
                doc = orjson.loads(packed) if isinstance(packed, bytes) else json.loads(packed)
                rows.add(where, doc, slug, next_id)
                next_id += 1
                if rows.count >= BATCH:
                    writer.put(rows.take(), rows.spans)
            writer.put(rows.take(), rows.spans)
            writer.finish()
        finally:
            writer.close()
        if not sqlite and result.imported:
            from sqlalchemy import text

            for name in tables:  # explicit ids: move the sequences past them
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                    )
                )
    return result


#: Where a batch's documents end: (where, the number of rows of each table, in COLUMNS
#: order, once that document's are added).
Spans = list[tuple[str, tuple[int, ...]]]


class _Writer:
    """Writes batches of rows ({table: [tuple in COLUMNS order]}) in the open transaction.

    A batch is written inside a savepoint: when the store refuses it (a value its column
    cannot hold), the batch is taken back and written again one document at a time, so
    the error names the document the store refused (``FILE:LINE``)."""

    #: What a driver raises for a value it cannot store.
    refusals: tuple[type[BaseException], ...] = (OverflowError, UnicodeError, ValueError,
                                                 TypeError)  # fmt: skip

    def put(self, batch: dict[str, list[tuple[Any, ...]]], spans: Spans) -> None:
        self._savepoint()
        try:
            self._write(batch)
            self._index(batch)
        except self.refusals as exc:
            self._back()
            raise self._refused(batch, spans, exc) from None
        self._release()

    def _refused(self, batch: dict[str, list[tuple[Any, ...]]], spans: Spans,
                 exc: BaseException) -> StoreError:  # fmt: skip
        start = (0,) * len(COLUMNS)
        for where, ends in spans:
            piece = {
                name: rows[a:b]
                for (name, rows), a, b in zip(batch.items(), start, ends, strict=True)
            }
            try:
                self._write(piece)
            except self.refusals as refused:
                return StoreError(f"{where}: store write failed, nothing was changed: "
                                  f"{_reason(refused)}")  # fmt: skip
            start = ends
        return StoreError(f"store write failed, nothing was changed: {_reason(exc)}")

    def _write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        raise NotImplementedError

    def _index(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        """After a batch's rows: what the store keeps besides (the full-text index)."""

    def _savepoint(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _back(self) -> None:
        """Take the batch back (to its savepoint)."""
        raise NotImplementedError

    def finish(self) -> None:
        """After the last batch, before the commit."""

    def close(self) -> None:
        """Always, after finish or an error."""


class _CoreWriter(_Writer):
    """Through SQLAlchemy Core, one executemany per table and batch."""

    def __init__(self, conn: Any, tables: dict[str, Any]) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        self.conn = conn
        self.tables = tables
        self.nested: Any = None
        self.refusals = (SQLAlchemyError, *_Writer.refusals)

    def _write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        for name, rows in batch.items():
            if rows:
                columns = COLUMNS[name]
                values = [dict(zip(columns, row, strict=True)) for row in rows]
                self.conn.execute(self.tables[name].insert(), values)

    def _savepoint(self) -> None:
        self.nested = self.conn.begin_nested()

    def _release(self) -> None:
        self.nested.commit()

    def _back(self) -> None:
        self.nested.rollback()


class _SqliteWriter(_Writer):
    """Straight to the driver: SQLAlchemy's per-row parameter handling cost more than the
    inserts. (A writer thread gained nothing: sqlite3 takes the GIL back for every row.)

    The full-text index is filled with one statement per batch instead of by its insert
    trigger, row by row, which cost four times as much here. The trigger is dropped and
    made again inside the import's transaction: a failed import rolls both back."""

    def __init__(self, conn: Any) -> None:
        from changenote.store.search import FIELDS

        self.cursor = conn.connection.dbapi_connection.cursor()
        self.sql = {
            name: f"INSERT INTO {name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
            for name, columns in COLUMNS.items()
        }
        found = self.cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'change_fts_insert'"
        ).fetchone()
        self.trigger: str | None = found[0] if found else None
        fields = ", ".join(FIELDS)
        self.index_sql = (
            f"INSERT INTO change_fts(rowid, {fields}) SELECT id, {fields} FROM change "
            "WHERE id IN (SELECT value FROM json_each(?))"
        )
        if self.trigger:
            self.cursor.execute("DROP TRIGGER change_fts_insert")
        import sqlite3

        # What SQLAlchemy would have wrapped, and a value the driver cannot store.
        self.refusals = (sqlite3.Error, *_Writer.refusals)

    def _write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        for name, rows in batch.items():
            if rows:
                self.cursor.executemany(self.sql[name], rows)

    def _index(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        if self.trigger and batch["change"]:
            ids = json.dumps([row[0] for row in batch["change"]])
            self.cursor.execute(self.index_sql, (ids,))

    def _savepoint(self) -> None:
        self.cursor.execute("SAVEPOINT changenote_import_batch")

    def _release(self) -> None:
        self.cursor.execute("RELEASE changenote_import_batch")

    def _back(self) -> None:
        self.cursor.execute("ROLLBACK TO changenote_import_batch")
        self.cursor.execute("RELEASE changenote_import_batch")

    def finish(self) -> None:
        if self.trigger:
            self.cursor.execute(self.trigger)
            self.trigger = None

    def close(self) -> None:
        self.cursor.close()


def _reason(exc: BaseException) -> str:
    """A store's refusal in one short line: a driver's message may quote the value."""
    from changenote.notebook.schema import shorten

    return shorten(str(getattr(exc, "orig", None) or exc))


def _suffixed(slug: str, n: int) -> str:
    """``slug-n``, cut to fit the store's 80 characters."""
    tail = f"-{n}"
    return slug[: 80 - len(tail)].rstrip("-") + tail


def _sqlite_time(value: Any) -> Any:
    """A time as SQLAlchemy stores it on SQLite: naive UTC text with microseconds."""
    if value is None:
        return None
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_when(text: Any) -> str | None:
    """A document's time as SQLite stores it (checked: a bad date is an error here)."""
    return None if text is None else str(_sqlite_time(_when(text)))


def _python_when(text: Any) -> datetime | None:
    return None if text is None else _when(text)


def _spec_headers(specs: Any) -> Any:
    """Probe specs with each header value redacted as a header (``X-Api-Key: ***``)."""
    if not isinstance(specs, list) or not any(isinstance(p, dict) and p.get("headers")
                                              for p in specs):  # fmt: skip
        return specs
    from changenote.redact import redact_header

    def one(spec: Any) -> Any:
        headers = spec.get("headers") if isinstance(spec, dict) else None
        if not isinstance(headers, list):
            return spec
        return {**spec, "headers": [
            [h[0], redact_header(h[0], h[1])]
            if isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) else h
            for h in headers
        ]}  # fmt: skip

    return [one(spec) for spec in specs]


def _compact(doc: dict[str, Any]) -> bytes | str:
    """A document as JSON, to be read back whole."""
    packed = _orjson(doc)
    return packed if packed is not None else json.dumps(doc)


def _real(value: Any) -> float | None:
    """A figure as its float column keeps it (an integer too large for the driver's
    integers is no integer there)."""
    return None if value is None else float(value)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


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
        return [_deep(v, redact) for v in value]
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: _deep(v, redact) for k, v in value.items()}
    return value


class _Rows:
    """The table rows of documents, as tuples in COLUMNS order, ready for the store's
    dialect: on SQLite JSON as text and times as SQLAlchemy writes them; elsewhere Python
    values for Core. Text is redacted again: an export may be foreign."""

    def __init__(self, redact: Any, next_ids: dict[str, int], *, sqlite: bool) -> None:
        import functools

        self.redact = redact
        self.next = next_ids
        self.sqlite = sqlite
        self.count = 0
        self.batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        #: Where each document of the batch ends (see Spans); those of the one last taken.
        self.open: Spans = []
        self.spans: Spans = []
        # Without extra patterns, the JSON text of a whole structure tells whether any
        # string inside could hold a secret; with them, every string is redacted.
        self.quick = getattr(redact, "might_hold_secret", None)
        self.when = functools.lru_cache(maxsize=1 << 14)(_sqlite_when if sqlite else _python_when)

    def take(self) -> dict[str, list[tuple[Any, ...]]]:
        batch, self.batch = self.batch, {name: [] for name in COLUMNS}
        self.spans, self.open = self.open, []
        self.count = 0
        return batch

    def json(self, value: Any) -> Any:
        """A JSON column: redacted, and as text on SQLite."""
        if not value:
            return ("[]" if isinstance(value, list) else "{}") if self.sqlite else value
        text = _dumps(value)
        if self.quick is None or self.quick(text):
            value = _deep(value, self.redact)
            text = _dumps(value)
        return text if self.sqlite else value

    def plain(self, value: Any) -> Any:
        """A JSON column with no text inside (samples)."""
        return _dumps(value) if self.sqlite else value

    def add(self, where: str, doc: dict[str, Any], slug: str, change_id: int) -> None:
        try:
            self._add(doc, slug, change_id)
        except RecursionError:
            raise UsageError(f"{where}: not a valid change document (nested too deeply)") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            from changenote.notebook.rules import rules

            found = rules(doc)  # a time that is none (30 February): named
            if found is not None:
                raise UsageError(_line(where, found)) from None
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)[:120]
            raise UsageError(f"{where}: not a valid change document ({detail})") from None
        self.open.append((where, tuple(map(len, self.batch.values()))))
        self.count += 1

    def _add(self, doc: dict[str, Any], slug: str, change_id: int) -> None:
        redact, when, to_json, batch, ids = (
            self.redact, self.when, self.json, self.batch, self.next
        )  # fmt: skip
        get = doc.get
        extra = get("export") or {}
        specs = extra.get("probe_specs")
        if specs is None:  # from a note: the labels are all that is known
            specs = [{"kind": "cmd", "target": "", "label": label} for label in get("probes", [])]
        batch["change"].append((
            change_id, doc["uid"], slug, redact(doc["title"]), doc["status"],
            redact(get("service")), redact(get("owner")), redact(get("route")),
            redact(get("input")), redact(get("noticed")), redact(get("expected")),
            redact(get("reason")), redact(get("rollback")),
            to_json(list(get("tags") or [])), to_json(_spec_headers(specs)),
            to_json(dict(get("settings") or {})),
            get("base_commit"), bool(get("base_dirty")),
            to_json(dict(extra.get("base_dirty_files") or {})), get("head_commit"),
            to_json(list(get("comparison") or [])), to_json(list(get("warnings") or [])),
            to_json(list(get("expectations") or [])), to_json(list(get("watches") or [])),
            get("note_path"), when(doc["created_at"]), when(get("shipped_at")),
            "imported",  # never trusted to run here until `changenote trust`
            *_review(get("review"), doc["status"], redact, when),
            (get("superseded_by") or {}).get("uid"),
        ))  # fmt: skip
        runs, metrics = batch["run"], batch["metric"]
        for position, run in enumerate(get("runs") or []):
            run_id = ids["run"]
            ids["run"] = run_id + 1
            runs.append((
                run_id, change_id, position, redact(run["label"]), when(run["started_at"]),
                when(run["finished_at"]), run.get("git_commit"), bool(run.get("git_dirty")),
                to_json(list(run.get("probe_results") or [])),
                to_json(dict(run.get("settings") or {})),
                to_json(dict(run.get("environment") or {})),
            ))  # fmt: skip
            for m in run.get("metrics") or []:
                samples = list(m.get("samples") or [])
                figures: tuple[Any, ...] = (m.get("median"), m.get("p95"), m.get("mean"),
                                            m.get("stdev"), m.get("min"), m.get("max"))  # fmt: skip
                if int in map(type, figures):  # float columns: no integer past the driver's
                    figures = tuple(map(_real, figures))
                metrics.append((
                    ids["metric"], run_id, m.get("probe_index", 0), redact(m["probe"]),
                    redact(m["metric"]), redact(m.get("unit")) or "", m.get("better"),
                    m.get("n", len(samples)), *figures, self.plain(samples),
                ))  # fmt: skip
                ids["metric"] += 1
        times = extra.get("command_times") or []
        commands = batch["command"]
        for position, command in enumerate(get("command_log") or []):
            at = times[position] if position < len(times) else doc["created_at"]
            commands.append((
                ids["command"], change_id, position, redact(command["command"]) or "",
                command.get("source") or "import", command.get("exit_status"), when(at),
            ))  # fmt: skip
            ids["command"] += 1
        sources = extra.get("file_sources") or []
        files = batch["file_touched"]
        for i, path in enumerate(get("files_touched") or []):
            files.append((
                ids["file_touched"], change_id, redact(path),
                sources[i] if i < len(sources) else "git",
            ))  # fmt: skip
            ids["file_touched"] += 1
        items = batch["checklist_item"]
        for position, item in enumerate(get("checklist") or []):
            items.append((
                ids["checklist_item"], change_id, position, redact(item["key"]),
                redact(item["label"]),
                bool(item.get("done")), redact(item.get("evidence")), when(item.get("done_at")),
            ))  # fmt: skip
            ids["checklist_item"] += 1
        events = batch["event"]
        for event in get("events") or []:
            events.append((
                ids["event"], change_id, when(event["at"]), redact(event.get("by")),
                event["kind"], redact(event.get("name")), redact(event.get("old")),
                redact(event.get("new")), redact(event.get("note")),
            ))  # fmt: skip
            ids["event"] += 1
        follow = batch["follow_up"]
        for item in get("follow_ups") or []:
            due = item.get("due")
            follow.append((
                ids["follow_up"], change_id, item["n"], redact(item["text"]) or "",
                redact(item.get("owner")), _date(due) if due else None, bool(item.get("done")),
                when(item.get("done_at")), redact(item.get("note")),
                when(item.get("created_at") or doc["created_at"]), redact(item.get("by")),
            ))  # fmt: skip
            ids["follow_up"] += 1


def _review(
    review: dict[str, Any] | None, status: str, redact: Any, when: Any
) -> tuple[Any, Any, Any]:
    """The review columns of a document; a shipped one from before reviews is drafted."""
    review = review or {}
    state = review.get("status") or ("drafted" if status == "shipped" else None)
    return state, redact(review.get("by")), when(review.get("at"))


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)
