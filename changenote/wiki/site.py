"""Writing the wiki: markdown (GitHub wiki / MkDocs) and a static HTML site, incrementally.

Every page is rendered to markdown once; the HTML page is that markdown through
markdown-it-py with raw HTML off and links limited to safe schemes, inside a Jinja2
template with autoescape on. A manifest of content hashes in the output folder
lets a rebuild rewrite only what changed, remove pages of removed notes, and never
touch a file it did not write.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changenote.config import Config
from changenote.errors import ChangenoteError
from changenote.wiki.markup import TABLE_END
from changenote.wiki.pages import Page

FORMATS = ("markdown", "html", "both")
_STATIC = ("style.css", "search.js", "favicon.svg")


@dataclass
class BuildResult:
    """What a build did."""

    out: Path
    pages: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: Changes left out because they cannot be read (UnreadableChangeError each).
    skipped: list[Any] = field(default_factory=list)


#: The MkDocs configuration: the home page and the index of all notes lead everywhere.
#: The Python-Markdown extensions that make the pages read as they do on GitHub (cmark-gfm):
#: tables, task lists as checkboxes, heading anchors; attr_list because teams' MkDocs
#: sites have it on (user text escapes ``{``, so it never applies attributes).
MKDOCS_EXTENSIONS: list[Any] = [
    "tables",
    "attr_list",
    {"toc": {"permalink": True}},
    {"pymdownx.tasklist": {"custom_checkbox": True}},
]
#: Each kind of group page in the nav, and at most how many of its pages it lists.
_NAV_GROUPS = (("Services", "service"), ("Owners", "owner"), ("Tags", "tag"))
NAV_PER_GROUP = 50


def mkdocs_yml(docs: list[dict[str, Any]]) -> str:
    """``mkdocs.yml`` for the markdown wiki: Material, the extensions above, and a nav of
    the pages people look for (home, all notes, follow-ups, each service, owner, tag)."""
    from collections import Counter

    from changenote.notebook import note_yaml
    from changenote.wiki.pages import page_name

    nav: list[Any] = [
        {"Home": "index.md"},
        {"All notes": "all-notes.md"},
        {"Open follow-ups": "follow-ups.md"},
    ]
    for heading, kind in _NAV_GROUPS:
        counts: Counter[str] = Counter()
        for doc in docs:
            names = doc.get("tags") or [] if kind == "tag" else [doc.get(kind)]
            counts.update(n for n in names if isinstance(n, str) and n)
        if counts:
            top = sorted(counts, key=lambda n: (-counts[n], n))[:NAV_PER_GROUP]
            nav.append({heading: [{n: f"{page_name(kind, n)}.md"} for n in sorted(top)]})
    config = {
        "site_name": "changenote wiki",
        "docs_dir": "docs",
        "theme": {"name": "material", "features": ["navigation.sections"]},
        "markdown_extensions": MKDOCS_EXTENSIONS,
        "nav": nav,
    }
    return "# written by changenote wiki (needs mkdocs-material)\n" + note_yaml.dump(config)


def _templates_salt(config: Config) -> str:
    """A hash of the wiki templates in use: editing one rebuilds the pages it makes."""
    from changenote.render import builtin_templates

    digest = hashlib.sha256()
    for folder in (config.templates_path, builtin_templates()):
        if folder is not None and (folder / "wiki").is_dir():
            for path in sorted((folder / "wiki").iterdir()):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        if folder is not None and (folder / "note.md.j2").is_file():
            digest.update((folder / "note.md.j2").read_bytes())
    return digest.hexdigest()


def pages_and_files(
    config: Config,
    docs: list[dict[str, Any]],
    fmt: str,
    previous: Callable[[str], str | None] | None = None,
    dirty: set[str] | None = None,
    note_loader: Callable[[dict[str, Any]], str] | None = None,
    pool: Any = None,
) -> tuple[int, Iterator[tuple[Page, dict[str, str]]]]:
    """How many pages there are, and each page with the files it makes, one at a time.

    A page whose inputs are unchanged since the last build comes with no files
    (``previous`` and ``dirty`` as for :func:`changenote.wiki.pages.build_pages`). Only a
    bounded number of pages is held at once, however large the wiki.
    ``note_loader`` gives the note body of a digest when its page must be rendered;
    ``pool`` (see :func:`changenote.wiki.sources.process_pool`) renders HTML on every CPU.
    """
    from changenote import render
    from changenote.notebook import notes
    from changenote.wiki.pages import build_pages

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    override = config.templates_path

    def page_markdown(name: str, context: dict[str, Any]) -> str:
        return render.render(f"wiki/{name}", context, override)

    def note_text(doc: dict[str, Any]) -> str:
        if note_loader is not None and "runs" not in doc:
            return note_loader(doc)
        return notes.text(config, doc, with_record=False)

    total, pages = build_pages(docs, page_markdown, note_text, salt(config, fmt), previous, dirty)
    markdown = fmt in ("markdown", "both")
    html = fmt in ("html", "both")

    def files() -> Iterator[tuple[Page, dict[str, str]]]:
        for page, page_html in _with_html(pages, override, pool) if html else _no_html(pages):
            made: dict[str, str] = {}
            if page.markdown is None:
                yield page, made
                continue
            if markdown:
                made[f"markdown/docs/{page.name}.md"] = page.markdown
                if page.name == "index":
                    made["markdown/docs/Home.md"] = page.markdown
                for asset, content in page.assets.items():
                    made[f"markdown/docs/{asset}"] = content
            if page_html is not None:
                made[f"html/{page.name}.html"] = page_html
                for asset, content in page.assets.items():
                    if asset not in page.embeds:  # an inlined chart needs no file beside it
                        made[f"html/{asset}"] = content
            yield page, made

    return total, files()


def site_files(config: Config, docs: list[dict[str, Any]], fmt: str) -> dict[str, str]:
    """The files that belong to the whole site rather than to a page."""
    from changenote import render
    from changenote.wiki.pages import digest, search_index

    made: dict[str, str] = {}
    override = config.templates_path
    if fmt in ("markdown", "both"):
        made["markdown/mkdocs.yml"] = mkdocs_yml(docs)
    if fmt in ("html", "both"):
        lights = [d if "note_hash" in d else digest(d) for d in docs]
        made["html/search.html"] = render.render("wiki/search.html.j2", {}, override)
        made["html/search-index.js"] = search_index(lights)
        for name in _STATIC:
            made[f"html/{name}"] = render.static(f"wiki/{name}", override)
    return made


def outputs(config: Config, docs: list[dict[str, Any]], fmt: str) -> dict[str, str]:
    """Every output file of the wiki in memory, by path relative to the output folder."""
    _, pages = pages_and_files(config, docs, fmt)
    made = site_files(config, docs, fmt)
    for _, files in pages:
        made.update(files)
    return made


_RENDERER: Any = None

#: Pages longer than this have their long tables rendered a slice of rows at a time:
#: markdown-it holds ~15 KB of tokens per table row, so a 10,000-row index would need
#: about 150 MB at once. The result is byte for byte the same.
_LONG_PAGE = 200_000
_TABLE_ROWS = 400
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]*\]:", re.MULTILINE)


def _render_markdown(md: Any, text: str, env: dict[str, Any] | None = None) -> str:
    """``md.render(text, env)``, with long top-level tables rendered in slices of rows.

    A table is sliced only where that cannot change the result: it starts at the first
    column after a blank line (or at the top), outside any code fence, and ends at a
    blank line or the end; the page defines no link references. Rows of a table are
    parsed independently, so slices rendered under the same header and joined give
    the same HTML.
    """
    if len(text) < _LONG_PAGE or _REFERENCE.search(text):
        return str(md.render(text, env))
    lines = text.split("\n")
    out: list[str] = []
    start = i = 0
    fence = ""
    while i < len(lines):
        line = lines[i]
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            i += 1
            continue
        if opened:
            fence = opened.group(1)
            i += 1
            continue
        table = (
            line.startswith("|")
            and i + 1 < len(lines)
            and _DELIMITER.match(lines[i + 1]) is not None
            and (i == 0 or not lines[i - 1].strip())
        )
        if not table:
            i += 1
            continue
        end = i + 2
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        if end < len(lines) and lines[end].strip():
            i = end  # something follows without a blank line: leave the table whole
            continue
        sliced = _table_html(md, lines[i], lines[i + 1], lines[i + 2 : end])
        if sliced is not None:
            out.append(str(md.render("\n".join(lines[start:i]) + "\n", env)) if i > start else "")
            out.append(sliced)
            start = end
        i = end
    if start == 0:
        return str(md.render(text, env))
    out.append(str(md.render("\n".join(lines[start:]), env)))
    return "".join(out)


def _table_html(md: Any, header: str, delimiter: str, rows: list[str]) -> str | None:
    """One table's HTML, rendered ``_TABLE_ROWS`` rows at a time; None if unsure."""
    if len(rows) <= _TABLE_ROWS:
        return None
    parts: list[str] = []
    for k in range(0, len(rows), _TABLE_ROWS):
        html = str(md.render("\n".join([header, delimiter, *rows[k : k + _TABLE_ROWS]]) + "\n"))
        body = html.find("<tbody>\n")
        if body < 0 or not html.endswith(TABLE_END) or html.count("<table>") != 1:
            return None
        parts.append(html[: -len(TABLE_END)] if k == 0 else html[body + 8 : -len(TABLE_END)])
    return "".join(parts) + TABLE_END


