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
FORMATS = ("markdown", "html", "both")
SAFE_SCHEMES = ("http:", "https:", "mailto:")
_STATIC = ("style.css", "search.js")


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


def _mkdocs_yml(pages: list[Page]) -> str:
    nav = [{"Home": "index.md"}, {"All notes": "all-notes.md"}]
    lines = ["# written by changenote wiki", "site_name: changenote wiki", "docs_dir: docs", "nav:"]
    lines += [f"  - {json.dumps(k)}: {json.dumps(v)}" for item in nav for k, v in item.items()]
    del pages
    return "\n".join(lines) + "\n"


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


def outputs(
    config: Config,
    docs: list[dict[str, Any]],
    fmt: str,
    progress: Callable[[int, int], None] | None,
) -> dict[str, str]:
    """Every output file of the wiki, by path relative to the output folder."""
    from changenote import notes, render
    from changenote.wiki import build_pages

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    override = config.templates_path

    def page_markdown(name: str, context: dict[str, Any]) -> str:
        return render.render(f"wiki/{name}", context, override)

    def note_text(doc: dict[str, Any]) -> str:
        return notes.text(config, doc, with_record=False)

    pages = build_pages(docs, page_markdown, note_text)
    files: dict[str, str] = {}
    if fmt in ("markdown", "both"):
        for page in pages:
            files[f"markdown/docs/{page.name}.md"] = page.markdown
            for asset, content in page.assets.items():
                files[f"markdown/docs/{asset}"] = content
        files["markdown/docs/Home.md"] = next(p.markdown for p in pages if p.name == "index")
        files["markdown/mkdocs.yml"] = _mkdocs_yml(pages)
    if fmt in ("html", "both"):
        md = _markdown_renderer()
        for i, page in enumerate(pages, start=1):
            body = md.render(page.markdown)
            files[f"html/{page.name}.html"] = render.render(
                "wiki/page.html.j2", {"title": page.title, "body": render.markup(body)}, override
            )
            for asset, content in page.assets.items():
                files[f"html/{asset}"] = content
            if progress is not None:
                progress(i, len(pages))
        files["html/search.html"] = render.render("wiki/search.html.j2", {}, override)
        files["html/search-index.js"] = _search_index(docs)
        for name in _STATIC:
            files[f"html/{name}"] = render.static(f"wiki/{name}", override)
    return files


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write(out: Path, files: dict[str, str], full: bool = False) -> BuildResult:
    """Write ``files`` under ``out``: changed ones only, unless ``full``; remove stale ones."""
    from changenote.render import write_atomic

    manifest_path = out / MANIFEST
    old: dict[str, str] = {}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())["files"]
        except (ValueError, KeyError, TypeError):
            raise ChangenoteError(
                f"{manifest_path} is damaged; remove the folder and rebuild"
            ) from None
    elif out.exists() and any(out.iterdir()):
        raise ChangenoteError(
            f"{out} is not empty and was not written by changenote wiki; give a new folder"
        )
    result = BuildResult(out=out, pages=len(files))
    new = {path: _digest(text) for path, text in files.items()}
    for path, text in sorted(files.items()):
        target = out / path
        if not full and old.get(path) == new[path] and target.is_file():
            result.unchanged += 1
            continue
        write_atomic(target, text)
        result.written.append(path)
    for path in sorted(set(old) - set(new)):
        target = out / path
        if target.is_file():
            target.unlink()
            result.removed.append(path)
    write_atomic(manifest_path, json.dumps({"version": 1, "files": new}, indent=0, sort_keys=True))
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
    from changenote.wiki import documents_from_notes, documents_from_store

    if fmt not in FORMATS:
        raise ChangenoteError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if from_notes is not None:
        docs = documents_from_notes(from_notes)
    else:
        docs = documents_from_store(Store(config.store_url()))
    return write(out, outputs(config, docs, fmt, progress), full)
