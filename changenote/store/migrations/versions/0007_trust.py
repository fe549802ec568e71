"""Changes keep where they came from, who recorded them and who trusted them.

A change's probe commands, clear-cache commands and HTTP targets run on this machine at
``measure`` and ``ship``; they run only for a change recorded here by this user, or one
someone trusted with ``changenote trust``. Rows from before this revision came from
nowhere known (``origin`` is ``unknown``): they must be trusted before they run again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="unknown")
        )
        batch.add_column(sa.Column("recorded_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("trusted_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("trusted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change") as batch:
        for name in ("trusted_at", "trusted_by", "recorded_by", "origin"):
            batch.drop_column(name)
