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
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest

from changenote.wiki.pages import page_name
from tests.conftest import inside, invoke, new_service

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the module, or a skip (a failure under CI)."""
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


#: A title with hyphenated words and a long service name: what broke inside cells.
LONG_TITLE = "Search-as-you-type times out on non-ASCII queries in the docs-site"


def record_sample(project: Path, server_url: str) -> None:
    """Six changes in ``project`` (cwd), then ``changenote wiki --format html``.

    Improved, regressed and not-tested figures; two command probes (one series each)
    whose times span more than 10x; an HTTP probe; a change waiting to ship; notes
    drafted, reviewed and needing an update; ticked items and a follow-up.
    """

    def run(*args: str) -> None:
        result = invoke(*args)
        assert result.code == 0, f"{args}: {result.stderr}"

    def delay(name: str, seconds: str) -> str:
        (project / name).write_text(seconds)
        return f"sleep $(cat {name})"

    probe = ("--runs", "6", "--warmup", "0")
    common = ("--service", "docs", "--owner", "Ada", "--tag", "perf", "--tag", "search")
    run("baseline", "Slow search", *common, "--cmd", delay("fast.txt", "0.12"), *probe,
        "--metric", "p95_ms=400ms")  # fmt: skip
    run("tick", "capture", "--note", "p95 400 ms on the dashboard")
    run("tick", "backup", "--note", "copied app/search.py")
    delay("fast.txt", "0.03")
    run("ship", "--reason", "batch the index queries", "--metric", "p95_ms=380ms")
    run("follow-up", "slow-search", "Drop the old index", "--owner", "Ada", "--due", "2026-12-15")
    run("baseline", "Slow login", "--service", "auth", "--owner", "Grace", "--tag", "perf",
        "--tag", "auth", "--metric", "p95_ms=9ms")  # fmt: skip
    run("ship", "--reason", f"{SEARCH_WORD} the session lookup", "--metric", "p95_ms=4ms")
    run("review", "slow-login", "--status", "reviewed", "--by", "Linus")
    run("baseline", LONG_TITLE, "--service", "docs-site-search-frontend", "--owner", "Grace",
        "--tag", "search", "--cmd", delay("slow.txt", "0.002"), *probe)  # fmt: skip
    delay("slow.txt", "0.03")
    run("ship", "--reason", "add a covering index", "--rollback", "drop the index")
    run("review", "1", "--status", "needs-update", "--by", "Linus")
    run("baseline", "Health check latency", "--service", "auth", "--owner", "Linus",
        "--tag", "ops", "--http", f"{server_url}/", "--runs", "3", "--warmup", "0")  # fmt: skip
    run("ship", "--reason", "answer from the cached status")
    run("baseline", "Cache the sitemap", "--service", "docs", "--owner", "Ada",
        "--metric", "p95_ms=120ms")  # fmt: skip
    run("wiki", "--out", "wiki", "--format", "html")


class _Quiet(SimpleHTTPRequestHandler):
    errors: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if int(code) >= 400:
            self.errors.append(f"{code} {self.path}")


@pytest.fixture(scope="module")
def wiki_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    """The sample wiki (``record_sample``), built once, served over HTTP on 127.0.0.1.

    Yields the base URL, the html folder and the list of requests answered with 4xx/5xx.
    """
    from tests.servers import TestServer

    root = new_service(tmp_path_factory.mktemp("wiki") / "service")
    server = TestServer()
    try:
        with inside(root):
            record_sample(root, server.url)
    finally:
        server.close()
    html = root / "wiki" / "html"
    errors: list[str] = []
    handler = type("Handler", (_Quiet,), {"errors": errors})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(html)))
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
    assert page.title() == "Home · changenote wiki"
    assert "5 change(s) recorded: 4 shipped, 1 waiting to ship" in page.inner_text("main")
    for group in ("service-docs", "service-auth", "owner-", "tag-perf", "tag-ops", metric):
        assert page.locator(f"main a[href^='{group}']").count() >= 1, group
    click(f"main a[href='{service}.html']", f"{service}.html")
    assert page.locator("h1").inner_text() == "Service: docs"
    click(f"main a[href='{note}.html']", f"{note}.html")
    assert page.locator("h1").first.inner_text() == "Slow search"
    click(f"main a[href='{metric}.html']", f"{metric}.html")
    assert page.locator("h1").inner_text() == "Metric: p95_ms"

    # the chart is drawn inline (its tooltips can be reached), not loaded as an image
    assert page.locator("main img").count() == 0
    chart = page.locator("main svg.trend")
    assert chart.count() == 1
    chart.scroll_into_view_if_needed()
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50, box
    chart.screenshot(path=str(tmp_path / "chart.png"))

    # search finds the one note whose reason has the word, typed key by key
    click("header a[href='search.html']", "search.html")
    page.locator("#q").press_sequentially(SEARCH_WORD, delay=20)
    results = page.locator("#results a")
    results.first.wait_for()
    assert results.count() == 1, page.inner_text("#results")
    assert results.first.inner_text() == "Slow login"
    assert page.inner_text("#count") == f"1 note matches \u201c{SEARCH_WORD}\u201d."
    assert page.locator("#results mark").inner_text() == SEARCH_WORD
    assert f"{SEARCH_WORD} the session lookup" in page.inner_text("#results .snippet")
    login = page_name("note", "slow-login")
    assert results.first.get_attribute("href") == f"{login}.html"
    click("#results a", f"{login}.html")
    assert page.locator("h1").first.inner_text() == "Slow login"
    page.goto(f"{base}/search.html?q=session+{SEARCH_WORD}")  # a query in the URL, too
    page.locator("#results a").first.wait_for()
    assert page.locator("#results a").count() == 1

    context.close()
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
    assert not (html / f"{metric}.svg").exists()  # drawn inline, no file beside the page


WIDTHS = (390, 1280)
SCHEMES = ("light", "dark")


def _context(browser: Any, width: int, scheme: str = "light", **options: Any) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


#: Every word of every table cell whose boxes lie on more than one line.
_SPLIT_WORDS = r"""() => {
  const split = [];
  let words = 0;
  for (const cell of document.querySelectorAll('main td, main th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const boxes = [...range.getClientRects()].filter(r => r.width > 0);
        words += 1;
        if (!boxes.length) continue;
        const tops = boxes.map(r => r.top);
        const height = Math.min(...boxes.map(r => r.height));
        if (Math.max(...tops) - Math.min(...tops) > height / 2) split.push(m[0]);
      }
    }
  }
  return {split, words};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_no_word_in_a_table_cell_is_split_across_lines(
    browser: Any, wiki_site: tuple[str, Path, list[str]], width: int
):
    """Tables scroll sideways instead: at a phone's width and a laptop's, every word of
    every cell of every page stays on one line."""
    base, html, _ = wiki_site
    context = _context(browser, width)
    page = context.new_page()
    split: list[str] = []
    words = 0
    # every page with a table (service, owner and tag pages list their notes)
    names = sorted(
        p.name
        for p in html.glob("*.html")
        if not p.name.startswith(("search", "service-", "owner-", "tag-"))
    )
    for name in names:
        page.goto(f"{base}/{name}")
        found = page.evaluate(_SPLIT_WORDS)
        split += [f"{name}: {word}" for word in found["split"]]
        words += found["words"]
        wrapped = page.evaluate(
            "() => [...document.querySelectorAll('main table')]"
            ".every(t => t.parentElement.classList.contains('table-wrap'))"
        )
        assert wrapped, f"{name}: a table outside its scrolling wrapper"
        # the page itself never scrolls sideways: only a table's wrapper does
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, name
    context.close()
    assert words > 400  # the check saw the tables
    assert split == []


