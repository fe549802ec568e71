"""An example service to try changenote on: ``/health`` and a slow ``/search``.

``/search?q=WORD`` finds documents in SQLite the way many real services start out: one
query for the matching ids, then one query per document for its title (the "N+1"
pattern), so a search with ten hits makes eleven database calls. A result cache can be
switched on (``SEARCH_CACHE=1`` at start, or ``PUT /admin/cache?enabled=true`` while it
runs); cached searches make no database call at all.

Two more switches make a regression and its fix without a restart:
``PUT /admin/delay?ms=N`` adds N ms to every search the cache does not answer (a slow
dependency; 0 by default; ``&spread=S``: N ± S ms, uniformly, as a real dependency
varies; ``&every=T``: the ± part drawn once per T seconds instead of per search, as a
dependency whose latency wanders from moment to moment), and
``PUT /admin/errors?every=N`` makes every Nth of those
searches fail with a 500 after its queries (0, the default: never).

It carries changenote's instrumentation, so each response says what it did in the
headers changenote's HTTP probe reads::

    Server-Timing: db;desc="11";dur=0.84, app;dur=2.10
    X-Cache-Status: MISS

and ``GET /metrics`` serves the same numbers to Prometheus (request duration, requests
by status, database calls, cache hits and misses; see docs/INSTRUMENTATION.md).

Run it with ``uvicorn app:app --app-dir examples/search_service --port 8000`` (needs
``pip install 'changenote[fastapi,service]'``). ``SEARCH_DB`` names the SQLite file (default: a
file in the system's temporary folder), filled with sample documents on first start.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text

from changenote.service.instrument import (
    ServerTimingMiddleware,
    count_queries,
    health_router,
    report_cache,
)
from changenote.service.metrics import PrometheusMetrics

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
metrics = PrometheusMetrics()
app = FastAPI(title="search service (changenote example)")
app.add_middleware(ServerTimingMiddleware, metrics=metrics)
app.include_router(health_router({"db": lambda: engine.connect().close() is None}))
app.include_router(metrics.router())
app.state.cache_enabled = os.environ.get("SEARCH_CACHE") == "1"
app.state.delay_ms = 0.0
app.state.delay_spread_ms = 0.0
app.state.delay_every_s = 0.0
app.state.fail_every = 0
_cache: dict[str, list[dict[str, Any]]] = {}
_searches = 0
_searches_lock = threading.Lock()


@app.get("/search")
def search(q: str = "", limit: int = 10) -> Any:
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
    if app.state.delay_ms:
        time.sleep(max(app.state.delay_ms + _wander(), 0.0) / 1000)
    if _fails():  # answered as an error handler would, without a traceback in the log
        return JSONResponse({"error": "search failed (PUT /admin/errors)"}, status_code=500)
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


def _wander() -> float:
    """The ± part of the delay: drawn per search, or, with ``every``, once per slot of
    that many seconds (every search in one slot gets the same)."""
    spread, every = app.state.delay_spread_ms, app.state.delay_every_s
    if not spread:
        return 0.0
    if every:
        return random.Random(int(time.time() // every)).uniform(-spread, spread)
    return random.uniform(-spread, spread)


@app.put("/admin/delay")
def set_delay(ms: float, spread: float = 0.0, every: float = 0.0) -> dict[str, float]:
    """Add ``ms`` milliseconds (± ``spread``, uniformly; drawn once per ``every``
    seconds when given, else per search) to every search the cache does not answer
    (0: none)."""
    app.state.delay_ms = max(ms, 0.0)
    app.state.delay_spread_ms = min(max(spread, 0.0), app.state.delay_ms)
    app.state.delay_every_s = max(every, 0.0)
    return {"ms": app.state.delay_ms, "spread": app.state.delay_spread_ms,
            "every": app.state.delay_every_s}  # fmt: skip


@app.put("/admin/errors")
def set_errors(every: int) -> dict[str, int]:
    """Make every ``every``-th uncached search fail with a 500 (0: never), counting from now."""
    global _searches
    with _searches_lock:
        app.state.fail_every, _searches = max(every, 0), 0
    return {"every": app.state.fail_every}


def _fails() -> bool:
    global _searches
    with _searches_lock:
        _searches += 1
        return bool(app.state.fail_every) and _searches % app.state.fail_every == 0
