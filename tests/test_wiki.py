"""Team wiki pages: from the store or from notes alone, escaped, incremental."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from changenote.config import load_config
from changenote.store.db import Store
from changenote.wiki import markup, site
from changenote.wiki.pages import page_name
from changenote.wiki.sources import documents_from_notes, documents_from_store
from changenote.wiki.state import STATE
from tests.conftest import invoke

pytestmark = pytest.mark.usefixtures("store_backend")

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
    assert "docs_dir: docs" in mkdocs and "- Home: index.md" in mkdocs
    html = notebook / "wiki" / "html"
    page = (html / "index.html").read_text()
    assert 'href="service-docs.html"' in page and '.md"' not in page
    assert (html / "search-index.js").read_text().count('"page":') == 3
    assert "cache the session lookup" in (html / "search-index.js").read_text()
    svg = notebook / "wiki" / "markdown" / "docs" / f"{page_name('metric', 'p95_ms')}.svg"
    assert svg.read_text().startswith("<svg") and svg.read_text().count("<circle") == 6
    # the HTML page draws the chart inline: no file beside it
    assert (
        not (html / svg.name).exists()
        and "<svg" in (html / svg.stem).with_suffix(".html").read_text()
    )


def test_from_notes_gives_the_same_pages(notebook: Path):
    config = load_config(notebook)
    from_store = site.outputs(config, documents_from_store(Store(config.store_url())), "both")
    from_notes = site.outputs(config, documents_from_notes(notebook / "notes"), "both")
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
    assert "<li><code>make deploy</code> — given at ship; not run by changenote</li>" in page
    assert "['a', 'b']" not in page and "[&#39;a&#39;" not in page


def test_bad_format_and_missing_notes_folder(project: Path):
    assert "--format must be one of" in invoke("wiki", "--format", "pdf").stderr
    result = invoke("wiki", "--from-notes", "nowhere")
    assert result.code != 0 and "no notes folder" in result.stderr
    data = json.dumps({})
    assert data == "{}"


def test_from_notes_rebuild_reads_only_changed_notes(notebook: Path, monkeypatch):
    from changenote.wiki import sources as wiki

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
    from changenote.wiki import sources as wiki

    assert invoke("wiki", "--out", "serial", "--from-notes", "notes").code == 0
    monkeypatch.setattr(wiki, "PARALLEL_MIN", 1)  # use the process pool even for 3 notes
    assert invoke("wiki", "--out", "parallel", "--from-notes", "notes").code == 0
    serial = {
        p.relative_to(notebook / "serial"): p.read_bytes()
        for p in (notebook / "serial").rglob("*")
        if p.is_file() and p.name != STATE
    }
    parallel = {
        p.relative_to(notebook / "parallel"): p.read_bytes()
        for p in (notebook / "parallel").rglob("*")
        if p.is_file() and p.name != STATE
    }
    assert serial.keys() == parallel.keys()
    assert [k for k in serial if serial[k] != parallel[k]] == []


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != STATE
    }


def test_incremental_from_notes_equals_a_full_build_after_any_edit(notebook: Path, monkeypatch):
    """Pages skipped as unaffected must be exactly what a fresh build would write."""
    import os
    import random

    from changenote.notebook import notes
    from changenote.wiki import pages as wiki

    monkeypatch.setattr(wiki.RelatedIndex, "CANDIDATES", 2)  # make the cut-off matter
    monkeypatch.setattr(wiki, "ALL_PER_PAGE", 4)  # all notes on three pages, then two
    config = load_config(notebook)
    folder = notebook / "notes"
    template = notes.read_note(next(folder.glob("*-slow-search.md")))
    assert template is not None
    rng = random.Random(7)
    services, tags, files = ["docs", "auth", "api"], ["perf", "db", "ui", "x"], list("abcdef")

    def write(doc: dict, name: str) -> None:
        doc = {**doc, "note_path": f"notes/{name}"}
        (folder / name).write_text(notes.text(config, doc))

    for i in range(12):
        doc = dict(template, slug=f"change-{i}", title=f"Change {i}")
        doc.update(
            service=rng.choice(services),
            owner=rng.choice(["Ada", "Grace", "Linus"]),
            tags=rng.sample(tags, rng.randint(0, 2)),
            files_touched=[f"src/{f}.py" for f in rng.sample(files, rng.randint(0, 3))],
            shipped_at=f"2026-0{1 + i % 9}-1{i % 10}T10:00:00+00:00",
        )
        write(doc, f"2026-01-{i:02d}-change-{i}.md")
    assert invoke("wiki", "--out", "w", "--from-notes", "notes").code == 0
    written: list[int] = []
    for step in range(12):
        paths = sorted(folder.glob("*.md"))
        victim = rng.choice(paths)
        doc = notes.read_note(victim)
        assert doc is not None
        action = step % 6
        if action == 5:
            doc["reason"] = f"reworded {step}"  # shown on its own page and in search only
        elif action == 0:
            doc["service"] = rng.choice(services)
        elif action == 1:
            doc["tags"] = rng.sample(tags, rng.randint(0, 3))
        elif action == 2:
            doc["files_touched"] = [f"src/{f}.py" for f in rng.sample(files, 2)]
            doc["title"] = f"Renamed {step}"
        elif action == 3:
            doc["shipped_at"] = "2027-01-01T00:00:00+00:00"  # now the newest
            doc["owner"] = "Margaret"
        if action == 4:
            victim.unlink()
        else:
            # mtime must move even on a coarse file system clock: the cache keys on it
            write(doc, victim.name)
            stamp = victim.stat().st_mtime_ns + 10**9 * (step + 1)
            os.utime(victim, ns=(stamp, stamp))
        rebuilt = invoke("wiki", "--out", "w", "--from-notes", "notes")
        assert rebuilt.code == 0, rebuilt.stderr
        fresh = invoke("wiki", "--out", f"fresh{step}", "--from-notes", "notes")
        assert fresh.code == 0, fresh.stderr
        incremental, full = _tree(notebook / "w"), _tree(notebook / f"fresh{step}")
        assert incremental.keys() == full.keys(), step
        assert [k for k in full if incremental[k] != full[k]] == [], (step, action)
        written.append(int(rebuilt.stdout.split(" written")[0].rsplit(", ", 1)[1]))
    total = len(_tree(notebook / "w"))
    assert any(0 < n < total // 2 for n in written), written  # it did skip pages


@pytest.mark.parametrize("seed", range(40))
def test_long_tables_render_in_slices_exactly_as_whole(seed: int, monkeypatch):
    """Slicing long tables (to bound memory) never changes a page's HTML."""
    import random

    monkeypatch.setattr(site, "_LONG_PAGE", 0)
    monkeypatch.setattr(site, "_TABLE_ROWS", 3)
    rng = random.Random(seed)
    md = markup.renderer()
    pieces = [
        "# Title\n",
        "",
        "text with a [link](note-x.md) and `code`",
        "| a | b |\n|---|---:|\n" + "".join(f"| {i} | [n{i}](n{i}.md) |\n" for i in range(9)),
        "| a | b |\n|---|---|\n| only | one |",
        "```\n| a | b |\n|---|---|\n| in | fence |\n```",
        "- item\n- item two",
        "| x |\n|---|\n" + "| \\| escaped \\| |\n" * 7 + "not a row, right after",
        "> quote\n> | q | q |",
        "    | indented | code |\n    |---|---|",
        "| h | h |\n|:-:|---|\n" + "| *em* | <script> |\n" * 5,
    ]
    text = "\n".join(rng.choice(["", "\n"]) + rng.choice(pieces) for _ in range(8))
    assert site._render_markdown(md, text) == md.render(text), text


