"""The store: SQLModel tables, the engine and its one-transaction sessions, search.

``models`` holds the tables, ``db`` the engine (SQLite by default, any SQLAlchemy
URL), its migrations (``migrations/``, Alembic), the shared queries and the stdlib
``sqlite3`` fast path for reading; ``search`` is the full-text search. It may import
only the foundation.
"""
