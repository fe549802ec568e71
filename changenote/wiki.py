"""Team wiki pages from change documents: what each page shows, computed in Python.

The documents come from the store or from notes' front matter (``--from-notes``),
so a team that commits ``notes/`` can build the same wiki in CI with no database.
Every page is markdown rendered from a template in ``templates/wiki/``; the HTML
site is made from that same markdown (see :mod:`changenote.site`).
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changenote.errors import ChangenoteError

RECENT = 20
RELATED = 5


@dataclass
class Page:
    """One wiki page: a flat name (``note-slow-search``), its title and markdown."""

    name: str
    title: str
    #: None when the page is unchanged since it was written (see ``build_pages``).
    markdown: str | None
    #: Extra files that belong to the page (charts), by file name.
    assets: dict[str, str] = field(default_factory=dict)
    #: A hash of everything the page is made from.
    input_hash: str = ""


@functools.lru_cache(maxsize=65536)
def page_name(kind: str, value: str) -> str:
    """A flat, file-safe page name: ``service-docs-site``; non-Latin names get a hash."""
    ascii_text = value.encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].rstrip("-")
    # Plain names map one to one; anything else gets a short hash so two never collide.
    if not slug or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,59}", value.lower()):
        digest = hashlib.sha1(value.encode()).hexdigest()[:6]
        slug = f"{slug}-{digest}" if slug else digest
    return f"{kind}-{slug}"


def read_note(path: Path) -> dict[str, Any] | None:
    """The change document in a note's front matter; None for a file without one."""
    import yaml

    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ChangenoteError(f"{path.name}: front matter has no closing '---'")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text[4 : end + 1], Loader=loader)
    except yaml.YAMLError as exc:
        raise ChangenoteError(f"{path.name}: front matter is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or "slug" not in doc or "title" not in doc:
        raise ChangenoteError(f"{path.name}: front matter is not a changenote record")
    doc.setdefault("note_path", path.name)
    return doc


def documents_from_notes(folder: Path) -> list[dict[str, Any]]:
    """The change documents kept in the front matter of every note under ``folder``."""
    if not folder.is_dir():
        raise ChangenoteError(f"no notes folder at {folder}")
    docs = [read_note(path) for path in sorted(folder.glob("*.md"))]
    return [d for d in docs if d is not None]


#: Below this many notes to parse, a process pool costs more than it saves.
PARALLEL_MIN = 200


def _load_note(args: tuple[Path, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    """Parse one note into its digest and (with a config) its rendered body."""
    from changenote import notes

    path, config = args
    doc = read_note(path)
    if doc is None:
        return path.name, None, None
    body = notes.text(config, doc, with_record=False) if config is not None else None
    return path.name, {**digest(doc), "source": path.name}, body


def load_notes(
    paths: list[Path], config: Any
) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    """Parse notes, on every CPU when there are many (YAML parsing dominates a build)."""
    import os

    jobs = [(path, config) for path in paths]
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < PARALLEL_MIN or workers < 2:
        return [_load_note(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_load_note, jobs, chunksize=64))


class NotesCache:
    """Digests of notes, remembered by file size and modification time between builds.

    Parsing 10,000 notes' YAML takes seconds; an unchanged note's digest is taken
    from the cache, and its whole record is read again only if its page must be
    rendered again.
    """

    def __init__(self, folder: Path, cache_file: Path | None, config: Any = None) -> None:
        import json

        if not folder.is_dir():
            raise ChangenoteError(f"no notes folder at {folder}")
        self.folder = folder
        #: With a config, note bodies are rendered while parsing and kept; whole records
        #: are not (10,000 parsed records would need about 850 MB).
        self.config = config
        self._bodies: dict[str, str] = {}
        self._entries: dict[str, dict[str, Any]] = {}
        self._cached: dict[str, dict[str, Any]] = {}
        #: Whether the cache file needs writing again (a note new, edited or gone).
        self.changed = cache_file is None
        if cache_file is not None and cache_file.is_file():
            try:
                self._cached = dict(json.loads(cache_file.read_text())["notes"])
            except (ValueError, KeyError, TypeError):
                self._cached = {}

    def documents(self) -> list[dict[str, Any]]:
        keys: dict[str, list[int]] = {}
        stale: list[Path] = []
        for path in sorted(self.folder.glob("*.md")):
            stat = path.stat()
            keys[path.name] = [stat.st_mtime_ns, stat.st_size]
            cached = self._cached.get(path.name)
            if not (cached and cached["key"] == keys[path.name]):
                stale.append(path)
        loaded = {name: (light, body) for name, light, body in load_notes(stale, self.config)}
        found = []
        for name, key in keys.items():
            if name in loaded:
                self.changed = True
                light, body = loaded[name]
                if light is None:
                    continue
                if body is not None:
                    self._bodies[name] = body
            elif name in self._cached:
                light = self._cached[name]["digest"]
            else:
                continue
            self._entries[name] = {"key": key, "digest": light}
            found.append(light)
        if set(self._cached) - set(self._entries):
            self.changed = True
        return found

    def body(self, light: dict[str, Any]) -> str:
        """The note body of a digest: rendered while parsing, or now from the file."""
        name = light["source"]
        if name in self._bodies:
            return self._bodies.pop(name)
        _, light_again, body = _load_note((self.folder / name, self.config))
        if light_again is None or body is None:
            raise ChangenoteError(f"{name}: the note lost its front matter during the build")
        return body

    def save(self, cache_file: Path) -> None:
        import json

        from changenote.render import write_atomic

        if not self.changed and cache_file.is_file():
            return
        write_atomic(cache_file, json.dumps({"version": 1, "notes": self._entries}))


def documents_from_store(store: Any) -> list[dict[str, Any]]:
    """Every change document in the store, oldest first."""
    from sqlmodel import col, select

    from changenote import document
    from changenote.models import Change

    if not store.exists():
        return []
    with store.read() as session:
        changes = session.exec(select(Change).order_by(col(Change.id))).all()
        return [document.load(session, c) for c in changes]


def _when(doc: dict[str, Any]) -> str:
    return str(doc.get("shipped_at") or doc.get("created_at") or "")


class RelatedIndex:
    """Related notes from inverted indexes by file, tag and service: candidates, not n².

    Each shared file touched counts 3, the same service 2, each shared tag 1; ties go
    to the newest. A file, tag or service shared by very many notes contributes only
    its newest ``CANDIDATES`` (so a rebuild of 10,000 notes stays fast).
    """

    CANDIDATES = 20

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        newest = sorted(docs, key=lambda d: (_when(d), d["slug"]), reverse=True)
        self.order = {d["slug"]: i for i, d in enumerate(newest)}
        self.docs = {d["slug"]: d for d in newest}
        self.by_file: dict[str, list[str]] = defaultdict(list)
        self.by_tag: dict[str, list[str]] = defaultdict(list)
        self.by_service: dict[str, list[str]] = defaultdict(list)
        for d in newest:
            for path in d.get("files_touched") or []:
                self.by_file[path].append(d["slug"])
            for tag in d.get("tags") or []:
                self.by_tag[tag].append(d["slug"])
            if d.get("service"):
                self.by_service[d["service"]].append(d["slug"])

    def related(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """A handful of notes most like ``doc``."""
        import heapq

        scores: dict[str, int] = {}
        cap = self.CANDIDATES
        get = scores.get
        for path in set(doc.get("files_touched") or []):
            for slug in self.by_file.get(path, ())[:cap]:
                scores[slug] = get(slug, 0) + 3
        for tag in set(doc.get("tags") or []):
            for slug in self.by_tag.get(tag, ())[:cap]:
                scores[slug] = get(slug, 0) + 1
        if doc.get("service"):
            for slug in self.by_service.get(doc["service"], ())[:cap]:
                scores[slug] = get(slug, 0) + 2
        scores.pop(doc["slug"], None)
        order = self.order
        best = heapq.nsmallest(RELATED, [(-n, order[slug], slug) for slug, n in scores.items()])
        return [self.docs[slug] for _, _, slug in best]


def _verdicts(doc: dict[str, Any]) -> Counter[str]:
    return Counter(c["verdict"] for c in doc.get("comparison") or [])


def _summary_row(doc: dict[str, Any]) -> dict[str, Any]:
    from changenote.document import fmt_change, fmt_number

    lead = next(
        (c for c in doc.get("comparison") or [] if c["metric"] == "time_ms"),
        (doc.get("comparison") or [None])[0],
    )
    headline = ""
    if lead:
        headline = (
            f"{lead['metric']} {fmt_number(lead['before'], lead['unit'])} → "
            f"{fmt_number(lead['after'], lead['unit'])} ({fmt_change(lead, interval=False)}, "
            f"{lead['verdict']})"
        )
    return {
        "page": page_name("note", doc["slug"]),
        "title": doc["title"],
        "date": _when(doc)[:10],
        "status": doc["status"],
        "service": doc.get("service"),
        "owner": doc.get("owner"),
        "headline": headline,
    }


def _trend_points(docs: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    points = []
    for doc in docs:
        for c in doc.get("comparison") or []:
            if c["metric"] == metric and c["before"] is not None and c["after"] is not None:
                points.append(
                    {
                        "date": _when(doc)[:10],
                        "page": page_name("note", doc["slug"]),
                        "title": doc["title"],
                        "probe": c["probe"],
                        "before": c["before"],
                        "after": c["after"],
                        "unit": c["unit"],
                        "verdict": c["verdict"],
                    }
                )
                break  # one point per change: its first probe with this metric
    return points


#: Keys of a change document the wiki's pages use besides the note body.
DIGEST_KEYS = (
    "slug",
    "title",
    "status",
    "service",
    "owner",
    "tags",
    "files_touched",
    "reason",
    "expected",
    "noticed",
    "created_at",
    "shipped_at",
)
_COMPARISON_KEYS = (
    "probe",
    "metric",
    "unit",
    "before",
    "after",
    "change_pct",
    "verdict",
    "ci_unit",
)


def digest(doc: dict[str, Any]) -> dict[str, Any]:
    """What every page but the note's own needs of a document, and a hash of the whole."""
    import json

    light = {k: doc.get(k) for k in DIGEST_KEYS}
    light["comparison"] = [
        {k: c.get(k) for k in _COMPARISON_KEYS} for c in doc.get("comparison") or []
    ]
    whole = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    light["note_hash"] = hashlib.sha256(whole.encode()).hexdigest()
    return light


def _note_key(doc: dict[str, Any], context: dict[str, Any]) -> str:
    """Everything a note page is made from, as one string (cheaper than JSON at 10,000)."""
    parts = [doc.get("note_hash") or digest(doc)["note_hash"]]
    parts += [
        f"{r['page']}|{r['title']}|{r['date']}|{r['status']}|{r['headline']}"
        for r in context["related"]
    ]
    for key in ("service", "owner"):
        parts.append(str((context[key] or {}).get("page")))
    parts += [t["page"] for t in context["tags"]] + ["|"] + [m["page"] for m in context["metrics"]]
    return "\x1f".join(parts)


def _input_hash(template: str, context: Any, salt: str) -> str:
    if isinstance(context, str):  # a key already flattened (note pages)
        return hashlib.sha256(f"{template}\x1e{salt}\x1e{context}".encode()).hexdigest()
    # pickle is several times faster than JSON on the 10,000-row contexts; the contexts
    # are built in a fixed order, so equal inputs give equal bytes.
    data = pickle.dumps((template, context, salt), protocol=5)
    return hashlib.sha256(data).hexdigest()


def build_pages(
    docs: list[dict[str, Any]],
    render: Any,
    note_text: Any,
    reuse: Any = None,
    salt: str = "",
) -> list[Page]:
    """All wiki pages for ``docs`` (digests or whole documents).

    ``render(template, context)`` renders a wiki template; ``note_text(doc)`` gives the
    note body of one change. Each page gets an input hash (its template, its context,
    ``salt`` for the templates themselves); when ``reuse(name, hash)`` says the page
    was already written from the same inputs, it is not rendered again
    (``markdown`` is None).
    """
    from changenote.charts import trend_svg

    docs = sorted(docs, key=lambda d: (_when(d), d["slug"]))
    newest = list(reversed(docs))
    rows = {d["slug"]: _summary_row(d) for d in docs}
    by: dict[str, dict[str, list[dict[str, Any]]]] = {
        "service": defaultdict(list),
        "owner": defaultdict(list),
        "tag": defaultdict(list),
    }
    for d in newest:
        if d.get("service"):
            by["service"][d["service"]].append(rows[d["slug"]])
        if d.get("owner"):
            by["owner"][d["owner"]].append(rows[d["slug"]])
        for tag in d.get("tags") or []:
            by["tag"][tag].append(rows[d["slug"]])
    metrics = sorted({c["metric"] for d in docs for c in d.get("comparison") or []})
    verdicts: Counter[str] = Counter()
    for d in docs:
        verdicts.update(_verdicts(d))

    def groups(kind: str) -> list[dict[str, Any]]:
        return [
            {"name": name, "page": page_name(kind, name), "count": len(items)}
            for name, items in sorted(by[kind].items())
        ]

    pages: list[Page] = []

    def add(
        name: str,
        title: str,
        template: str,
        context: dict[str, Any],
        key: Any = None,
        fill: Any = None,
        assets: Any = None,
    ) -> None:
        """Add a page; render it only when its inputs changed since it was written."""
        digest_of_inputs = _input_hash(template, context if key is None else key, salt)
        if reuse is not None and reuse(name, digest_of_inputs):
            pages.append(Page(name, title, None, input_hash=digest_of_inputs))
            return
        if fill is not None:
            context = {**context, **fill()}
        pages.append(
            Page(
                name,
                title,
                render(template, context),
                assets=assets() if assets else {},
                input_hash=digest_of_inputs,
            )
        )

    add(
        "index",
        "changenote wiki",
        "home.md.j2",
        {
            "recent": [rows[d["slug"]] for d in newest[:RECENT]],
            "open": [rows[d["slug"]] for d in newest if d["status"] != "shipped"],
            "verdicts": dict(sorted(verdicts.items())),
            "total": len(docs),
            "services": groups("service"),
            "owners": groups("owner"),
            "tags": groups("tag"),
            "metrics": [{"name": m, "page": page_name("metric", m)} for m in metrics],
        },
    )
    add("all-notes", "All notes", "all.md.j2", {"notes": [rows[d["slug"]] for d in newest]})
    index = RelatedIndex(docs)
    for d in docs:
        context = {
            "related": [rows[r["slug"]] for r in index.related(d)],
            "service": {"name": d["service"], "page": page_name("service", d["service"])}
            if d.get("service")
            else None,
            "owner": {"name": d["owner"], "page": page_name("owner", d["owner"])}
            if d.get("owner")
            else None,
            "tags": [{"name": t, "page": page_name("tag", t)} for t in d.get("tags") or []],
            "metrics": [
                {"name": m, "page": page_name("metric", m)}
                for m in dict.fromkeys(c["metric"] for c in d.get("comparison") or [])
            ],
        }
        add(
            rows[d["slug"]]["page"],
            d["title"],
            "note.md.j2",
            context,
            key=_note_key(d, context),
            fill=lambda d=d: {"body": note_text(d)},
        )
    for kind, heading in (("service", "Service"), ("owner", "Owner"), ("tag", "Tag")):
        for name, items in sorted(by[kind].items()):
            add(
                page_name(kind, name),
                f"{heading}: {name}",
                "group.md.j2",
                {"kind": heading, "name": name, "notes": items},
            )
    for metric in metrics:
        points = _trend_points(docs, metric)
        name = page_name("metric", metric)
        chart = f"{name}.svg"
        add(
            name,
            f"Metric: {metric}",
            "metric.md.j2",
            {"metric": metric, "points": points, "chart": chart if points else None},
            assets=(lambda m=metric, pts=points, c=chart: {c: trend_svg(m, pts)})
            if points
            else None,
        )
    return pages
