"""Writing the wiki: markdown (GitHub wiki / MkDocs) and a static HTML site, incrementally.

Every page is rendered to markdown once; the HTML page is that markdown through
markdown-it-py with raw HTML off and links limited to safe schemes, inside a Jinja2
template with autoescape on. A manifest of content hashes in the output folder
lets a rebuild rewrite only what changed, remove pages of removed notes, and never
touch a file it did not write.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changenote.config import Config
from changenote.errors import ChangenoteError
from changenote.wiki import Page

MANIFEST = ".changenote-wiki.json"
NOTES_CACHE = ".changenote-wiki-notes.json"
FORMATS = ("markdown", "html", "both")
SAFE_SCHEMES = ("http:", "https:", "mailto:")
_STATIC = ("style.css", "search.js", "favicon.svg")


@dataclass
class BuildResult:
    """What a build did."""

    out: Path
    pages: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def _safe_link(url: str) -> bool:
    """Relative links and http(s)/mailto only: no javascript:, data:, file: or the like."""
    text = url.strip().lower()
    scheme = re.match(r"^[a-z][a-z0-9+.-]*:", text)
    return scheme is None or text.startswith(SAFE_SCHEMES)


def _markdown_renderer() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _safe_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        if href.endswith(".md") and "://" not in href and not href.startswith("/"):
            tokens[idx].attrSet("href", href[:-3] + ".html")
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


#: The MkDocs configuration: the home page and the index of all notes lead everywhere.
MKDOCS_YML = """# written by changenote wiki
site_name: changenote wiki
docs_dir: docs
nav:
  - "Home": "index.md"
  - "All notes": "all-notes.md"
"""


def _search_index(docs: list[dict[str, Any]]) -> str:
    from changenote.wiki import page_name

    entries = []
    for d in docs:
        words = [
            d.get("title"),
            d.get("reason"),
            d.get("service"),
            d.get("owner"),
            d.get("expected"),
            d.get("noticed"),
            *(d.get("tags") or []),
            *(d.get("files_touched") or []),
        ]
        entries.append(
            {
                "page": page_name("note", d["slug"]) + ".html",
                "title": d["title"],
                "date": str(d.get("shipped_at") or d.get("created_at") or "")[:10],
                "text": " ".join(str(w) for w in words if w).lower(),
            }
        )
    entries.sort(key=lambda e: (e["date"], e["page"]), reverse=True)  # newest first, stable
    data = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return "window.CHANGENOTE_INDEX = " + data.replace("</", "<\\/") + ";\n"


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


@dataclass
class Plan:
    """What a build will write, keep and record."""

    files: dict[str, str] = field(default_factory=dict)
    #: Files of unchanged pages, kept as they are: path -> content hash.
    kept: dict[str, str] = field(default_factory=dict)
    #: Per page: the input hash and the files it made.
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)


def outputs(
    config: Config,
    docs: list[dict[str, Any]],
    fmt: str,
    progress: Callable[[int, int], None] | None,
    previous: dict[str, Any] | None = None,
    note_loader: Callable[[dict[str, Any]], str] | None = None,
) -> Plan:
    """Every output file of the wiki, by path relative to the output folder.

    With ``previous`` (the last manifest), pages whose inputs are unchanged are not
    rendered again; their files are listed in ``kept``. ``note_loader`` gives the note
    body of a digest (a light record without runs) when its page must be rendered.
    """
    from changenote import notes, render
    from changenote.wiki import build_pages

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    override = config.templates_path
    old_pages: dict[str, Any] = (previous or {}).get("pages", {})
    old_files: dict[str, str] = (previous or {}).get("files", {})
    salt = f"{_templates_salt(config)}:{fmt}"

    def page_markdown(name: str, context: dict[str, Any]) -> str:
        return render.render(f"wiki/{name}", context, override)

    def note_text(doc: dict[str, Any]) -> str:
        if note_loader is not None and "runs" not in doc:
            return note_loader(doc)
        return notes.text(config, doc, with_record=False)

    def reuse(name: str, input_hash: str) -> bool:
        old = old_pages.get(name)
        if not old:
            return False
        return bool(old["input"] == input_hash and all(p in old_files for p in old["files"]))

    pages = build_pages(docs, page_markdown, note_text, reuse if previous else None, salt)
    plan = Plan()
    html_of = (
        _html_pages([p for p in pages if p.markdown is not None], override)
        if fmt in ("html", "both")
        else {}
    )
    md = fmt in ("html", "both")
    for i, page in enumerate(pages, start=1):
        if page.markdown is None:
            for path in old_pages[page.name]["files"]:
                plan.kept[path] = old_files[path]
            plan.pages[page.name] = old_pages[page.name]
            continue
        made: list[str] = []
        if fmt in ("markdown", "both"):
            made.append(f"markdown/docs/{page.name}.md")
            plan.files[made[-1]] = page.markdown
            if page.name == "index":
                made.append("markdown/docs/Home.md")
                plan.files[made[-1]] = page.markdown
            for asset, content in page.assets.items():
                made.append(f"markdown/docs/{asset}")
                plan.files[made[-1]] = content
        if md:
            made.append(f"html/{page.name}.html")
            plan.files[made[-1]] = html_of[page.name]
            for asset, content in page.assets.items():
                made.append(f"html/{asset}")
                plan.files[made[-1]] = content
        plan.pages[page.name] = {"input": page.input_hash, "files": made}
        if progress is not None:
            progress(i, len(pages))
    if fmt in ("markdown", "both"):
        plan.files["markdown/mkdocs.yml"] = MKDOCS_YML
    if md:
        plan.files["html/search.html"] = render.render("wiki/search.html.j2", {}, override)
        plan.files["html/search-index.js"] = _search_index(docs)
        for name in _STATIC:
            plan.files[f"html/{name}"] = render.static(f"wiki/{name}", override)
    return plan


_RENDERER: Any = None


def _html_page(args: tuple[str, str, str, Path | None]) -> tuple[str, str]:
    """One page's HTML: its markdown through markdown-it, inside the page template."""
    from changenote import render

    global _RENDERER
    if _RENDERER is None:  # one per process
        _RENDERER = _markdown_renderer()
    name, title, markdown, override = args
    body = render.markup(_RENDERER.render(markdown))
    return name, render.render("wiki/page.html.j2", {"title": title, "body": body}, override)


