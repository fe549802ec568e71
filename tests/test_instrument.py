"""The service-side instrumentation and the example service, on a real uvicorn server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.servers import example_service


def _missing() -> str | None:
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'changenote[fastapi]')"
    return None


if _missing():
    if os.environ.get("CI") == "true":  # CI installs the test extra: never skip there
        raise RuntimeError(_missing())
    pytest.skip(_missing() or "", allow_module_level=True)


@pytest.fixture
def search_service(tmp_path: Path) -> Iterator[str]:
    """The example app under uvicorn on 127.0.0.1, with its own SQLite file."""
    with example_service(tmp_path) as url:
        yield url


def test_responses_say_their_database_calls_and_cache_status(search_service: str):
    import httpx

    from changenote.measure.probes import cache_status, db_call_count

    response = httpx.get(f"{search_service}/search", params={"q": "cache"})
    hits = len(response.json()["results"])
    assert hits == 10
    assert db_call_count(response.headers) == 1 + hits  # ids, then one title per hit
    assert cache_status(response.headers) == 0.0
    timing = response.headers["server-timing"]
    assert timing.startswith('db;desc="11";dur=') and ", app;dur=" in timing
    httpx.put(f"{search_service}/admin/cache", params={"enabled": "true"})
    httpx.get(f"{search_service}/search", params={"q": "cache"})  # fills the cache
    cached = httpx.get(f"{search_service}/search", params={"q": "cache"})
    assert db_call_count(cached.headers) == 0 and cache_status(cached.headers) == 1.0
    health = httpx.get(f"{search_service}/health")
    assert health.json() == {"ok": True, "checks": {"db": True}}
    # the delay switch: a spread is clamped to the delay, a negative slot length to none
    delay = httpx.put(f"{search_service}/admin/delay",
                      params={"ms": 5, "spread": 9, "every": -1})  # fmt: skip
    assert delay.json() == {"ms": 5.0, "spread": 5.0, "every": 0.0}
    delay = httpx.put(f"{search_service}/admin/delay", params={"ms": 0, "every": 0.5})
    assert delay.json() == {"ms": 0.0, "spread": 0.0, "every": 0.5}


def test_baseline_records_db_calls_and_ship_shows_fewer(project: Path, search_service: str):
    import httpx

    url = f"GET {search_service}/search?q=index"
    base = invoke("baseline", "Slow search", "--http", url, "--runs", "10", "--json")
    assert base.code == 0, base.stderr
    metrics = {m["metric"]: m for m in base.json()["runs"][0]["metrics"]}
    assert metrics["db_calls"]["median"] == 11
    assert metrics["cache_hit_ratio"]["median"] == 0
    httpx.put(f"{search_service}/admin/cache", params={"enabled": "true"})
    shipped = invoke("ship", "--reason", "cache search results", "--json")
    assert shipped.code == 0, shipped.stderr
    verdicts = {c["metric"]: c for c in shipped.json()["comparison"]}
    assert verdicts["db_calls"]["after"] == 0 and verdicts["db_calls"]["verdict"] == "improved"
    assert verdicts["cache_hit_ratio"]["verdict"] == "improved"


def test_a_health_check_against_the_example(project: Path, search_service: str):
    (project / "changenote.toml").write_text(
        f'[checks.health]\nhttp = "GET {search_service}/health"\n'
        'expect_status = 200\nexpect_json = { ok = true, "checks.db" = true }\n'
    )
    result = invoke("check", "--format", "json")
    assert result.code == 0, result.stdout
    assert json.loads(result.stdout)["checks"][0]["up"] is True


def test_outside_a_request_the_hooks_do_nothing():
    from changenote.service.instrument import current, record_db_call, report_cache

    record_db_call(1.0)
    report_cache(True)
    assert current() is None


def test_middleware_counts_per_request_and_leaves_other_scopes_alone():
    import asyncio

    from changenote.service.instrument import ServerTimingMiddleware, record_db_call, report_cache

    async def app(scope, receive, send):
        if scope["type"] == "http":
            for _ in range(scope["calls"]):
                record_db_call(0.5)
            report_cache(True)
            report_cache(False)  # one miss makes the response a miss
        await send({"type": "http.response.start", "status": 200, "headers": []})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def run() -> None:
        wrapped = ServerTimingMiddleware(app)
        await asyncio.gather(
            wrapped({"type": "http", "calls": 3}, None, send),
            wrapped({"type": "http", "calls": 5}, None, send),
        )
        await wrapped({"type": "lifespan", "calls": 0}, None, send)

    asyncio.run(run())
    headers = [dict(m["headers"]) for m in sent]
    timings = sorted(h[b"server-timing"].decode().split(";")[1] for h in headers[:2])
    assert timings == ['desc="3"', 'desc="5"']
    assert all(h[b"x-cache-status"] == b"MISS" for h in headers[:2])
    assert headers[2] == {}