def test_a_second_build_into_the_same_folder_waits_its_turn(notebook: Path):
    from changenote.wiki.state import WikiState

    assert invoke("wiki", "--out", "w").code == 0
    before = _tree(notebook / "w")
    holder = WikiState.open(notebook / "w")  # a build in progress holds the lock
    try:
        second = invoke("wiki", "--out", "w", "--full")
        assert second.code != 0
        assert "another wiki build is writing to" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        holder.close()
    assert _tree(notebook / "w") == before
    assert invoke("wiki", "--out", "w").code == 0


def test_a_damaged_state_file_is_one_clear_error(notebook: Path):
    assert invoke("wiki", "--out", "w").code == 0
    (notebook / "w" / STATE).write_bytes(b"this is not a database" * 100)
    result = invoke("wiki", "--out", "w")
    assert result.code != 0 and "is damaged" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_names_differing_in_case_or_punctuation_get_their_own_pages():
    names = ["api", "API", "db-pool", "db_pool", "Db Pool", "q3 cleanup", "Q3 cleanup"]
    pages = {page_name("tag", n) for n in names}
    assert len(pages) == len(names)
    assert page_name("tag", "api") == "tag-api" and page_name("tag", "db-pool") == "tag-db-pool"


def test_all_notes_are_listed_on_linked_pages_of_a_few_hundred(notebook: Path, monkeypatch):
    from changenote.wiki import pages as wiki

    monkeypatch.setattr(wiki, "ALL_PER_PAGE", 2)
    assert invoke("wiki", "--out", "wiki", "--format", "both").code == 0
    docs = notebook / "wiki" / "markdown" / "docs"
    first, second = (docs / "all-notes.md").read_text(), (docs / "all-notes--2.md").read_text()
    assert not (docs / "all-notes--3.md").exists()  # 3 notes, 2 to a page
    assert "[Older notes](all-notes--2.md)" in first and "Newer notes" not in first
    assert "[Newer notes](all-notes.md)" in second and "Older notes" not in second
    listed = [line for text in (first, second) for line in text.splitlines() if "](note-" in line]
    assert len(listed) == 3 == len({line.split("](")[1] for line in listed})
    assert (
        '<a href="all-notes--2.html">Older notes</a>'
        in (notebook / "wiki" / "html" / "all-notes.html").read_text()
    )
    # a new note moves the last one to a new third page; the old pages are kept in step
    _change("Fourth", "--service", "docs", reason="more")
    _change("Fifth", "--service", "docs", reason="more")
    assert invoke("wiki", "--out", "wiki", "--format", "both").code == 0
    assert (docs / "all-notes--3.md").is_file()
    assert "Older notes" not in (docs / "all-notes--3.md").read_text()
    # a metric's figures too: the chart on the first page, newest first, 2 to a page
    metric = page_name("metric", "p95_ms")
    pages = sorted(p.name for p in docs.glob(f"{metric}*.md"))
    assert pages == [f"{metric}--2.md", f"{metric}--3.md", f"{metric}.md"]
    texts = [(docs / name).read_text() for name in (f"{metric}.md", f"{metric}--2.md",
                                                    f"{metric}--3.md")]  # fmt: skip
    assert "![p95" in texts[0] and f"[Older figures]({metric}--2.md)" in texts[0]
    assert all("![p95" not in text for text in texts[1:])
    rows = [line for text in texts for line in text.splitlines() if "](note-" in line]
    assert len(rows) == 5 == len({line.split("](")[1] for line in rows})


