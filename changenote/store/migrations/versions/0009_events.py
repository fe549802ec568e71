"""Changes keep what was done to them, their follow-ups, and their notes a review status.

Each event has its time and who did it; a change's history is its events in order.
Existing changes have none (what they went through is in their runs, checklist and
ship time, as before). A shipped change's note is ``drafted`` until reviewed; a change
superseded by another keeps that one's uid.

On SQLite the full-text index is declared again with ``content="change"`` (0006 wrote
``content='change'``, which the SQLite tools do not recognise: ``sqlite-utils search``
said the table was not configured for full-text search), and rebuilt.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "change_id",
            sa.Integer(),
            sa.ForeignKey("change.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=True),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_event_change_id", "event", ["change_id"])
    op.create_table(
        "follow_up",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "change_id",
            sa.Integer(),
            sa.ForeignKey("change.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_follow_up_change_id", "follow_up", ["change_id"])
    with op.batch_alter_table("change") as batch:
        batch.add_column(sa.Column("review_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(length=32), nullable=True))
    op.execute("UPDATE change SET review_status = 'drafted' WHERE status = 'shipped'")
    op.create_index("ix_change_superseded_by", "change", ["superseded_by"])
    _search_the_tools_find()


#: The full-text index as 0006 made it, with the content table named as the SQLite tools
#: look for it.
_FIELDS = ("title", "reason", "expected", "noticed", "route", "input", "rollback", "tags",
           "service", "owner")  # fmt: skip
_SEARCH = (
    f'CREATE VIRTUAL TABLE change_fts USING fts5({", ".join(_FIELDS)}, content="change", '
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
)


def _search_the_tools_find() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS change_fts")  # the triggers stay: they name no option
    op.execute(_SEARCH)
    op.execute("INSERT INTO change_fts(change_fts) VALUES ('rebuild')")


def downgrade() -> None:
    op.drop_index("ix_change_superseded_by", "change")
    with op.batch_alter_table("change") as batch:
        for name in ("superseded_by", "reviewed_at", "reviewed_by", "review_status"):
            batch.drop_column(name)
    op.drop_index("ix_follow_up_change_id", "follow_up")
    op.drop_table("follow_up")
    op.drop_index("ix_event_change_id", "event")
    op.drop_table("event")