def _chart_facts(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
  const svg = document.querySelector('main svg.trend');
  const box = svg.getBoundingClientRect();
  const scale = svg.getScreenCTM().a;
  const texts = [...svg.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5
                    && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5,
            colour: getComputedStyle(t).fill};
  });
  const marks = [...svg.querySelectorAll('circle, line')].map(m => ({
    kind: m.localName, colour: getComputedStyle(m).stroke,
    title: m.localName === 'circle' ? (m.querySelector('title') || {}).textContent || '' : null}));
  return {texts, marks, background: getComputedStyle(document.body).backgroundColor,
          probes: svg.querySelectorAll('text.key').length,
          viewBox: svg.getAttribute('viewBox')};
}"""
    )


def _luminance(colour: str) -> float:
    import re

    channels = [int(c) / 255 for c in re.findall(r"\d+(?:\.\d+)?", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    """The WCAG contrast ratio of two CSS ``rgb(...)`` colours."""
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(("width", "scheme"), [(390, "light"), (390, "dark"), (1280, "dark")])
def test_the_chart_is_inline_readable_on_a_phone_and_has_contrast(
    browser: Any, wiki_site: tuple[str, Path, list[str]], width: int, scheme: str
):
    base, _, _ = wiki_site
    context = _context(browser, width, scheme)
    page = context.new_page()
    page.goto(f"{base}/{page_name('metric', 'time_ms')}.html")
    facts = _chart_facts(page)
    table_probes = set(
        page.eval_on_selector_all("main td:nth-child(3)", "cs => cs.map(c => c.innerText)")
    )
    assert facts["viewBox"] is None  # its units are CSS pixels: nothing shrinks its text
    # one series per probe: two command probes and the HTTP one
    assert facts["probes"] == len(table_probes) == 3, table_probes
    # times from ~5 ms to ~130 ms: more than 10x, so a log axis, and it says so
    words = " ".join(t["text"] for t in facts["texts"])
    ticks = [t["text"] for t in facts["texts"] if t["text"].endswith(" ms")]
    assert "log scale" in words and len(ticks) >= 3, words
    small = [(t["text"], round(t["px"], 1)) for t in facts["texts"] if t["px"] < 11]
    assert small == []
    cut = [t["text"] for t in facts["texts"] if not t["inside"]]
    assert cut == []  # no date (nor anything else) clipped
    circles = [m for m in facts["marks"] if m["kind"] == "circle"]
    assert len(circles) == 6 and all(m["title"] for m in circles), circles  # a tooltip each
    assert any("Slow search" in m["title"] and "before" in m["title"] for m in circles)
    background = facts["background"]
    if background == "rgba(0, 0, 0, 0)":  # none set: the canvas shows through
        background = "rgb(255, 255, 255)" if scheme == "light" else "rgb(18, 18, 18)"
    weak = [
        (item.get("text") or item.get("kind"), colour, round(contrast(colour, background), 2))
        for item, colour in [(t, t["colour"]) for t in facts["texts"]]
        + [(m, m["colour"]) for m in facts["marks"]]
        if contrast(colour, background) < 4.5
    ]
    assert weak == [], f"against {background}"
    # a figure that spans less: a linear axis (error rates are all 0%)
    page.goto(f"{base}/{page_name('metric', 'error_rate')}.html")
    assert "linear scale" in (page.text_content("main svg.trend") or "")
    context.close()


def test_verdicts_are_badges_and_checklists_are_checkboxes(
    browser: Any, wiki_site: tuple[str, Path, list[str]]
):
    base, _, _ = wiki_site
    context = _context(browser, 1280)
    page = context.new_page()
    page.goto(f"{base}/{page_name('note', 'slow-search')}.html")
    badges = page.eval_on_selector_all(
        "main td .verdict", "bs => bs.map(b => [b.className, b.textContent])"
    )
    assert badges == [
        ["verdict verdict-improved", "improved"],
        ["verdict verdict-not-significant", "not significant"],
        ["verdict verdict-no-test", "no test"],
    ]
    assert "✅" not in page.inner_text("main table")  # the word says it, no emoji needed
    boxes = page.locator("main li.task-list-item input[type=checkbox]")
    assert boxes.count() == 6  # five checklist items and one follow-up
    assert all(boxes.nth(i).is_disabled() for i in range(6))
    ticked = [boxes.nth(i).is_checked() for i in range(6)]
    assert ticked == [True, True, False, False, True, False]
    assert "[x]" not in page.inner_text("main") and "[ ]" not in page.inner_text("main")

    # the home page, at a glance
    page.goto(f"{base}/index.html")
    sections = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('main h2')].map(h => {
          const rows = [];
          for (let el = h.nextElementSibling; el && el.localName !== 'h2';
               el = el.nextElementSibling)
            for (const tr of el.querySelectorAll('tbody tr'))
              rows.push([...tr.cells].map(c => c.innerText.trim()));
          return [h.textContent, rows];
        }))"""
    )
    regressed, waiting = sections["Regressed"], sections["Waiting to ship"]
    assert [r[:4] for r in regressed] == [
        [LONG_TITLE, "regressed", "time_ms", "docs-site-search-frontend"]
    ]
    assert [r[:3] for r in waiting] == [["Cache the sitemap", "Ada", "docs"]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", waiting[0][3])
    assert sorted((r[0], r[1]) for r in sections["Needs review"]) == [
        ("Health check latency", "drafted"),
        (LONG_TITLE, "drafted"),
        ("Slow search", "needs-update"),
    ]
    recent = {r[0]: r[1] for r in sections["Recent changes"]}
    assert recent["Slow search"] == "improved" and recent[LONG_TITLE] == "regressed"
    assert recent["Cache the sitemap"] == "—"
    assert page.locator("main .verdict-regressed").count() == 2
    context.close()


def test_dark_mode_follows_the_system(browser: Any, wiki_site: tuple[str, Path, list[str]]):
    base, _, _ = wiki_site
    colours = {}
    for scheme in SCHEMES:
        context = _context(browser, 390, scheme)
        page = context.new_page()
        page.goto(f"{base}/index.html")
        colours[scheme] = page.evaluate(
            "() => [getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.body).color]"
        )
        context.close()
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(31, 35, 40)"]
    background, text = colours["dark"]
    assert _luminance(background) < 0.05 and contrast(background, text) >= 7, colours


#: The pages the accessibility check and the screenshots look at.
LOOKED_AT = {
    "home": "index.html",
    "note": f"{page_name('note', 'slow-search')}.html",
    "metric": f"{page_name('metric', 'time_ms')}.html",
}


def _axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        _unavailable("axe-playwright-python is not installed (the test extra installs it)")
    return str(AXE_SCRIPT)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_no_accessibility_violation(
    browser: Any, wiki_site: tuple[str, Path, list[str]], scheme: str
):
    """axe-core (bundled by axe-playwright-python) in the real Chromium, light and dark."""
    base, _, _ = wiki_site
    script = _axe_script()
    # axe is injected as a script the pages' CSP would refuse: this context only
    context = _context(browser, 1280, scheme, bypass_csp=True)
    page = context.new_page()
    found = []
    for name in [*LOOKED_AT.values(), f"search.html?q={SEARCH_WORD}"]:
        page.goto(f"{base}/{name}")
        page.add_script_tag(content=script)
        results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        for violation in results["violations"]:
            where = [n["target"] for n in violation["nodes"]][:3]
            found.append(f"{name}: {violation['id']} ({violation['help']}) at {where}")
        assert results["passes"], "axe ran no check"
    context.close()
    assert found == []


def test_screenshots_at_a_phone_and_a_laptop_width(
    browser: Any, wiki_site: tuple[str, Path, list[str]], tmp_path: Path
):
    """The home, a note and a metric page at 390 and 1280 px, into the test's folder
    and, when CHANGENOTE_SCREENSHOTS names a folder, there too."""
    base, _, _ = wiki_site
    keep = os.environ.get("CHANGENOTE_SCREENSHOTS")
    shots = []
    for width in WIDTHS:
        context = _context(browser, width)
        page = context.new_page()
        for what, name in LOOKED_AT.items():
            page.goto(f"{base}/{name}")
            path = tmp_path / f"{what}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)
        context.close()
    for path in shots:
        _is_png(path, 10_000)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(keep) / path.name)