def _portable(text: str) -> list[str]:
    """What in ``text`` would render differently in Python-Markdown (MkDocs) than in GFM."""
    problems = []
    lines = text.split("\n")
    in_item = False
    for i, line in enumerate(lines):
        previous = lines[i - 1] if i else ""
        if line.startswith("|") and previous.strip() and not previous.startswith("|"):
            problems.append(f"no blank line before the table at line {i + 1}")
        if line.startswith(("- ", "* ", "1. ")):
            in_item = True
        elif not line.strip():
            in_item = False
        elif in_item and line.lstrip().startswith("#"):
            problems.append(f"a heading inside a list item at line {i + 1}")
        indent = len(line) - len(line.lstrip(" "))
        if line.lstrip().startswith("- ") and indent % 4:
            problems.append(f"a nested list indented {indent} spaces at line {i + 1}")
    return problems


def test_the_home_page_shows_what_needs_attention_in_portable_markdown(notebook: Path):
    """Regressed, waiting to ship, needing review, recent changes with their verdicts, as
    tables GFM and MkDocs both see (a blank line before each); the HTML title is plain."""
    from markdown_it import MarkdownIt

    assert invoke("baseline", "Open one", "--metric", "p95_ms=9ms").code == 0
    assert invoke("review", "slow-login", "--status", "reviewed", "--by", "Linus").code == 0
    assert invoke("wiki", "--out", "wiki").code == 0
    home = (notebook / "wiki" / "markdown" / "docs" / "index.md").read_text()
    assert _portable(home) == []
    html = MarkdownIt("commonmark").enable("table").render(home)
    assert html.count("<table>") == home.count("\n|---") == 3  # waiting, review, recent
    assert "No shipped change has a regressed verdict." in home
    assert "| [Open one](note-open-one.md) | Test Owner | docs |" in home
    review = home.split("## Needs review", 1)[1].split("##", 1)[0]
    assert "Slow search" in review and "Search again" in review and "Slow login" not in review
    recent = home.split("## Recent changes", 1)[1].split("##", 1)[0]
    assert "| [Slow search](note-slow-search.md) | no test | p95_ms 9 ms → 5 ms" in recent
    page = (notebook / "wiki" / "html" / "index.html").read_text()
    assert "<title>Home · changenote wiki</title>" in page
    assert '<span class="verdict verdict-no-test">no test</span>' in page
    assert '<span class="review review-drafted">drafted</span>' in page


