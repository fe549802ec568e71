"""Notes and wiki pages as teams read them: built by MkDocs (Material, Python-Markdown)
and rendered by cmark-gfm (GitHub's renderer), they must come out the same.

Both renderers are the real ones: ``mkdocs`` and ``mkdocs-material`` from the test
extra, Debian's ``cmark-gfm`` (installed by ``.ci/run``). Where cmark-gfm is missing the
tests that need it skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from changenote.notebook import note_yaml
from changenote.wiki.site import MKDOCS_EXTENSIONS
from tests.conftest import inside, invoke, new_repository

ON_CI = os.environ.get("CI", "").strip().lower() == "true"
#: User text that every renderer must show as itself.
TRICKY_TITLE = "Slow search | C# and db_calls < 2 with html<b>"


def _ok(result: Any) -> Any:
    assert result.code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three changes with the markdown that broke before: a table, nested lists (probes,
    expectations), task lists (checklist, follow-ups), `#1` probe refs, pipes, `<`,
    underscores, and strings a YAML 1.2 reader would take for numbers."""
    root = new_repository(tmp_path_factory.mktemp("md") / "svc")
    with inside(root):
        _ok(invoke(
            "baseline", TRICKY_TITLE, "--cmd", "printf x | cat", "--cmd", "true",
            "--runs", "3", "--warmup", "0", "--input", "1e3", "--noticed", "0o17",
            "--expect", "time_ms p95 < 10s; no html<b> in the page", "--tag", "snake_case",
            "--tag", "1e3", "--route", "/search?q=a|b",
        ))  # fmt: skip
        _ok(invoke("tick", "backup", "--note", "copied _config_ to backup/"))
        _ok(invoke(
            "ship", "--reason", "batch the *queries* [all] of `db`",
            "--command", "make deploy | tee log", "--rollback", "yes",
        ))  # fmt: skip
        _ok(invoke("follow-up", "1", "index the _title_ column", "--owner", "Grace"))
        _ok(invoke("follow-up", "1", "drop the cache", "--due", "2027-01-15"))
        _ok(invoke("follow-up", "1", "--done", "2", "--note", "done in #7"))
        _ok(invoke("baseline", "Billing export", "--metric", "p95_ms=900ms",
                   "--service", "billing", "--owner", "Grace", "--tag", "perf"))  # fmt: skip
        _ok(invoke("ship", "2", "--metric", "p95_ms=300ms", "--reason", "stream rows"))
        _ok(invoke("baseline", "Open one", "--metric", "p95_ms=5ms", "--tag", "perf"))
        _ok(invoke("wiki", "--out", "wiki", "--format", "markdown"))
        yield root


@pytest.fixture(scope="module")
def site(notebook: Path) -> Path:
    """The markdown wiki built by MkDocs with Material, strictly."""
    out = notebook / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
         "-f", str(notebook / "wiki" / "markdown" / "mkdocs.yml"), "-d", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _cmark() -> str:
    found = shutil.which("cmark-gfm")
    if found is None:
        if ON_CI:
            pytest.fail("CI=true but cmark-gfm is missing (.ci/run installs it)", pytrace=False)
        pytest.skip("cmark-gfm is not installed (Debian package cmark-gfm)")
    return found


