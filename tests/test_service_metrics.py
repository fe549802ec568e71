"""The service's Prometheus metrics, read by the real programs: promtool and Prometheus.

The example service runs under uvicorn; a real Prometheus (the session's ``prometheus``
fixture) scrapes it every second while the test sends known traffic in three phases, and
the queries of docs/PROMETHEUS.md ("Queries for an instrumented service"), as written
there, must give what that traffic implies. Each phase is read over exactly its own
window: from the last scrape before its first request to the first scrape that saw its
last one, so neither the phase before nor the time Prometheus took to discover the
target blurs the answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus_server import PrometheusServer
from tests.servers import example_service

REPO = Path(__file__).resolve().parent.parent
QUERIES_DOC = REPO / "docs" / "PROMETHEUS.md"


def _missing() -> str | None:
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'changenote[fastapi,service]')"
    return None


if _missing():
    if os.environ.get("CI") == "true":  # CI installs the test extra: never skip there
        raise RuntimeError(_missing())
    pytest.skip(_missing() or "", allow_module_level=True)


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (Debian's prometheus package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _documented_queries() -> dict[str, str]:
    """``### Heading`` → the promql block under it, in the queries section of
    docs/PROMETHEUS.md."""
    text = QUERIES_DOC.read_text(encoding="utf-8")
    text = text.split("\n## Queries for an instrumented service\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^### (.+?)\n.*?```promql\n(.+?)\n```", text, flags=re.M | re.S)
    return {name: " ".join(query.split()) for name, query in found}


# -- in-process: the labels, with a registry of the test's own -------------------------


def test_the_cli_and_the_middleware_never_import_prometheus_client():
    code = (
        "import sys, changenote.cli, changenote.service.instrument, changenote.service.metrics\n"
        "print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.strip() == "False"


def test_labels_are_route_templates_and_stay_bounded():
    import asyncio

    import httpx
    from fastapi import APIRouter, FastAPI
    from prometheus_client import CollectorRegistry

    from changenote.service.instrument import ServerTimingMiddleware, record_db_call, report_cache
    from changenote.service.metrics import PrometheusMetrics

    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry)
    app = FastAPI()
    app.add_middleware(ServerTimingMiddleware, metrics=metrics)
    app.include_router(metrics.router())
    api = APIRouter(prefix="/api")

    @api.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        record_db_call()
        record_db_call()
        report_cache(item_id % 2 == 0)
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    app.include_router(api)
    v2 = FastAPI()

    @v2.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.mount("/v2", v2)
    app.mount("/raw-metrics", metrics.asgi_app())

    async def traffic() -> str:
        # Served under /svc (uvicorn --root-path /svc): the labels never show it.
        transport = httpx.ASGITransport(app, raise_app_exceptions=False, root_path="/svc")
        async with httpx.AsyncClient(transport=transport, base_url="http://app/svc") as client:
            for item_id in (1, 2, 3):
                assert (await client.get(f"/api/items/{item_id}")).status_code == 200
            assert (await client.get("/boom")).status_code == 500
            assert (await client.get("/no/such/page")).status_code == 404
            assert (await client.request("BREW", "/api/items/1")).status_code == 405
            assert (await client.get("/v2/things/a")).status_code == 200
            assert "db_calls_total" in (await client.get("/raw-metrics/")).text
            return (await client.get("/metrics")).text

    body = asyncio.run(traffic())

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    item_route = {"route": "/api/items/{item_id}"}
    assert sample("http_requests_total", method="GET", status="200", **item_route) == 3
    assert sample("http_requests_total", method="GET", status="500", **item_route) == 0
    assert sample("http_request_duration_seconds_count", method="GET", **item_route) == 3
    assert sample("db_calls_total", **item_route) == 6
    assert sample("cache_requests_total", result="hit", **item_route) == 1
    assert sample("cache_requests_total", result="miss", **item_route) == 2
    # Raised before responding: counted as the 500 the client got.
    assert sample("http_requests_total", method="GET", route="/boom", status="500") == 1
    assert sample("http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert sample("http_requests_total", method="other", status="405", **item_route) == 1
    assert sample("http_requests_total", method="GET", route="/v2/things/{thing_id}", status="200")
    assert sample("http_requests_total", method="GET", route="/raw-metrics", status="200")
    assert sample("http_requests_total", method="GET", route="/metrics", status="200")
    # No raw path anywhere in the labels.
    assert "/api/items/1" not in body and "/no/such/page" not in body and "/svc" not in body
    # A route that never reported a cache status has no cache series.
    assert sample("cache_requests_total", route="/boom", result="miss") is None


# -- the exposition, read by promtool ----------------------------------------------------


@dataclass
class Scraped:
    """The example service, and the Prometheus job scraping it."""

    url: str
    job: str
    prometheus: PrometheusServer
    address: str


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, prometheus: PrometheusServer):
    """The example service under uvicorn, added as a scrape target as soon as it is up
    (Prometheus takes some seconds to start scraping a new target, so the promtool test
    asks for this fixture: those seconds pass while it runs)."""
    with example_service(tmp_path_factory.mktemp("service")) as url:
        address = url.removeprefix("http://")
        job = f"search-{address.rsplit(':', 1)[1]}"
        prometheus.add_target(address, job=job)
        try:
            yield Scraped(url, job, prometheus, address)
        finally:
            prometheus.remove_target(address)


def test_the_exposition_passes_promtool(scraped: Scraped):
    import httpx

    with httpx.Client(base_url=scraped.url) as client:
        client.put("/admin/cache", params={"enabled": "true"})
        for q in ("cache", "cache", "index"):
            assert client.get("/search", params={"q": q}).status_code == 200
        client.put("/admin/cache", params={"enabled": "false"})
        expositions = {
            accept: client.get("/metrics", headers={"Accept": accept})
            for accept in ("text/plain", "application/openmetrics-text; version=1.0.0")
        }
    for accept, response in expositions.items():
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(accept.split(";")[0])
    # promtool reads the Prometheus text format; OpenMetrics (what Prometheus asks for
    # when it scrapes) goes through prometheus_client's strict parser.
    text = expositions["text/plain"].text
    done = subprocess.run(
        [_promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    openmetrics = expositions["application/openmetrics-text; version=1.0.0"].text
    families = {f.name: f.type for f in text_string_to_metric_families(openmetrics)}
    assert families["http_request_duration_seconds"] == "histogram"
    assert families["http_requests"] == families["db_calls"] == "counter"
    for kind, name in [("histogram", "http_request_duration_seconds"),
                       ("counter", "http_requests_total"), ("counter", "db_calls_total"),
                       ("counter", "cache_requests_total")]:  # fmt: skip
        assert f"# TYPE {name} {kind}\n" in text
    assert 'db_calls_total{route="/search"} 22.0' in text  # two N+1 searches and a hit


# -- the fixture itself, in sessions of its own ------------------------------------------

CHILD_TEST = """
import json, os