def _html_pages(pages: list[Page], override: Path | None) -> dict[str, str]:
    """HTML for many pages, on every CPU when there are many (markdown-it is the cost)."""
    import os

    from changenote.wiki import PARALLEL_MIN

    jobs = [(p.name, p.title, p.markdown or "", override) for p in pages]
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < PARALLEL_MIN or workers < 2:
        return dict(_html_page(job) for job in jobs)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(_html_page, jobs, chunksize=32))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The last build's manifest; None for a new folder; an error for a foreign one."""
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        try:
            data = json.loads(manifest_path.read_text())
            data["files"]
        except (ValueError, KeyError, TypeError):
            raise ChangenoteError(
                f"{manifest_path} is damaged; remove the folder and rebuild"
            ) from None
        return dict(data)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ChangenoteError(
            f"{out} is not empty and was not written by changenote wiki; give a new folder"
        )
    return None


def write(
    out: Path, plan: Plan, previous: dict[str, Any] | None, full: bool = False
) -> BuildResult:
    """Write the plan under ``out``: changed files only, unless ``full``; remove stale ones."""
    from changenote.render import write_atomic

    old: dict[str, str] = (previous or {}).get("files", {})
    result = BuildResult(out=out, pages=len(plan.files) + len(plan.kept))
    new = {path: _digest(text) for path, text in plan.files.items()}
    for path, text in sorted(plan.files.items()):
        target = out / path
        if not full and old.get(path) == new[path] and target.is_file():
            result.unchanged += 1
            continue
        write_atomic(target, text)
        result.written.append(path)
    result.unchanged += len(plan.kept)
    everything = {**plan.kept, **new}
    for path in sorted(set(old) - set(everything)):
        target = out / path
        if target.is_file():
            target.unlink()
            result.removed.append(path)
    if (
        previous is not None
        and not result.written
        and not result.removed
        and previous.get("files") == everything
        and previous.get("pages") == plan.pages
    ):
        return result  # nothing changed: the manifest stays as it is
    manifest = {"version": 2, "files": everything, "pages": plan.pages}
    write_atomic(out / MANIFEST, json.dumps(manifest, sort_keys=True, separators=(",", ":")))
    return result


def build(
    config: Config,
    out: Path,
    fmt: str = "both",
    full: bool = False,
    from_notes: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildResult:
    """Build the wiki from the store, or from the notes' front matter alone."""
    from changenote.store import Store
    from changenote.wiki import NotesCache, documents_from_store

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    import gc

    previous = read_manifest(out)
    loader = None
    cache = None
    # Thousands of parsed records are acyclic; the cycle collector would only walk them
    # again and again (a third of a 10,000-note build). Reference counting frees them.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if from_notes is not None:
            cache = NotesCache(from_notes, None if full else out / NOTES_CACHE, config)
            docs = cache.documents()
            loader = cache.body
        else:
            docs = documents_from_store(Store(config.store_url()))
        plan = outputs(config, docs, fmt, progress, None if full else previous, loader)
        result = write(out, plan, previous, full)
        if cache is not None:
            cache.save(out / NOTES_CACHE)
    finally:
        if was_enabled:
            gc.enable()
    return result
