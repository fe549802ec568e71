"""The HTML wiki in a real headless browser: click through it, see the chart, search.

Chromium comes from the system (Debian's ``chromium`` package) and is driven by
Playwright for Python (the ``test`` extra); ``playwright install`` is never needed.
Where either is missing the test is skipped with the reason, except under CI
(``CI=true``), where it fails: ``.ci/run`` installs the browser, so CI really runs it.
``CHANGENOTE_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest

from changenote.wiki.pages import page_name
from tests.conftest import invoke

ON_CI = os.environ.get("CI", "").strip().lower() == "true"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000
#: A word that occurs in exactly one note: in its --reason, nowhere else.
SEARCH_WORD = "memoize"


def _unavailable(reason: str, detail: str = "") -> NoReturn:
    """Skip with ``reason``, or fail under CI (with ``detail``), where it must run."""
    if ON_CI:
        message = f"CI=true but the browser test cannot run: {reason}\n{detail}"
        pytest.fail(message.rstrip(), pytrace=False)
    pytest.skip(reason)


def _chromium() -> str | None:
    named = os.environ.get("CHANGENOTE_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium with a fresh profile, or a skip (a failure under CI)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable(
            "Playwright for Python is not installed (pip install -e '.[test]' installs it)"
        )
    executable = _chromium()
    if executable is None:
        _unavailable(
            "no Chromium browser found (apt-get install chromium, or set CHANGENOTE_CHROMIUM)"
        )
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=executable, args=LAUNCH_ARGS, timeout=TIMEOUT_MS * 3
            )
        except Error as exc:
            first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
            _unavailable(f"{executable} does not start under Playwright: {first}", exc.message)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def wiki_site(project: Path, server: Any) -> Iterator[tuple[str, Path, list[str]]]:
    """A built wiki of four shipped changes, served over HTTP on 127.0.0.1.

    Yields the base URL, the html folder and the list of requests answered with 4xx/5xx.
    """

    def change(title: str, *extra: str, reason: str, after: str | None = "5") -> None:
        base = ["baseline", title, *extra]
        if after is not None:
            base += ["--metric", "p95_ms=9ms"]
        result = invoke(*base)
        assert result.code == 0, result.stderr
        ship = ["ship", "--reason", reason]
        if after is not None:
            ship += ["--metric", f"p95_ms={after}ms"]
        result = invoke(*ship)
        assert result.code == 0, result.stderr

    common = ("--service", "docs", "--owner", "Ada", "--tag", "perf", "--tag", "search")
    change("Slow search", *common, reason="batch the index queries")
    change(
        "Slow login",
        *("--service", "auth", "--owner", "Grace", "--tag", "perf", "--tag", "auth"),
        reason=f"{SEARCH_WORD} the session lookup",
        after="4",
    )
    change(
        "Search again",
        *("--service", "docs", "--owner", "Grace", "--tag", "search"),
        reason="add a covering index",
        after="6",
    )
    change(
        "Health check latency",
        *("--service", "auth", "--owner", "Linus", "--tag", "ops"),
        *("--http", f"{server.url}/", "--runs", "3", "--warmup", "0"),
        reason="answer from the cached status",
        after=None,
    )
    built = invoke("wiki", "--out", "wiki", "--format", "html")
    assert built.code == 0, built.stderr
    html = project / "wiki" / "html"

    errors: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if int(code) >= 400:
                errors.append(f"{code} {self.path}")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(html)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", html, errors
    finally:
        httpd.shutdown()
        httpd.server_close()


def _is_png(path: Path, at_least: int) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path.name
    assert len(data) >= at_least, f"{path.name} is only {len(data)} bytes"


def test_click_through_the_wiki_see_the_chart_and_search(
    browser: Any, wiki_site: tuple[str, Path, list[str]], tmp_path: Path
):
    base, html, server_errors = wiki_site
    problems: list[str] = []  # console errors, page errors, failed requests: all visit long
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def console(message: Any) -> None:
        if message.type in ("error", "assert"):
            where = message.location.get("url", "")
            problems.append(f"console {message.type} on {page.url}: {message.text} [{where}]")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"page error on {page.url}: {exc}"))

    def failed(request: Any) -> None:
        # Leaving a page cancels what it still fetches (its icon, say): not the site's fault.
        if request.failure != "net::ERR_ABORTED":
            problems.append(f"request failed: {request.url} ({request.failure})")

    page.on("requestfailed", failed)

    def click(selector: str, lands_on: str) -> None:
        link = page.locator(selector)
        assert link.count() >= 1, f"no link {selector} on {page.url}"
        link.first.click()
        page.wait_for_url(f"{base}/{lands_on}")
        page.wait_for_load_state("load")

    service, note, metric = (
        page_name("service", "docs"),
        page_name("note", "slow-search"),
        page_name("metric", "p95_ms"),
    )

    # home → service → note → metric, by clicking links
    page.goto(f"{base}/index.html")
    assert page.title() == "changenote wiki · changenote wiki"
    assert "4 change(s) recorded" in page.inner_text("main")
    for group in ("service-docs", "service-auth", "owner-", "tag-perf", "tag-ops", metric):
        assert page.locator(f"main a[href^='{group}']").count() >= 1, group
    click(f"main a[href='{service}.html']", f"{service}.html")
    assert page.locator("h1").inner_text() == "Service: docs"
    click(f"main a[href='{note}.html']", f"{note}.html")
    assert page.locator("h1").first.inner_text() == "Slow search"
    page.screenshot(path=str(tmp_path / "note.png"), full_page=True)
    click(f"main a[href='{metric}.html']", f"{metric}.html")
    assert page.locator("h1").inner_text() == "Metric: p95_ms"

    # the chart is loaded and visible
    chart = page.locator(f"main img[src='{metric}.svg']")
    assert chart.count() == 1
    chart.scroll_into_view_if_needed()
    assert chart.is_visible()
    loaded = chart.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")
    assert loaded, "the chart image did not load"
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50, box
    page.screenshot(path=str(tmp_path / "metric.png"), full_page=True)
    chart.screenshot(path=str(tmp_path / "chart.png"))

    # search finds the one note whose reason has the word, typed key by key
    click("header a[href='search.html']", "search.html")
    page.locator("#q").press_sequentially(SEARCH_WORD, delay=20)
    results = page.locator("#results a")
    results.first.wait_for()
    assert results.count() == 1, page.inner_text("#results")
    assert results.first.inner_text() == "Slow login"
    login = page_name("note", "slow-login")
    assert results.first.get_attribute("href") == f"{login}.html"
    click("#results a", f"{login}.html")
    assert page.locator("h1").first.inner_text() == "Slow login"
    page.goto(f"{base}/search.html?q=session+{SEARCH_WORD}")  # a query in the URL, too
    page.locator("#results a").first.wait_for()
    assert page.locator("#results a").count() == 1

    context.close()
    _is_png(tmp_path / "note.png", 10_000)
    _is_png(tmp_path / "metric.png", 10_000)
    _is_png(tmp_path / "chart.png", 3_000)
    report = problems + [f"server answered {e}" for e in server_errors]
    hint = ""
    if any("favicon" in line for line in report):
        hint = (
            "\n(the pages name no icon, so Chromium asks for /favicon.ico; a data: icon is"
            " blocked by the pages' CSP img-src 'self', so the site must ship an icon file"
            ' and link it with <link rel="icon">)'
        )
    assert report == [], "\n".join(report) + hint
    assert (html / f"{metric}.svg").is_file()
