"""Hostile text through every user-written field: nothing runs in the wiki or the notes.

The OWASP filter-evasion vectors (tests/hostile.py) go into titles, reasons, services,
owners, tags, routes, inputs, expectations, rollbacks, commands, files, tick notes and a
command probe's output. Then:

- the HTML wiki is opened page by page in headless Chromium with its Content Security
  Policy switched off (escaping must hold on its own), listening for dialogs, requests
  leaving the site and script errors, and the DOM is searched for what a payload would
  leave: event-handler attributes, scripts, frames, objects, javascript:/data: links;
- the search page is used with payload words;
- every markdown file (notes and the markdown wiki) is rendered as GitHub or MkDocs
  would, raw HTML on, and must give no live tag, handler or dangerous link.
"""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from changenote.notebook import note_yaml
from tests.conftest import inside, invoke, new_service
from tests.hostile import XSS_PAYLOADS
from tests.test_wiki_browser import TIMEOUT_MS, browser  # noqa: F401  (a fixture)

FIELDS = ("--service", "--owner", "--route", "--input", "--noticed", "--expect", "--tag")
SHIP_FIELDS = ("--reason", "--rollback", "--command", "--file")


def _payload(n: int) -> str:
    return XSS_PAYLOADS[n % len(XSS_PAYLOADS)]


@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile notebook, recorded once for the module (each test gets a copy)."""
    root = new_service(tmp_path_factory.mktemp("hostile") / "service")
    with inside(root) as mp:
        return _record_hostile(root, mp)


@pytest.fixture
def hostile_notebook(hostile_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(hostile_template, tmp_path / "service", symlinks=True))


def _record_hostile(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Enough changes that every payload lands in several fields."""
    n = 0
    changes = (len(XSS_PAYLOADS) + len(FIELDS) + len(SHIP_FIELDS)) // (
        len(FIELDS) + len(SHIP_FIELDS) + 2
    ) + 1
    for i in range(changes):
        title = _payload(n)
        n += 1
        args = ["baseline", f"{title} {i}", "--metric", "p95_ms=9ms"]
        for flag in FIELDS:
            args += [flag, _payload(n)]
            n += 1
        if i == 0:  # a command probe whose output is hostile too
            monkeypatch.setenv("XSS_OUT", _payload(n))
            args += ["--cmd", 'printf "%s\\n" "$XSS_OUT"', "--runs", "2", "--warmup", "0"]
        result = invoke(*args)
        assert result.code == 0, result.stderr
        ticked = invoke("tick", "backup", "--note", _payload(n + 1))
        assert ticked.code == 0, ticked.stderr
        n += 2
        ship = ["ship", "--metric", "p95_ms=5ms"]
        for flag in SHIP_FIELDS:
            ship += [flag, _payload(n)]
            n += 1
        result = invoke(*ship)
        assert result.code == 0, result.stderr
    assert n >= len(XSS_PAYLOADS)  # every payload went in at least once
    built = invoke("wiki", "--out", "wiki", "--format", "both")
    assert built.code == 0, built.stderr
    return project


# --------------------------------------------------------------------------- markdown
_DANGEROUS_TAGS = frozenset(
    {
        "script", "iframe", "frame", "object", "embed", "svg", "math", "style", "link",
        "meta", "base", "body", "input", "form", "button", "details", "div",
        "bgsound", "xss", "textarea", "title", "xmp", "video", "audio", "source",
    }
)  # fmt: skip
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)


class _LiveMarkup(HTMLParser):
    """What an HTML rendering of markdown holds that could run or load something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        box = tag == "input" and dict(attrs).get("type") == "checkbox" and "disabled" in dict(attrs)
        if tag in _DANGEROUS_TAGS and not box:  # a task list's checkbox is not a form
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            aligned = re.fullmatch(r"text-align: ?(left|right|center);?", value or "")
            if name == "style" and not aligned:
                self.found.append(f"<{tag} style={value!r}>")
            if name in ("href", "src", "background", "data", "action") and value is not None:
                bare = re.sub(r"[\x00-\x20]+", "", value)
                scheme = _SCHEME.match(bare)
                if scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
                    self.found.append(f"<{tag} {name}={value[:40]!r}>")
                if tag == "img" and (scheme or not value.endswith(".svg")):
                    self.found.append(f"<img src={value[:40]!r}>")


def test_markdown_turns_no_payload_into_live_html(hostile_notebook: Path):
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")  # raw HTML on, as MkDocs passes it
    files = [*(hostile_notebook / "notes").glob("*.md"),
             *(hostile_notebook / "wiki" / "markdown").rglob("*.md")]  # fmt: skip
    assert len(files) > 10
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        if text.startswith("---\n"):  # front matter: a table on GitHub, metadata for MkDocs
            text = text.split("\n---\n", 1)[1]
        text, mark, record = text.partition(note_yaml.RECORD_MARK)
        if mark:  # the record block: our <details>, and nothing live inside it
            folded = _LiveMarkup()
            folded.feed(md.render(record))
            assert folded.found == ["<details>"], f"{path.name}: {folded.found}"
        parser = _LiveMarkup()
        parser.feed(md.render(text))
        problems += [f"{path.name}: {found}" for found in parser.found]
    assert sorted(set(p.split(": ", 1)[1] for p in problems)) == []


def test_mkdocs_turns_no_payload_into_live_html(hostile_notebook: Path):
    """Python-Markdown passes raw HTML through: MkDocs (Material) builds the hostile
    wiki, and no page's content holds a live tag, handler or script URL."""
    import subprocess
    import sys

    out = hostile_notebook / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f",
         str(hostile_notebook / "wiki" / "markdown" / "mkdocs.yml"), "-d", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    pages = list(out.rglob("*.html"))
    assert len(pages) > 10
    problems = []
    for page in pages:
        html = page.read_text(encoding="utf-8")
        if "<article" not in html:
            continue  # the 404 and search pages are Material's own
        start = html.index(">", html.index("<article")) + 1
        parser = _LiveMarkup()
        parser.feed(html[start : html.index("</article>", start)])
        problems += [f"{page.parent.name}: {found}" for found in parser.found]
    assert problems == []


