"""An example service to try changenote on: ``/health`` and a slow ``/search``.

``/search?q=WORD`` finds documents in SQLite the way many real services start out: one
query for the matching ids, then one query per document for its title (the "N+1"
pattern), so a search with ten hits makes eleven database calls. A result cache can be
switched on (``SEARCH_CACHE=1`` at start, or ``PUT /admin/cache?enabled=true`` while it
runs); cached searches make no database call at all.

It carries changenote's instrumentation, so each response says what it did in the
headers changenote's HTTP probe reads::

    Server-Timing: db;desc="11";dur=0.84, app;dur=2.10
    X-Cache-Status: MISS

Run it with ``uvicorn app:app --app-dir examples/search_service --port 8000`` (needs
``pip install 'changenote[fastapi]'``). ``SEARCH_DB`` names the SQLite file (default: a
file in the system's temporary folder), filled with sample documents on first start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import create_engine, text

from changenote.service.instrument import (
    ServerTimingMiddleware,
    count_queries,
    health_router,
    report_cache,
)

WORDS = [
    "fastapi", "cache", "index", "query", "database", "search", "latency", "python",
    "sqlite", "async", "pool", "template", "startup", "memory", "timeout", "retry",
    "deploy", "migration", "rollback", "queue", "worker",
]  # fmt: skip


def _engine(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS doc (id INTEGER PRIMARY KEY, title TEXT)"))
        if conn.execute(text("SELECT count(*) FROM doc")).scalar() == 0:
            rows = [
                {"title": f"{WORDS[i % len(WORDS)]} notes {i}: {WORDS[(i * 7) % len(WORDS)]}"}
                for i in range(400)
            ]
            conn.execute(text("INSERT INTO doc (title) VALUES (:title)"), rows)
    return engine


engine = _engine(Path(os.environ.get("SEARCH_DB") or Path(tempfile.gettempdir()) / "search.db"))
count_queries(engine)
app = FastAPI(title="search service (changenote example)")
app.add_middleware(ServerTimingMiddleware)
app.include_router(health_router({"db": lambda: engine.connect().close() is None}))
app.state.cache_enabled = os.environ.get("SEARCH_CACHE") == "1"
_cache: dict[str, list[dict[str, Any]]] = {}


@app.get("/search")
def search(q: str = "", limit: int = 10) -> dict[str, Any]:
    key = f"{q}\0{limit}"
    if app.state.cache_enabled and key in _cache:
        report_cache(True)
        return {"q": q, "results": _cache[key]}
    report_cache(False)
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT id FROM doc WHERE title LIKE :pattern ORDER BY id LIMIT :limit"),
            {"pattern": f"%{q}%", "limit": limit},
        ).scalars()
        results = [
            {"id": doc_id, "title": conn.execute(
                text("SELECT title FROM doc WHERE id = :id"), {"id": doc_id}
            ).scalar()}
            for doc_id in list(ids)
        ]  # fmt: skip
    if app.state.cache_enabled:
        _cache[key] = results
    return {"q": q, "results": results}


@app.put("/admin/cache")
def set_cache(enabled: bool) -> dict[str, bool]:
    """Switch the result cache on or off (off also empties it)."""
    app.state.cache_enabled = enabled
    if not enabled:
        _cache.clear()
    return {"enabled": enabled}