def test_a_chart_draws_one_series_per_probe_and_a_log_axis_past_ten_times():
    from changenote.wiki.charts import trend_svg

    def point(n: int, probe: str, before: float, after: float) -> dict:
        return {"date": f"2026-12-0{n}", "page": f"note-{n}", "title": f"<b>T{n}</b>",
                "probe": probe, "before": before, "after": after, "unit": "ms"}  # fmt: skip

    points = [point(1, "GET /a", 400, 380), point(2, "GET /b", 3, 2), point(3, "GET /a", 380, 390)]
    svg = trend_svg("time_ms", points, inline=True)
    assert "log scale" in svg and "viewBox" not in svg and 'width="100%"' in svg
    assert svg.count('class="s0 key"') == 1 and svg.count('class="s1 key"') == 1
    assert svg.count("<circle") == 6 and svg.count("<title>") == 7  # the chart's, each point's
    assert "&lt;b&gt;T1&lt;/b&gt;" in svg and "<b>" not in svg
    assert svg.count('<line class="s0 line"') == 2  # /a before and after, joined; /b alone
    linear = trend_svg("time_ms", [point(1, "GET /a", 40, 38), point(2, "GET /a", 30, 20)])
    assert "linear scale" in linear and 'viewBox="0 0 640 ' in linear


def test_a_chart_of_very_many_changes_shows_the_newest_and_says_so():
    from changenote.wiki.charts import CHART_CHANGES, trend_svg

    points = [
        {"date": f"2026-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}", "page": f"note-{n}",
         "title": f"T{n}", "probe": "GET /a", "before": 10.0 + n, "after": 9.0, "unit": "ms"}
        for n in range(CHART_CHANGES + 50)
    ]  # fmt: skip
    svg = trend_svg("time_ms", points, inline=True)
    assert svg.count("<circle") == 2 * CHART_CHANGES
    assert f"the newest {CHART_CHANGES} of {CHART_CHANGES + 50} changes" in svg
    assert "T49," not in svg and f"T{CHART_CHANGES + 49}," in svg  # the oldest left out
    few = trend_svg("time_ms", points[:CHART_CHANGES], inline=True)
    assert "the newest" not in few and few.count("<circle") == 2 * CHART_CHANGES