def test_uses_prometheus(prometheus):
    assert prometheus.value("vector(1)") == 1.0
    with open(os.environ["CHILD_OUT"], "w") as out:
        json.dump({"pid": prometheus.pid, "storage": str(prometheus.storage),
                   "startup_seconds": prometheus.startup_seconds}, out)
"""


def _child_session(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own (one test using ``prometheus``), in a new process."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_child.py").write_text(CHILD_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "-p", "tests.conftest",
         "-p", "no:cacheprovider", "-q", "-rs", str(tmp_path / "test_child.py")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        # No entry-point plugins (hypothesis, xdist, playwright...): a quicker start.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
             "CHILD_OUT": str(tmp_path / "out.json"), **env},
    )  # fmt: skip


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # gone while we looked
            pass
    return found


def test_the_fixture_stops_its_prometheus_at_the_end_of_the_session(
    tmp_path: Path, prometheus: PrometheusServer
):
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to look for leftover processes")
    done = _child_session(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    child = json.loads((tmp_path / "out.json").read_text())
    print(f"Prometheus ready in {prometheus.startup_seconds:.2f} s (this session), "
          f"{child['startup_seconds']:.2f} s (the child session)")  # fmt: skip
    assert child["pid"] > 0 and _processes_mentioning(child["storage"]) == []


def test_without_the_program_the_fixture_skips_but_fails_under_ci(tmp_path: Path):
    missing = str(tmp_path / "no-such-prometheus")
    skipped = _child_session(tmp_path / "a", CI="false", CHANGENOTE_TEST_PROMETHEUS=missing)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    failed = _child_session(tmp_path / "b", CI="true", CHANGENOTE_TEST_PROMETHEUS=missing)
    assert failed.returncode == 1 and "no prometheus program" in failed.stdout, failed.stdout


# -- the real Prometheus, scraping the service under known traffic -----------------------


def _service_samples(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The service's own figures, read from its /metrics (the ground truth)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics", headers={"Accept": "text/plain"}).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _search_requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "http_requests_total" and ("route", "/search") in labels
    )


def _buckets(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[float, float]:
    return {
        float(dict(labels)["le"]): value
        for (name, labels), value in samples.items()
        if name == "http_request_duration_seconds_bucket" and ("route", "/search") in labels
    }


def _quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """histogram_quantile's estimate over the buckets' increase, done here by hand."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    raise AssertionError("unreachable: the +Inf bucket holds every observation")


