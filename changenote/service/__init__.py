"""What runs inside a user's service rather than in the CLI.

``instrument`` is ASGI middleware and helpers a service adds so changenote can read
its database calls and cache status (``Server-Timing``, ``X-Cache-Status``, a
``/health`` router); ``metrics`` turns the same per-request numbers into Prometheus
metrics and serves ``/metrics`` (prometheus_client, imported only when used);
``sample`` is the small search service ``changenote demo`` measures. It may import
only the foundation, and imports nothing heavy at start.
"""
