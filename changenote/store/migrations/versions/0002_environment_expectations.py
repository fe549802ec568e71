"""Runs remember their environment; changes keep their checked expectations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("environment", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("change") as batch:
        batch.add_column(sa.Column("expectations", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.drop_column("expectations")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("environment")