@dataclass
class Phase:
    """One phase's traffic, as the client saw it, and its window in Prometheus."""

    requests: int
    errors: int
    hits: int
    db_calls: int
    at: float  # evaluation time: the first scrape that saw the phase's last request
    window: str  # from just before the last scrape before its first request
    buckets: tuple[dict[float, float], dict[float, float]]


class Traffic:
    """Sends a phase of searches, then waits until Prometheus has scraped all of it."""

    def __init__(self, scraped: Scraped, client: Any) -> None:
        self.scraped, self.client = scraped, client
        self.prom = scraped.prometheus
        self.selector = f'job="{scraped.job}",route="/search"'
        self.samples = _service_samples(client)

    def _last_scrape(self) -> float:
        """The time of the newest scrape (waiting out one that failed: its series are
        stale until the next)."""
        found = self.prom.wait_for(f"max(timestamp(http_requests_total{{{self.selector}}}))")
        return float(found[0]["value"][1])

    def _settle(self, expected: float) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Wait until the service counted ``expected`` searches, then until Prometheus
        scraped that count. Both waits are bounded."""
        import time

        deadline = time.monotonic() + 10
        while _search_requests(samples := _service_samples(self.client)) != expected:
            assert time.monotonic() < deadline, f"the service never counted {expected}"
            time.sleep(0.02)
        self.prom.wait_for(f"sum(http_requests_total{{{self.selector}}}) == {expected:g}")
        return samples

    def warm_up(self) -> None:
        """Make every /search series exist and be scraped before any phase is read."""
        self.prom.wait_for(f'up{{job="{self.scraped.job}"}} == 1', timeout=30)
        for _ in range(2):
            self._search("warm")
        self.samples = self._settle(_search_requests(self.samples) + 2)

    def _search(self, q: str) -> tuple[int, bool, int]:
        from changenote.measure.probes import cache_status, db_call_count

        response = self.client.get("/search", params={"q": q})
        calls = db_call_count(response.headers)
        assert calls is not None, response.headers
        return response.status_code, cache_status(response.headers) == 1.0, int(calls)

    def phase(self, queries: list[str], concurrency: int = 1) -> Phase:
        start = self._last_scrape()
        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(self._search, queries))
        before = self.samples
        self.samples = self._settle(_search_requests(before) + len(queries))
        end = self._last_scrape()
        window_ms = round((end - start) * 1000) + 1
        return Phase(
            requests=len(answers),
            errors=sum(status >= 500 for status, _, _ in answers),
            hits=sum(hit for _, hit, _ in answers),
            db_calls=sum(calls for _, _, calls in answers),
            at=end,
            window=f"{window_ms}ms",
            buckets=(_buckets(before), _buckets(self.samples)),
        )

    def ask(self, name: str, phase: Phase) -> float:
        """The documented query ``name`` over ``phase``'s window: its /search answer."""
        query = _documented_queries()[name]
        query = query.replace('job="search"', f'job="{self.scraped.job}"')
        query = query.replace("[5m]", f"[{phase.window}]")
        result = self.prom.query(query, at=phase.at)
        found = [r for r in result if r["metric"]["route"] == "/search"]
        assert len(found) == 1, (query, found)
        return float(found[0]["value"][1])


