"""Full-text search over changes: SQLite FTS5, PostgreSQL full text; ranked, filtered.

The index covers a change's title, reason, expected result, where it was noticed, route,
input, rollback, tags, service and owner (migration 0006). On SQLite it is an FTS5
table kept in step by triggers, searched with the standard library's ``sqlite3`` (no
SQLAlchemy import, like ``list``); on PostgreSQL a GIN index over the same text.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from typing import Any

from changenote.errors import StoreError, UsageError
from changenote.store.db import Store, _list_row, _reason, day_bound, filter_clauses, read_fast
from changenote.store.sqlite_file import sqlite_path, store_file_exists

_COLUMNS = (
    "change.id, change.slug, change.title, change.status, change.service, change.owner,"
    " change.created_at, change.shipped_at, change.note_path, change.comparison"
)
#: The columns of the full-text index (migration 0006), in its order.
FIELDS = ("title", "reason", "expected", "noticed", "route", "input", "rollback", "tags",
          "service", "owner")  # fmt: skip
_PG_DOCUMENT = " || ' ' || ".join(f"coalesce(change.{f}::text, '')" for f in FIELDS)


def fts_query(text: str) -> str:
    """The words of ``text`` as an FTS5 query: each a quoted term (a trailing * a prefix),
    all required. Quoting keeps FTS5's operators and punctuation out of users' hands."""
    terms = re.findall(r"\w+\*?", text)
    if not terms:
        raise UsageError("search needs at least one word")
    quoted = [f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"' for t in terms]
    return " ".join(quoted)


def search(
    url: str,
    query: str,
    service: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Changes matching ``query``, best first, with the filters applied."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    start, end = day_bound(since, "--since"), day_bound(until, "--until", end=True)
    path = sqlite_path(url)
    if path is not None:
        if not store_file_exists(path):
            return []
        rows = _sqlite(path, fts_query(query), service, owner, tag, start, end, limit)
        if rows is not None:
            return rows
    store = Store(url)
    try:
        store.ensure_schema(writing=False)
        if store.engine.dialect.name == "postgresql":
            return _postgres(store, query, service, owner, tag, start, end, limit)
        rows = _sqlite(path, fts_query(query), service, owner, tag, start, end, limit)
        return rows or []
    finally:
        store.close()


def _sqlite(
    path: Any,
    match: str,
    service: str | None,
    owner: str | None,
    tag: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[dict[str, Any]] | None:
    """The search through the standard library; None when the store needs an upgrade."""
    where, params = filter_clauses(
        service,
        owner,
        tag,
        start,
        end,
        "EXISTS (SELECT 1 FROM json_each(change.tags) WHERE value = :tag)",
        lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
    )
    sql = (
        f"SELECT {_COLUMNS}, bm25(change_fts) AS rank FROM change_fts"
        " JOIN change ON change.id = change_fts.rowid"
        f" WHERE change_fts MATCH :match{where} ORDER BY rank, change.id DESC LIMIT :limit"
    )
    try:
        found = read_fast(path, sql, {**params, "match": match, "limit": limit})
        if found is None:
            return None
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc).lower() or "no such table" in str(exc).lower():
            return None
        raise UsageError(f"search failed: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"search failed: {exc}") from None
    return [{**_list_row(r[:10]), "rank": round(-float(r[10]), 4)} for r in found]


def _postgres(
    store: Store,
    query: str,
    service: str | None,
    owner: str | None,
    tag: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    from sqlalchemy import text

    terms = re.findall(r"\w+\*?", query)
    if not terms:
        raise UsageError("search needs at least one word")
    # the same reading as on SQLite: every word required, a trailing * a prefix
    tsquery = " & ".join(f"{t[:-1]}:*" if t.endswith("*") else t for t in terms)
    where, params = filter_clauses(
        service, owner, tag, start, end, "change.tags::jsonb ? :tag", lambda moment: moment
    )
    document = f"to_tsvector('english', {_PG_DOCUMENT})"
    sql = (
        f"SELECT {_COLUMNS}, ts_rank({document}, q) AS rank"
        " FROM change, to_tsquery('english', :query) AS q"
        f" WHERE {document} @@ q{where} ORDER BY rank DESC, change.id DESC LIMIT :limit"
    )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with store.engine.connect() as conn:
            found = conn.execute(text(sql), {**params, "query": tsquery, "limit": limit}).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"search failed: {_reason(exc)}") from None
    return [{**_list_row(tuple(r)[:10]), "rank": round(float(r[10]), 4)} for r in found]
