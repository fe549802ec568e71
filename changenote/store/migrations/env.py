"""Alembic environment: runs on the connection the store hands over, in its transaction."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import changenote.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the store runs migrations
    raise RuntimeError("changenote migrations run through changenote.store.db, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
