"""JSON columns keep their text as written, without ASCII escapes; the search index again.

Stores written before changenote set ``ensure_ascii=False`` keep ``\\u00fc`` for ``ü``
in their JSON columns (tags, probes, settings...). Full-text search reads the column
text, so a tag ``zürich`` was not found. Every JSON column of every table is rewritten
as JSON without those escapes (only the rows holding one; JSON itself still escapes
control characters, and a value whose text is not valid JSON or holds an unpaired
surrogate is left as it is), then the SQLite FTS5 index is rebuilt. PostgreSQL's
``json`` type keeps text as given, so it is rewritten there too; its GIN expression
index follows the new text by itself.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Every JSON column of every table at this revision.
JSON_COLUMNS = {
    "change": ("tags", "probes", "settings", "base_dirty_files", "comparison", "warnings",
               "expectations", "watches"),
    "run": ("probes", "settings", "environment"),
    "metric": ("samples",),
    "check_result": ("metrics", "environment"),
}  # fmt: skip
BATCH = 500


def _unescaped(text: str) -> str | None:
    """``text`` as JSON without ASCII escapes; None when it cannot or need not change."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return None
    new = json.dumps(value, ensure_ascii=False)
    try:
        new.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: only an escape can hold it
        return None
    return None if new == text else new


def _rewrite(bind: sa.engine.Connection, table: str, column: str) -> None:
    postgres = bind.dialect.name == "postgresql"
    holds = "strpos(CAST({c} AS text), :needle) > 0" if postgres else "instr({c}, :needle) > 0"
    select = sa.text(
        f"SELECT id, CAST({column} AS text) FROM {table}"
        f" WHERE id > :after AND {holds.format(c=column)} ORDER BY id LIMIT {BATCH}"
    )
    value = "CAST(:value AS json)" if postgres else ":value"
    update = sa.text(f"UPDATE {table} SET {column} = {value} WHERE id = :id")
    after = 0
    while True:
        rows = bind.execute(select, {"after": after, "needle": "\\u"}).all()
        if not rows:
            return
        after = rows[-1][0]
        changed = [
            {"id": row_id, "value": new}
            for row_id, text in rows
            if text is not None and (new := _unescaped(text)) is not None
        ]
        if changed:
            bind.execute(update, changed)


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in JSON_COLUMNS.items():
        for column in columns:
            _rewrite(bind, table, column)
    if bind.dialect.name == "sqlite":
        op.execute("INSERT INTO change_fts(change_fts) VALUES ('rebuild')")


def downgrade() -> None:
    """Nothing to undo: the same JSON, written without escapes, reads the same."""
