"""Full-text search over changes: SQLite FTS5 kept in step by triggers; PostgreSQL GIN.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The text a change is found by, in this order (the weights of PostgreSQL's ranking).
FIELDS = ("title", "reason", "expected", "noticed", "route", "input", "rollback", "tags",
          "service", "owner")  # fmt: skip
_NEW = ", ".join(f"new.{f}" for f in FIELDS)
_OLD = ", ".join(f"old.{f}" for f in FIELDS)
_COLS = ", ".join(FIELDS)
PG_DOCUMENT = " || ' ' || ".join(f"coalesce({f}::text, '')" for f in FIELDS)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE change_fts USING fts5({_COLS}, content='change', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        )
        op.execute(
            f"CREATE TRIGGER change_fts_insert AFTER INSERT ON change BEGIN "
            f"INSERT INTO change_fts(rowid, {_COLS}) VALUES (new.id, {_NEW}); END"
        )
        op.execute(
            f"CREATE TRIGGER change_fts_delete AFTER DELETE ON change BEGIN "
            f"INSERT INTO change_fts(change_fts, rowid, {_COLS}) "
            f"VALUES ('delete', old.id, {_OLD}); END"
        )
        op.execute(
            f"CREATE TRIGGER change_fts_update AFTER UPDATE ON change BEGIN "
            f"INSERT INTO change_fts(change_fts, rowid, {_COLS}) "
            f"VALUES ('delete', old.id, {_OLD}); "
            f"INSERT INTO change_fts(rowid, {_COLS}) VALUES (new.id, {_NEW}); END"
        )
        op.execute("INSERT INTO change_fts(change_fts) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute(
            f"CREATE INDEX ix_change_search ON change "
            f"USING gin (to_tsvector('english', {PG_DOCUMENT}))"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS change_fts_{name}")
        op.execute("DROP TABLE IF EXISTS change_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_change_search")
