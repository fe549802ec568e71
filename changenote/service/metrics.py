"""Prometheus metrics from the same per-request numbers as ``Server-Timing``.

:class:`ServerTimingMiddleware` already counts each request's database calls and cache
status; given a :class:`PrometheusMetrics`, it also feeds four metrics, and the app
serves them on ``/metrics``:

.. code-block:: python

    from changenote.service.instrument import ServerTimingMiddleware
    from changenote.service.metrics import PrometheusMetrics

    metrics = PrometheusMetrics()            # prometheus_client's default REGISTRY
    app.add_middleware(ServerTimingMiddleware, metrics=metrics)
    app.include_router(metrics.router())     # GET /metrics

======================================  ==========================  ============================
metric                                  labels                      counts
======================================  ==========================  ============================
``http_request_duration_seconds``       method, route               each request's whole time
``http_requests_total``                 method, route, status       requests, by response status
``db_calls_total``                      route                       database calls
``cache_requests_total``                route, result (hit, miss)   requests that said hit or miss
======================================  ==========================  ============================

``route`` is the route's template (``/items/{item_id}``), never the raw path, so a
crawler cannot grow the number of series; a request no route matched is
``<unmatched>``, and a method outside the standard ones is ``other``. A route's
``status="500"`` series and, once the route reports a cache status, both of its cache
series start at zero, so the first error or the first hit shows in ``rate()``.

prometheus_client is imported when a :class:`PrometheusMetrics` is made, never when
this module is (``pip install 'changenote[service]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from changenote.service.instrument import RequestStats, Scope

#: Upper bounds (seconds) from 1 ms to 10 s: a cached answer, a typical page, a slow one.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
UNMATCHED = "<unmatched>"
#: The method label's values; anything else is "other", so clients cannot add series.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``/items/{item_id}``).

    FastAPI and Starlette put the route in ``scope["route"]``; a route inside a mounted
    app keeps its mount's prefix (``/v2/items/{item_id}``), and a mounted app that is
    not a FastAPI or Starlette router (static files, a plain ASGI app) is its mount's
    path (``/static``). Without either it is ``<unmatched>``.
    """
    # Inside a Mount, root_path is the app's own root (a proxy's prefix) plus the
    # mount's path, and app_root_path the app's own root; outside, neither is a prefix.
    root, app_root = scope.get("root_path", ""), scope.get("app_root_path")
    prefix = root[len(app_root) :] if app_root is not None and root.startswith(app_root) else ""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if isinstance(template, str) and not _is_mount(route, template):
        return prefix + template
    if prefix:
        return prefix
    if isinstance(template, str):
        return template.removesuffix("/{path}") or "/"
    return UNMATCHED


def _is_mount(route: Any, template: str) -> bool:
    return template.endswith("/{path}") and hasattr(route, "routes")


class PrometheusMetrics:
    """The request, database and cache metrics of one service, in one registry.

    ``registry`` defaults to prometheus_client's ``REGISTRY`` (where its process and
    platform collectors live too); tests and apps that are built more than once pass
    their own ``CollectorRegistry``, since a name can be registered only once per
    registry. ``route`` maps an ASGI scope to its route label, for frameworks that do
    not set ``scope["route"]``.
    """

    def __init__(
        self,
        registry: Any = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        route: Callable[[Scope], str] = route_template,
    ) -> None:
        try:
            from prometheus_client import REGISTRY, Counter, Histogram
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "PrometheusMetrics needs prometheus_client: pip install 'changenote[service]'"
            ) from None
        self.registry = REGISTRY if registry is None else registry
        self.route = route
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route"],
            buckets=buckets,
            registry=self.registry,
        )
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests, by response status (500 when the app raised).",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.db_calls = Counter(
            "db_calls_total",
            "Database calls made while serving requests (record_db_call, count_queries).",
            ["route"],
            registry=self.registry,
        )
        self.cache = Counter(
            "cache_requests_total",
            "Requests that reported a cache status (report_cache), by result.",
            ["route", "result"],
            registry=self.registry,
        )
        self._seen: set[tuple[str, str]] = set()
        self._cached_routes: set[str] = set()

    def observe(self, scope: Scope, status: int, seconds: float, stats: RequestStats) -> None:
        """Count one finished HTTP request (the middleware calls this)."""
        route = self.route(scope)
        method = str(scope.get("method", "")).upper()
        method = method if method in METHODS else "other"
        if (method, route) not in self._seen:
            self._seen.add((method, route))
            self.requests.labels(method, route, "500")  # present from the start, at 0
        self.duration.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()
        self.db_calls.labels(route).inc(stats.db_calls)
        if stats.cache_hit is not None:
            if route not in self._cached_routes:
                self._cached_routes.add(route)
                self.cache.labels(route, "hit")
                self.cache.labels(route, "miss")
            self.cache.labels(route, "hit" if stats.cache_hit else "miss").inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry's metrics and their content type, in the format ``accept`` asks for."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def asgi_app(self) -> Any:
        """A plain ASGI app serving the metrics, to mount in any framework."""

        async def app(scope: Scope, receive: Any, send: Any) -> None:
            accept = b",".join(v for k, v in scope.get("headers", []) if k.lower() == b"accept")
            body, content_type = self.exposition(accept.decode("latin-1"))
            headers = [(b"content-type", content_type.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app

    def router(self, path: str = "/metrics") -> Any:
        """A FastAPI router for ``GET /metrics`` (needs ``changenote[fastapi]``)."""
        try:
            from fastapi import APIRouter, Request, Response
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("router() needs FastAPI: pip install 'changenote[fastapi]'") from None
        router = APIRouter()

        # async: the registry is read on the event loop, where the middleware counts,
        # so a scrape never sees a request half counted.
        async def metrics(request: Request) -> Response:
            body, content_type = self.exposition(request.headers.get("accept", ""))
            return Response(body, headers={"content-type": content_type})

        # The classes themselves: this module's postponed annotations name them as
        # strings FastAPI would look up in the module, where they are not imported.
        metrics.__annotations__ = {"request": Request, "return": Response}
        router.add_api_route(path, metrics, methods=["GET"], include_in_schema=False)
        return router
