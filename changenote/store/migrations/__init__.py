"""Alembic migrations: the schema's history, applied by :mod:`changenote.store.db`."""