# --------------------------------------------------------------------------- browser
_DOM_PROBLEMS = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.getAttributeNames()) {
      if (attr.startsWith('on')) found.push(`<${el.localName} ${attr}>`);
    }
  }
  for (const el of document.querySelectorAll('script')) {
    const src = el.getAttribute('src');
    if (!src || src.includes(':') || src.startsWith('//')) found.push(`script ${src}`);
  }
  for (const tag of ['iframe', 'frame', 'object', 'embed', 'base', 'form', 'input[type=image]',
                     'meta[http-equiv=refresh]', 'body[background]', 'table[background]']) {
    for (const el of document.querySelectorAll(tag)) found.push(`<${tag}>`);
  }
  for (const a of document.querySelectorAll('a[href], area[href]')) {
    if (!['http:', 'https:', 'mailto:'].includes(a.protocol)) found.push(`link ${a.href}`);
  }
  for (const el of document.querySelectorAll('[src]')) {
    const url = new URL(el.getAttribute('src'), document.baseURI);
    if (url.origin !== location.origin) found.push(`load ${url.href}`);
  }
  return found;
}"""


#: What an inline chart holds beyond the few plain shapes it is drawn with.
_SVG_PROBLEMS = """() => {
  const found = [];
  const allowed = new Set(['svg', 'title', 'line', 'circle', 'text', 'rect']);
  for (const svg of document.querySelectorAll('svg')) {
    for (const el of [svg, ...svg.querySelectorAll('*')]) {
      if (!allowed.has(el.localName)) found.push(`<${el.localName}> in a chart`);
      for (const attr of el.getAttributeNames()) {
        if (attr.startsWith('on') || attr.includes('href') || attr === 'style')
          found.push(`<${el.localName} ${attr}> in a chart`);
      }
    }
  }
  return found;
}"""


@pytest.fixture
def served(hostile_notebook: Path) -> Iterator[tuple[str, Path]]:
    html = hostile_notebook / "wiki" / "html"

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", html
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_payload_runs_in_the_html_wiki(browser: Any, served: tuple[str, Path]):  # noqa: F811
    base, html = served
    # Without its Content Security Policy: the escaping alone must keep everything inert.
    context = browser.new_context(bypass_csp=True, java_script_enabled=True)
    context.set_default_timeout(TIMEOUT_MS)
    ran: list[str] = []

    def leave(route: Any) -> None:
        ran.append(f"request off the site: {route.request.url}")
        route.abort()

    context.route(re.compile(r"^(?!" + re.escape(base) + r"/).*"), leave)
    page = context.new_page()
    page.on("dialog", lambda dialog: (ran.append(f"dialog on {page.url}: {dialog.message}"),
                                      dialog.dismiss()))  # fmt: skip
    page.on("pageerror", lambda exc: ran.append(f"script error on {page.url}: {exc}"))
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html"))
    assert len(pages) > 10 and "search.html" in pages
    text = ""
    charts = 0
    tooltips: list[str] = []
    for name in pages:
        page.goto(f"{base}/{name}")
        page.wait_for_load_state("load")
        page.mouse.move(5, 5)
        page.mouse.move(400, 300)  # hover over whatever is there (onmouseover payloads)
        ran += [f"{name}: {found}" for found in page.evaluate(_DOM_PROBLEMS)]
        ran += [f"{name}: {found}" for found in page.evaluate(_SVG_PROBLEMS)]
        text += page.inner_text("body")
        if name.startswith("metric-"):  # the chart inline, its tooltips the titles as text
            charts += page.locator("main svg.trend").count()
            tooltips += page.eval_on_selector_all(
                "main svg.trend circle > title", "ts => ts.map(t => t.textContent)"
            )
    assert ran == []
    assert charts >= 1
    # hostile titles with markup in them are in the charts' tooltips, as the text written
    shown = [p for p in XSS_PAYLOADS if "<" in p and any(p in tip for tip in tooltips)]
    assert shown, tooltips[:5]
    # the payloads are shown as the text people wrote
    assert "<IMG SRC=JaVaScRiPt:alert('XSS')>" in text
    assert "[click me](javascript:alert(1))" in text
    assert "{{ 7*7 }}" in text
    for query in ("onerror alert", "script", "javascript", "svg onload"):
        page.goto(f"{base}/search.html")
        page.locator("#q").fill(query)
        page.locator("#q").press("Enter")
        page.wait_for_timeout(150)
        ran += [f"search {query!r}: {found}" for found in page.evaluate(_DOM_PROBLEMS)]
    hits = page.locator("#results a")
    assert hits.count() >= 1  # the search did show hostile titles, as text
    context.close()
    assert ran == []