#: What a worker needs to make one page's HTML: its name, title, markdown, the
#: template override folder and its inline charts (by the file name its markdown shows).
_Job = tuple[str, str, str, Path | None, dict[str, str]]


def _html_page(args: _Job) -> str:
    """One page's HTML: its markdown through markdown-it, inside the page template."""
    from changenote import render
    from changenote.wiki.markup import renderer

    global _RENDERER
    if _RENDERER is None:  # one per process
        _RENDERER = renderer()
    _, title, markdown, override, embeds = args
    body = render.markup(_render_markdown(_RENDERER, markdown, {"embeds": embeds}))
    return render.render("wiki/page.html.j2", {"title": title, "body": body}, override)


def _html_chunk(jobs: list[_Job]) -> list[str]:
    return [_html_page(job) for job in jobs]


def _no_html(pages: Iterable[Page]) -> Iterator[tuple[Page, str | None]]:
    for page in pages:
        yield page, None


#: A job sent to a worker holds this many pages, or fewer if they are long; this many
#: jobs per worker, or this much markdown, are in flight at once.
_CHUNK_PAGES = 32
_CHUNK_BYTES = 256_000
_AHEAD = 3
_FLIGHT_BYTES = 2_000_000


def _with_html(
    pages: Iterable[Page], override: Path | None, pool: Any
) -> Iterator[tuple[Page, str | None]]:
    """Each page with its HTML (None for a page not rendered again), in bounded memory.

    With a pool and many pages to render, markdown-it (the cost) runs in the workers
    while this process renders the next pages' markdown; only a few chunks are in
    flight at once.
    """
    import os
    from collections import deque
    from concurrent.futures import Future

    from changenote.wiki import sources

    pending: list[Page] = []
    pending_bytes = 0
    flight: deque[tuple[list[Page], int, Future[list[str]]]] = deque()
    flight_bytes = 0
    parallel = False
    most = _AHEAD * (os.cpu_count() or 1)

    def jobs(batch: list[Page]) -> list[_Job]:
        return [(p.name, p.title, p.markdown or "", override, p.embeds) for p in batch]

    for page in pages:
        if page.markdown is None:
            yield page, None
            continue
        pending.append(page)
        pending_bytes += len(page.markdown)
        parallel = parallel or (pool is not None and len(pending) >= sources.PARALLEL_MIN)
        if not parallel or (len(pending) < _CHUNK_PAGES and pending_bytes < _CHUNK_BYTES):
            continue
        flight.append((pending, pending_bytes, pool.submit(_html_chunk, jobs(pending))))
        flight_bytes += pending_bytes
        pending, pending_bytes = [], 0
        while len(flight) > most or flight_bytes > _FLIGHT_BYTES:
            batch, size, future = flight.popleft()
            flight_bytes -= size
            yield from zip(batch, future.result(), strict=True)
    if not parallel:
        for page in pending:
            yield page, _html_page(jobs([page])[0])
        return
    if pending:
        flight.append((pending, pending_bytes, pool.submit(_html_chunk, jobs(pending))))
    while flight:
        batch, _, future = flight.popleft()
        yield from zip(batch, future.result(), strict=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _on_disk(out: Path) -> set[str]:
    """Every file under ``out``'s page folders, by path relative to ``out``."""
    import os

    found: set[str] = set()
    for folder in ("markdown", "markdown/docs", "html"):
        try:
            with os.scandir(out / folder) as entries:
                found.update(f"{folder}/{e.name}" for e in entries if e.is_file())
        except FileNotFoundError:
            pass
    return found


class _Writer:
    """Writes files that changed, counts the rest, and removes what is no longer made."""

    def __init__(self, out: Path, old: dict[str, str], on_disk: set[str], full: bool) -> None:
        self.out = out
        self.old = old
        self.on_disk = on_disk
        self.full = full
        self.files: dict[str, str] = {}
        self.result = BuildResult(out=out)
        #: The file being written now: if the build stops there, it may be old or new.
        self.writing: str | None = None

    def put(self, path: str, text: str) -> None:
        import errno

        from changenote.files import write_atomic

        digest = _digest(text)
        self.files[path] = digest
        if not self.full and self.old.get(path) == digest and path in self.on_disk:
            self.result.unchanged += 1
            return
        self.writing = path
        try:
            write_atomic(self.out / path, text, durable=False)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ChangenoteError(
                    f"disk full: cannot write {self.out / path}; free some space and run "
                    "the build again"
                ) from None
            raise
        self.result.written.append(path)
        self.writing = None

    def written(self) -> dict[str, str | None]:
        """What this build wrote so far: each file's content hash (None: not there)."""
        done: dict[str, str | None] = {path: self.files[path] for path in self.result.written}
        if self.writing is not None:
            try:
                on_disk = (self.out / self.writing).read_bytes()
                done[self.writing] = hashlib.sha256(on_disk).hexdigest()
            except OSError:
                done[self.writing] = None
        return done

    def keep(self, path: str) -> None:
        self.files[path] = self.old[path]
        self.result.unchanged += 1

    def finish(self) -> BuildResult:
        for path in sorted(self.old.keys() - self.files.keys()):
            target = self.out / path
            if target.is_file():
                target.unlink()
                self.result.removed.append(path)
        self.result.pages = len(self.files)
        return self.result


#: The shape of what the Python side writes (escaping, charts, the HTML renderer's
#: badges, tables and checkboxes): bumped when it changes, so a wiki written by an older
#: changenote is rendered again, every page.
RENDERING = "4"


def salt(config: Config, fmt: str) -> str:
    """What every page depends on besides its data: the templates in use, the format and
    the renderer's own shape."""
    return f"{_templates_salt(config)}:{fmt}:{RENDERING}"


def build(
    config: Config,
    out: Path,
    fmt: str = "both",
    full: bool = False,
    from_notes: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildResult:
    """Build the wiki from the store, or from the notes' front matter alone."""
    import gc
    from concurrent.futures.process import BrokenProcessPool

    from changenote.store.db import Store
    from changenote.wiki.pages import DIGEST_FORMAT
    from changenote.wiki.sources import (
        PARALLEL_MIN,
        NotesCache,
        documents_from_store,
        process_pool,
        stop_pool,
    )
    from changenote.wiki.state import WikiState

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    state = WikiState.open(out)
    source = f"notes:{DIGEST_FORMAT}:{from_notes.resolve()}" if from_notes else "store"
    meta = {"salt": salt(config, fmt), "source": source}
    same = not full and state.meta.get("salt") == meta["salt"]
    # Thousands of parsed records are acyclic; the cycle collector would only walk them
    # again and again while they are read (a third of a 10,000-note build). Once read,
    # they are frozen out of its sight and it runs again for what rendering leaves.
    was_enabled = gc.isenabled()
    gc.disable()
    pool = None
    writer: _Writer | None = None
    touched: set[str] = set()  # pages whose files this build began to write
    skipped: list[Any] = []  # changes of the store that cannot be read
    try:
        loader = None
        cache = None
        dirty: set[str] | None = None
        if from_notes is not None:
            known = state.notes if state.meta.get("source") == source and not full else {}
            cache = NotesCache(from_notes, known, config)
            if cache.scan() >= PARALLEL_MIN or not (same and known):
                pool = cache.pool = process_pool()
            docs = cache.documents()
            loader = cache.body
            if same and known:
                dirty = cache.dirty
        else:
            docs = documents_from_store(Store(config.store_url()), skipped)
            if len(docs) >= PARALLEL_MIN:
                pool = process_pool()
        gc.freeze()
        gc.enable()
        from changenote.files import remove_stale_temporaries

        for folder in (out, out / "markdown", out / "markdown" / "docs", out / "html"):
            remove_stale_temporaries(folder)  # left by a build that was killed
        on_disk = _on_disk(out)

        def previous(name: str) -> str | None:
            old = state.pages.get(name)
            if old is None or not all(path in on_disk for path in old[1]):
                return None
            return old[0]

        writer = _Writer(out, state.files, on_disk, full)
        pages: dict[str, tuple[str, list[str]]] = {}
        total, made = pages_and_files(
            config, docs, fmt, previous if same else None, dirty, loader, pool
        )
        for done, (page, files) in enumerate(made, start=1):
            if files:
                touched.add(page.name)
                for path, text in files.items():
                    writer.put(path, text)
                pages[page.name] = (page.input_hash, list(files))
            else:
                for path in state.pages[page.name][1]:
                    writer.keep(path)
                pages[page.name] = state.pages[page.name]
            if progress is not None:
                progress(done, total)
        for path, text in site_files(config, docs, fmt).items():
            writer.put(path, text)
        result = writer.finish()
        result.skipped = skipped
        state.save(meta, writer.files, pages, cache.entries if cache is not None else None)
    except BaseException as exc:
        # Ctrl-C or a failure: the workers end now, not after the pages they hold, and
        # the state learns what was written, so the next build trusts only what is.
        if pool is not None:
            stop_pool(pool)
            pool = None
        if writer is not None:
            state.save_written(writer.written(), touched)
        if isinstance(exc, BrokenProcessPool):
            raise ChangenoteError("a worker process of the build died; run it again") from None
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        state.close()
        gc.unfreeze()
        if was_enabled:
            gc.enable()
        else:
            gc.disable()
    return result
