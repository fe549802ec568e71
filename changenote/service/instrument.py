"""Service-side instrumentation: the numbers changenote's HTTP probe reads, from the app.

When a service does not expose its database call count or cache status, the cheapest
fix is a line of instrumentation, not guessing. This module is for the service, not
for the changenote CLI; it imports nothing heavy and works with any ASGI framework
(FastAPI, Starlette, Quart...):

.. code-block:: python

    from changenote.service.instrument import ServerTimingMiddleware, count_queries, health_router

    app = FastAPI()
    app.add_middleware(ServerTimingMiddleware)
    count_queries(engine)                    # SQLAlchemy: every statement counts
    app.include_router(health_router())      # GET /health -> {"ok": true}

Each response then carries ``Server-Timing: db;desc="3";dur=1.2, app;dur=8.4`` (the
request's database calls and their time, the whole request's time) and, when the app
reported one, ``X-Cache-Status: HIT`` or ``MISS``. Code that is not SQLAlchemy calls
:func:`record_db_call`; a cache calls :func:`report_cache`. Outside a request (a
background job, a test) both do nothing, and cost next to nothing.

The same numbers as Prometheus metrics: ``app.add_middleware(ServerTimingMiddleware,
metrics=PrometheusMetrics())`` (:mod:`changenote.service.metrics`).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class RequestStats:
    """What one request did: database calls, their time, and its cache status."""

    db_calls: int = 0
    db_ms: float = 0.0
    #: True for a hit, False for a miss, None when the app did not say.
    cache_hit: bool | None = None


_current: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "changenote_request_stats", default=None
)


def current() -> RequestStats | None:
    """The stats of the request being served, or None outside one."""
    return _current.get()


def record_db_call(duration_ms: float = 0.0) -> None:
    """Count one database call of the current request (no-op outside a request)."""
    stats = _current.get()
    if stats is not None:
        stats.db_calls += 1
        stats.db_ms += duration_ms


def report_cache(hit: bool) -> None:
    """Say whether the current request was served from the cache (a miss wins over hits)."""
    stats = _current.get()
    if stats is not None:
        stats.cache_hit = hit if stats.cache_hit is None else (stats.cache_hit and hit)


def count_queries(engine: Any) -> None:
    """Count every statement an SQLAlchemy engine runs, and its time, per request."""
    from sqlalchemy import event

    started: contextvars.ContextVar[float] = contextvars.ContextVar("changenote_db_start")

    @event.listens_for(engine, "before_cursor_execute")
    def _before(*_: Any) -> None:
        started.set(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(*_: Any) -> None:
        began = started.get(None)
        record_db_call((time.perf_counter() - began) * 1000 if began is not None else 0.0)


def server_timing(stats: RequestStats, total_ms: float) -> str:
    """The ``Server-Timing`` header value changenote's HTTP probe reads."""
    return f'db;desc="{stats.db_calls}";dur={stats.db_ms:.2f}, app;dur={total_ms:.2f}'


class RequestObserver(Protocol):
    """What the middleware tells once a request is over (``PrometheusMetrics`` is one)."""

    def observe(self, scope: Scope, status: int, seconds: float, stats: RequestStats) -> None:
        """One finished request: its scope, status, whole time and stats."""


class ServerTimingMiddleware:
    """ASGI middleware: ``Server-Timing`` (database calls, times) and ``X-Cache-Status``.

    Headers are added when the response starts, so a normal response counts every
    call its handler made; a streaming response counts those made before its first
    byte. With ``metrics``, each request is also observed when it is over (its whole
    time, every call, status 500 when the app raised before responding).
    """

    def __init__(self, app: ASGIApp, metrics: RequestObserver | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = RequestStats()
        token = _current.set(stats)
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before responding

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message.get("status", 200))
                headers = list(message.get("headers", []))
                total = (time.perf_counter() - start) * 1000
                headers.append((b"server-timing", server_timing(stats, total).encode()))
                if stats.cache_hit is not None:
                    headers.append((b"x-cache-status", b"HIT" if stats.cache_hit else b"MISS"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            _current.reset(token)
            if self.metrics is not None:
                self.metrics.observe(scope, status, time.perf_counter() - start, stats)


def health_router(
    checks: dict[str, Callable[[], bool]] | None = None, path: str = "/health"
) -> Any:
    """A FastAPI router for ``GET /health``: ``{"ok": true}``, or 503 with what failed.

    ``checks`` are named callables (``{"db": lambda: engine.connect() is not None}``);
    one that returns False or raises makes the answer ``{"ok": false, ...}`` with 503.
    Needs FastAPI (``pip install 'changenote[fastapi]'``).
    """
    try:
        from fastapi import APIRouter
        from fastapi.responses import JSONResponse
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "health_router needs FastAPI: pip install 'changenote[fastapi]'"
        ) from None
    router = APIRouter()

    @router.get(path, include_in_schema=False)
    def health() -> Any:
        results: dict[str, bool] = {}
        for name, probe in (checks or {}).items():
            try:
                results[name] = bool(probe())
            except Exception:
                results[name] = False
        ok = all(results.values())
        body: dict[str, Any] = {"ok": ok}
        if results:
            body["checks"] = results
        return JSONResponse(body, status_code=200 if ok else 503)

    return router
