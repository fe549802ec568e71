"""Timestamps carry their time zone on servers that have the type (PostgreSQL).

The models store aware UTC datetimes. A ``timestamp without time zone`` column on
PostgreSQL would silently shift them by the session's time zone; SQLite keeps text and
needs nothing. Existing values are read as UTC.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = [
    ("change", "created_at", False),
    ("change", "shipped_at", True),
    ("run", "started_at", False),
    ("run", "finished_at", False),
    ("command", "recorded_at", False),
    ("checklist_item", "done_at", True),
    ("check_result", "checked_at", False),
]


def _alter(zone: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, nullable in COLUMNS:
        using = f"{column} AT TIME ZONE 'UTC'"
        op.alter_column(
            table,
            column,
            type_=sa.DateTime(timezone=zone),
            existing_nullable=nullable,
            postgresql_using=using,
        )


def upgrade() -> None:
    _alter(zone=True)


def downgrade() -> None:
    _alter(zone=False)