def test_prometheus_reads_latency_errors_cache_and_db_calls_as_the_traffic_implies(
    scraped: Scraped,
):
    import httpx

    assert set(_documented_queries()) == {
        "Latency p50", "Latency p95", "Error rate", "Cache hit ratio",
        "Database calls per request",
    }  # fmt: skip
    queries = ["cache", "index", "query", "search"]
    with httpx.Client(base_url=scraped.url, timeout=30) as client:
        traffic = Traffic(scraped, client)
        traffic.warm_up()

        # Before: 10 ms added, every tenth search fails, no cache.
        client.put("/admin/delay", params={"ms": 10})
        client.put("/admin/errors", params={"every": 10})
        fast = traffic.phase(queries * 10)
        # A slower route: 250 ms added to every search, no more errors.
        client.put("/admin/delay", params={"ms": 250})
        client.put("/admin/errors", params={"every": 0})
        slow = traffic.phase(queries * 5, concurrency=10)
        # The fix: the cache answers repeated searches without the slow part.
        client.put("/admin/cache", params={"enabled": "true"})
        cached = traffic.phase([q for q in queries for _ in range(10)])
        client.put("/admin/cache", params={"enabled": "false"})
        client.put("/admin/delay", params={"ms": 0})

    assert (fast.errors, slow.errors, cached.errors) == (4, 0, 0)
    assert (fast.hits, slow.hits, cached.hits) == (0, 0, 36)
    ask: Callable[[str, Phase], float] = traffic.ask
    for phase in (fast, slow, cached):
        # Prometheus's answer is the client's count: to the call, to 0.1 %.
        calls = ask("Database calls per request", phase)
        assert calls == pytest.approx(phase.db_calls / phase.requests, rel=1e-3)
        assert ask("Error rate", phase) == pytest.approx(phase.errors / phase.requests, abs=1e-3)
        hit_ratio = ask("Cache hit ratio", phase)
        assert hit_ratio == pytest.approx(phase.hits / phase.requests, abs=1e-3)
        # And its p95 is the service's own histogram's, over the same requests.
        p95 = ask("Latency p95", phase)
        assert p95 == pytest.approx(_quantile(0.95, *phase.buckets), rel=1e-2)
    assert fast.db_calls == 11 * fast.requests  # the N+1 search: 1 + 10 hits each
    assert cached.db_calls == 11 * len(queries)  # only the four misses query

    # The delay moves the quantiles: each request takes at least what was added.
    fast_p50, fast_p95 = ask("Latency p50", fast), ask("Latency p95", fast)
    slow_p50, slow_p95 = ask("Latency p50", slow), ask("Latency p95", slow)
    assert 0.01 < fast_p50 <= fast_p95 < 0.25 < slow_p50 <= slow_p95
    # With the cache, most searches skip the delay (p50), the misses still pay it (p95).
    assert ask("Latency p50", cached) < 0.25 < ask("Latency p95", cached)
