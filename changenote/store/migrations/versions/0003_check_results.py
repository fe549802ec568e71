"""Recorded results of `changenote check --record`, for trends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("probe", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=True),
        sa.Column("environment", sa.JSON(), nullable=False),
    )
    op.create_index("ix_check_result_name_checked_at", "check_result", ["name", "checked_at"])


def downgrade() -> None:
    op.drop_index("ix_check_result_name_checked_at", "check_result")
    op.drop_table("check_result")