def gfm(text: str) -> str:
    """``text`` as GitHub renders it (cmark-gfm with GitHub's extensions)."""
    done = subprocess.run(
        [_cmark(), "--unsafe", *(a for e in
         ("table", "tasklist", "strikethrough", "autolink", "tagfilter") for a in ("-e", e))],
        input=text, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


class Shape(HTMLParser):
    """The block structure of an HTML page: headings, lists and their nesting, tables,
    rows and cells, code blocks, checkboxes; and the text outside code."""

    BLOCKS = frozenset(
        [
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "ul",
            "ol",
            "li",
            "table",
            "tr",
            "th",
            "td",
            "pre",
            "blockquote",
            "hr",
            "details",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[str] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.headings_in_items = 0
        self.headerlink = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and "headerlink" in (found.get("class") or ""):
            self.headerlink += 1  # MkDocs' permalink anchors: not the page's own text
        if tag in self.BLOCKS:
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and "li" in self.open:
                self.headings_in_items += 1
            self.shape.append(f"{'  ' * self.open.count('ul')}{tag}")
            self.open.append(tag)
        if tag == "input" and found.get("type") == "checkbox":
            self.shape.append("[x]" if "checked" in found else "[ ]")
        if tag == "code":
            self.open.append("code")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.headerlink:
            self.headerlink -= 1
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "code" not in self.open and "pre" not in self.open and not self.headerlink:
            self.text.append(data)


def shape(html: str) -> Shape:
    parsed = Shape()
    parsed.feed(html)
    return parsed


def _article(page: str) -> str:
    """The page's own content in a Material page (not its nav, header or footer)."""
    start = page.index("<article")
    return page[page.index(">", start) + 1 : page.index("</article>", start)]


def _pages(notebook: Path) -> list[Path]:
    docs = notebook / "wiki" / "markdown" / "docs"
    return sorted(p for p in docs.glob("*.md") if p.name != "Home.md")


_DELIMITER_ROW = re.compile(r"^\|(?: *:?-+:? *\|)+$", re.M)
_TASK = re.compile(r"^ *- \[([ x])\] ", re.M)
#: A backslash a renderer left in the text: it did not know that escape.
_STRAY_ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")


def test_mkdocs_builds_every_page_with_tables_lists_and_checkboxes(notebook: Path, site: Path):
    pages = _pages(notebook)
    assert len(pages) >= 8
    for source in pages:
        markdown = source.read_text(encoding="utf-8")
        built = site / ("index.html" if source.stem == "index" else f"{source.stem}/index.html")
        html = _article(built.read_text(encoding="utf-8"))
        found = shape(html)
        assert html.count("<table") == len(_DELIMITER_ROW.findall(markdown)), source.name
        assert found.headings_in_items == 0, f"{source.name}: a heading inside a list item"
        stray = _STRAY_ESCAPE.findall("".join(found.text))
        assert not stray, f"{source.name}: backslashes shown: {stray}"
        tasks = [m.group(1) == "x" for m in _TASK.finditer(markdown)]
        boxes = [s == "[x]" for s in found.shape if s in ("[x]", "[ ]")]
        assert boxes == tasks, f"{source.name}: checkboxes {boxes} for task items {tasks}"
    note = next(p for p in pages if p.name.startswith("note-slow-search"))
    text = "".join(shape(_article((site / note.stem / "index.html").read_text())).text)
    assert TRICKY_TITLE in text  # shown as typed: the pipe, the #, the < and the <b>
    assert "batch the *queries* [all] of `db`" in text


def test_the_note_has_a_table_of_contents_of_its_sections(notebook: Path, site: Path):
    note = next(p for p in _pages(notebook) if p.name.startswith("note-slow-search"))
    page = (site / note.stem / "index.html").read_text(encoding="utf-8")
    toc = page[page.index('data-md-component="toc"') : page.index("<article")]
    for section in ("Baseline", "The change", "Results", "Checklist", "Follow-ups"):
        assert f"{section}\n" in toc or f"{section}<" in toc, section


def test_the_nav_lists_home_notes_follow_ups_and_each_service(site: Path, notebook: Path):
    config = yaml.safe_load((notebook / "wiki" / "markdown" / "mkdocs.yml").read_text())
    nav = [next(iter(item)) for item in config["nav"]]
    assert nav[:3] == ["Home", "All notes", "Open follow-ups"]
    assert {"Services", "Owners", "Tags"} <= set(nav)
    services = next(item["Services"] for item in config["nav"] if "Services" in item)
    assert sorted(next(iter(s)) for s in services) == ["billing", "docs"]
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "billing" in home[: home.index("<article")]  # in the rendered nav


def test_cmark_gfm_gives_the_same_structure_as_mkdocs(notebook: Path, site: Path):
    for source in _pages(notebook):
        markdown = source.read_text(encoding="utf-8")
        built = site / ("index.html" if source.stem == "index" else f"{source.stem}/index.html")
        mkdocs = shape(_article(built.read_text(encoding="utf-8")))
        github = shape(gfm(markdown))
        assert github.shape == mkdocs.shape, source.name
        assert not _STRAY_ESCAPE.findall("".join(github.text)), source.name
        assert github.headings_in_items == 0, source.name


def _note_files(notebook: Path) -> list[Path]:
    found = sorted((notebook / "notes").glob("*.md"))
    assert len(found) == 2  # the shipped changes
    return found


def test_a_note_starts_short_and_folds_its_record_on_github(notebook: Path):
    for path in _note_files(notebook):
        text = path.read_text(encoding="utf-8")
        front = text.split("\n---\n", 1)[0]
        assert len(front.splitlines()) <= 25, path.name  # "---" and what a reader scans
        assert re.search(r"^# ", text[: text.index("## ")], re.M), path.name  # title first
        assert text.index("\n# ") < len("\n".join(text.splitlines()[:40]))
        body = text.split("\n---\n", 1)[1]
        html = gfm(body)
        folded = html[html.index("<details>") :]
        assert html.count("<details>") == 1 and folded.index("<pre") < folded.index("</details>")
        assert "<summary>Change record" in folded
        record = note_yaml.split(text, path.name)[1]
        assert record is not None and "schema: changenote/change@1" in record


def test_the_record_folds_in_python_markdown_as_mkdocs_has_it(notebook: Path):
    """A team that points MkDocs at notes/ sees the record folded as code, not as text."""
    import markdown

    for path in _note_files(notebook):
        body = path.read_text(encoding="utf-8").split("\n---\n", 1)[1]
        names = [e if isinstance(e, str) else next(iter(e)) for e in MKDOCS_EXTENSIONS]
        html = markdown.markdown(body, extensions=[*names, "fenced_code"])
        folded = html[html.index("<details>") :]
        assert folded.index("<pre><code") < folded.index("</details>"), path.name
        assert "schema: changenote/change@1" in folded
        assert folded.count("<p>") <= 1  # the YAML did not spill out as paragraphs


def test_every_yaml_block_reads_the_same_in_yaml_1_1_and_1_2(notebook: Path):
    """PyYAML (YAML 1.1) and ruamel.yaml (YAML 1.2) give the same values and types for
    every note's front matter and record, and for the generated mkdocs.yml."""
    from ruamel.yaml import YAML

    strict = YAML(typ="safe", pure=True)
    blocks = [(notebook / "wiki" / "markdown" / "mkdocs.yml").read_text()]
    for path in _note_files(notebook):
        front, record = note_yaml.split(path.read_text(encoding="utf-8"), path.name)
        blocks += [front or "", record or ""]
    seen_strings: set[str] = set()
    for block in blocks:
        old = yaml.load(block, Loader=yaml.CSafeLoader)
        new = strict.load(block)
        assert _typed(old) == _typed(new)
        seen_strings.update(_strings(old))
    assert {"1e3", "0o17", "yes"} <= seen_strings  # they were there, and stayed strings


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {_typed(k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value
