"""Team wiki pages: from the store or from notes alone, escaped, incremental."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from changenote import site
from changenote.config import load_config
from changenote.store import Store
from changenote.wiki import documents_from_notes, documents_from_store, page_name
from tests.conftest import invoke

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _change(title: str, *extra: str, reason: str = "batch queries", metric: str = "5") -> dict:
    base = invoke("baseline", title, "--metric", "p95_ms=9ms", *extra, "--json")
    assert base.code == 0, base.stderr
    shipped = invoke("ship", "--reason", reason, "--metric", f"p95_ms={metric}ms", "--json")
    assert shipped.code == 0, shipped.stderr
    return shipped.json()


@pytest.fixture
def notebook(project: Path) -> Path:
    _change("Slow search", "--service", "docs", "--owner", "Ada", "--tag", "perf")
    _change(
        "Slow login",
        "--service",
        "auth",
        "--owner",
        "Grace",
        "--tag",
        "perf",
        "--tag",
        "auth",
        reason="cache the session lookup",
    )
    _change("Search again", "--service", "docs", "--owner", "Grace", reason="add an index")
    return project


def test_pages_for_home_notes_groups_metrics(notebook: Path):
    result = invoke("wiki", "--out", "wiki")
    assert result.code == 0, result.stderr
    docs = notebook / "wiki" / "markdown" / "docs"
    names = {p.name for p in docs.iterdir()}
    for expected in (
        "index.md",
        "Home.md",
        "all-notes.md",
        "service-docs.md",
        "service-auth.md",
        "tag-perf.md",
        "tag-auth.md",
        f"{page_name('metric', 'p95_ms')}.md",
        f"{page_name('metric', 'p95_ms')}.svg",
    ):
        assert expected in names, expected
    home = (docs / "index.md").read_text()
    assert "3 change(s) recorded" in home and "[docs](service-docs.md) (2)" in home
    note = (docs / f"{page_name('note', 'slow-search')}.md").read_text()
    assert "## Related notes" in note and "Search again" in note  # same service
    metric = (docs / f"{page_name('metric', 'p95_ms')}.md").read_text()
    assert metric.count("](note-") == 3 and "![p95_ms" in metric
    mkdocs = (notebook / "wiki" / "markdown" / "mkdocs.yml").read_text()
    assert "docs_dir: docs" in mkdocs and '"Home": "index.md"' in mkdocs
    html = notebook / "wiki" / "html"
    page = (html / "index.html").read_text()
    assert 'href="service-docs.html"' in page and '.md"' not in page
    assert (html / "search-index.js").read_text().count('"page":') == 3
    assert "cache the session lookup" in (html / "search-index.js").read_text()
    svg = (html / f"{page_name('metric', 'p95_ms')}.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") == 6


def test_from_notes_gives_the_same_pages(notebook: Path):
    config = load_config(notebook)
    from_store = site.outputs(
        config, documents_from_store(Store(config.store_url())), "both", None
    ).files
    from_notes = site.outputs(config, documents_from_notes(notebook / "notes"), "both", None).files
    assert from_store.keys() == from_notes.keys()
    different = [k for k in from_store if from_store[k] != from_notes[k]]
    assert different == []


def test_incremental_rewrites_only_what_changed_and_keeps_foreign_files(notebook: Path):
    assert invoke("wiki", "--out", "w").code == 0
    (notebook / "w" / "mine.txt").write_text("not written by changenote")
    again = invoke("wiki", "--out", "w")
    assert "0 written" in again.stdout
    ticked = invoke("tick", "search-again", "watch", "--note", "quiet for an hour")
    assert ticked.code == 0, ticked.stderr
    third = invoke("wiki", "--out", "w")
    written = int(third.stdout.split(" written")[0].rsplit(", ", 1)[1])
    assert 0 < written <= 4, third.stdout  # the note page in both formats, the index
    removed_note = next((notebook / "notes").glob("*-slow-login.md"))
    removed_note.unlink()
    fourth = invoke("wiki", "--out", "w", "--from-notes", "notes")
    assert "removed" in fourth.stdout and " 0 removed" not in fourth.stdout
    assert not (notebook / "w" / "html" / f"{page_name('note', 'slow-login')}.html").exists()
    assert (notebook / "w" / "mine.txt").read_text() == "not written by changenote"
    full = invoke("wiki", "--out", "w", "--full", "--from-notes", "notes")
    assert " 0 unchanged" in full.stdout


def test_refuses_a_folder_it_did_not_write(notebook: Path):
    (notebook / "docs-site").mkdir()
    (notebook / "docs-site" / "index.html").write_text("someone else's")
    result = invoke("wiki", "--out", "docs-site")
    assert result.code != 0 and "not written by changenote wiki" in result.stderr
    assert (notebook / "docs-site" / "index.html").read_text() == "someone else's"


def test_hostile_text_is_escaped_in_html_and_inert_in_markdown(project: Path):
    _change(
        f"Fix {HOSTILE}",
        "--service",
        f"svc{HOSTILE}",
        "--tag",
        "<b>bold</b>",
        "--noticed",
        "[click](javascript:alert(3)) and <a href='javascript:alert(4)'>x</a>",
        reason=f"because {HOSTILE} [x](javascript:alert(5))",
    )
    assert invoke("wiki", "--out", "w").code == 0
    for path in (project / "w" / "html").glob("*.html"):
        text = path.read_text()
        assert "<script>alert" not in text, path.name
        assert "onerror=alert" not in text.replace("onerror=alert(2)&gt;", ""), path.name
        assert 'href="javascript:' not in text.lower(), path.name
        assert "<img src=x" not in text, path.name
    for path in (project / "w" / "markdown" / "docs").glob("*.md"):
        text = path.read_text()
        assert not re.search(r"(?<!\\)<script", text), path.name
        assert not re.search(r"(?<!\\)\]\(javascript:", text), path.name
    index = (project / "w" / "html" / "search-index.js").read_text()
    assert "</script" not in index


def test_tags_files_commands_render_as_lists(project: Path, server):
    base = invoke(
        "baseline", "lists", "--http", f"{server.url}/", "--tag", "a", "--tag", "b", "--runs", "3"
    )
    assert base.code == 0, base.stderr
    (project / "app" / "search.py").write_text("changed\n")
    assert invoke("ship", "--reason", "r", "--command", "make deploy").code == 0
    assert invoke("wiki", "--out", "w").code == 0
    page = (project / "w" / "html" / f"{page_name('note', 'lists')}.html").read_text()
    assert "<li><code>app/search.py</code></li>" in page
    assert "<li><code>make deploy</code></li>" in page
    assert "['a', 'b']" not in page and "[&#39;a&#39;" not in page


def test_bad_format_and_missing_notes_folder(project: Path):
    assert "--format must be one of" in invoke("wiki", "--format", "pdf").stderr
    result = invoke("wiki", "--from-notes", "nowhere")
    assert result.code != 0 and "no notes folder" in result.stderr
    data = json.dumps({})
    assert data == "{}"


def test_from_notes_rebuild_reads_only_changed_notes(notebook: Path, monkeypatch):
    from changenote import wiki

    assert invoke("wiki", "--out", "w", "--from-notes", "notes").code == 0
    parsed: list[str] = []
    real = wiki.read_note

    def counting(path: Path):
        parsed.append(path.name)
        return real(path)

    monkeypatch.setattr(wiki, "read_note", counting)
    again = invoke("wiki", "--out", "w", "--from-notes", "notes")
    assert "0 written" in again.stdout and parsed == []
    note = next((notebook / "notes").glob("*-slow-login.md"))
    note.write_text(note.read_text().replace("cache the session lookup", "cache the session row"))
    third = invoke("wiki", "--out", "w", "--from-notes", "notes")
    assert parsed == [note.name], parsed
    page = (notebook / "w" / "html" / f"{page_name('note', 'slow-login')}.html").read_text()
    assert "cache the session row" in page
    assert "cache the session row" in (notebook / "w" / "html" / "search-index.js").read_text()
    assert " 0 written" not in third.stdout


def test_parallel_build_gives_the_same_files(notebook: Path, monkeypatch):
    from changenote import wiki

    assert invoke("wiki", "--out", "serial", "--from-notes", "notes").code == 0
    monkeypatch.setattr(wiki, "PARALLEL_MIN", 1)  # use the process pool even for 3 notes
    assert invoke("wiki", "--out", "parallel", "--from-notes", "notes").code == 0
    serial = {
        p.relative_to(notebook / "serial"): p.read_bytes()
        for p in (notebook / "serial").rglob("*")
        if p.is_file()
    }
    parallel = {
        p.relative_to(notebook / "parallel"): p.read_bytes()
        for p in (notebook / "parallel").rglob("*")
        if p.is_file()
    }
    assert serial.keys() == parallel.keys()
    assert [k for k in serial if serial[k] != parallel[k]] == []
