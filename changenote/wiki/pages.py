"""Team wiki pages from change documents: what each page shows, computed in Python.

The documents come from the store or from notes' front matter (``--from-notes``),
so a team that commits ``notes/`` can build the same wiki in CI with no database.
Every page is markdown rendered from a template in ``templates/wiki/``; the HTML
site is made from that same markdown (see :mod:`changenote.wiki.site`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Rows per page of all notes and of a metric's figures (a 10,000-row page was 3 MB of
#: HTML, and rendered again whenever any title changed).
ALL_PER_PAGE = 500
RECENT = 20
#: The review states of a shipped note that the home page lists as needing a review.
NEEDS_REVIEW = ("drafted", "needs-update")
RELATED = 5
#: The shape of ``digest``: digests kept from a build with another shape are not reused.
DIGEST_FORMAT = "6"


@dataclass
class Page:
    """One wiki page: a flat name (``note-slow-search``), its title and markdown."""

    name: str
    title: str
    #: None when the page is unchanged since it was written (see ``build_pages``).
    markdown: str | None
    #: Extra files that belong to the page (charts), by file name.
    assets: dict[str, str] = field(default_factory=dict)
    #: What the HTML page shows inline instead of an image of one of its assets.
    embeds: dict[str, str] = field(default_factory=dict)
    #: A hash of everything the page is made from.
    input_hash: str = ""


@functools.lru_cache(maxsize=65536)
def page_name(kind: str, value: str) -> str:
    """A flat, file-safe page name: ``service-docs-site``; other names get a hash."""
    ascii_text = value.encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].rstrip("-")
    # A name already in slug form maps to itself; any other (capitals, underscores,
    # spaces, other scripts) gets a short hash, so "API" and "api", or "db_pool" and
    # "db-pool", never share a page.
    if not slug or value != slug:
        digest = hashlib.sha1(value.encode()).hexdigest()[:6]
        slug = f"{slug}-{digest}" if slug else digest
    return f"{kind}-{slug}"


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
        newest = sorted(docs, key=lambda d: (d["when"], d["slug"]), reverse=True)
        self.order = {d["slug"]: i for i, d in enumerate(newest)}
        self.docs = {d["slug"]: d for d in newest}
        self.by_file: dict[str, list[str]] = defaultdict(list)
        self.by_tag: dict[str, list[str]] = defaultdict(list)
        self.by_service: dict[str, list[str]] = defaultdict(list)
        for d in newest:
            for path in d["files_touched"]:
                self.by_file[path].append(d["slug"])
            for tag in d["tags"]:
                self.by_tag[tag].append(d["slug"])
            if d["service"]:
                self.by_service[d["service"]].append(d["slug"])

    def related(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """A handful of notes most like ``doc``."""
        import heapq

        scores: dict[str, int] = {}
        cap = self.CANDIDATES
        get = scores.get
        for path in set(doc["files_touched"]):
            for slug in self.by_file.get(path, ())[:cap]:
                scores[slug] = get(slug, 0) + 3
        for tag in set(doc["tags"]):
            for slug in self.by_tag.get(tag, ())[:cap]:
                scores[slug] = get(slug, 0) + 1
        if doc["service"]:
            for slug in self.by_service.get(doc["service"], ())[:cap]:
                scores[slug] = get(slug, 0) + 2
        scores.pop(doc["slug"], None)
        order = self.order
        best = heapq.nsmallest(RELATED, [(-n, order[slug], slug) for slug, n in scores.items()])
        return [self.docs[slug] for _, _, slug in best]


def _summary_row(doc: dict[str, Any]) -> dict[str, Any]:
    from changenote.formatting import VERDICT_MARK, fmt_number
    from changenote.notebook.document import fmt_change

    lead = next(
        (c for c in doc.get("comparison") or [] if c["metric"] == "time_ms"),
        (doc.get("comparison") or [None])[0],
    )
    headline = figure = verdict = ""
    if lead:
        figure = (
            f"{lead['metric']} {fmt_number(lead['before'], lead['unit'])} → "
            f"{fmt_number(lead['after'], lead.get('unit_after', lead['unit']))} "
            f"({fmt_change(lead, interval=False)})"
        )
        headline = f"{figure[:-1]}, {lead['verdict']})"
        verdict = VERDICT_MARK.get(lead["verdict"], lead["verdict"])
    return {
        "page": page_name("note", doc["slug"]),
        "title": doc["title"],
        "date": _when(doc)[:10],
        "status": doc["status"],
        "service": doc.get("service"),
        "owner": doc.get("owner"),
        "headline": headline,
        # the headline figure without its verdict, and the verdict as the note words it
        "figure": figure,
        "verdict": verdict,
    }


def _search_entry(doc: dict[str, Any]) -> str:
    """What the offline search page knows of a note, as JSON: every word of its metadata."""
    import json

    words = [
        doc.get("title"),
        doc.get("reason"),
        doc.get("service"),
        doc.get("owner"),
        doc.get("expected"),
        doc.get("noticed"),
        *(doc.get("tags") or []),
        *(doc.get("files_touched") or []),
    ]
    entry = {
        "page": page_name("note", doc["slug"]) + ".html",
        "title": doc["title"],
        "date": _when(doc)[:10],
        # as written (search.js lowers it), so a result can quote it, fields apart
        "text": " · ".join(" ".join(str(w).split()) for w in words if w),
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


#: A trend point's own figures, kept per note as a list in this order.
_POINT = ("probe", "before", "after", "unit", "verdict")


def _points(doc: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """Per metric, one trend point for every probe of the change that has figures on both
    sides in the same unit: a trend never joins a route, another route and a command."""
    points: dict[str, list[list[Any]]] = {}
    for c in doc.get("comparison") or []:
        if c["before"] is None or c["after"] is None or "unit_after" in c:
            continue
        points.setdefault(c["metric"], []).append([c[k] for k in _POINT])
    return points


def _points_key(context: dict[str, Any]) -> str:
    """A metric page's inputs as one string, from each note's row and its figures (the
    chart's, on the first page, and the table's)."""
    points = [
        f"{row['date']}|{row['page']}|{row['title']}|{figures!r}"
        for part in ("figures", "rows")
        for row, figures in context[part]
    ]
    head = f"{context['metric']}|{context['page']}|{context['newer']}|{context['older']}"
    return "\x1f".join([head, *points])


def _expand(figures: list[tuple[dict[str, Any], list[Any]]]) -> list[dict[str, Any]]:
    """Trend points for the template and the chart, from rows and figures."""
    return [
        {
            "date": row["date"],
            "page": row["page"],
            "title": row["title"],
            **dict(zip(_POINT, f, strict=True)),
        }
        for row, f in figures
    ]


def digest(doc: dict[str, Any]) -> dict[str, Any]:
    """All that the wiki's pages but the note's own need of a change document.

    Computed once per note (and kept between builds with ``--from-notes``), so a
    rebuild never looks at a whole record it does not render. ``note_hash`` covers
    the whole record.
    """
    import json

    comparison = doc.get("comparison") or []
    whole = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return {
        "slug": doc["slug"],
        "title": doc["title"],
        "status": doc["status"],
        "service": doc.get("service"),
        "owner": doc.get("owner"),
        "tags": list(doc.get("tags") or []),
        "files_touched": list(doc.get("files_touched") or []),
        "when": _when(doc),
        "metrics": list(dict.fromkeys(c["metric"] for c in comparison)),
        "verdicts": [c["verdict"] for c in comparison],
        "regressed": list(
            dict.fromkeys(c["metric"] for c in comparison if c["verdict"] == "regressed")
        ),
        "points": _points(doc),
        "row": _summary_row(doc),
        "review": (doc.get("review") or {}).get("status"),
        "follow_ups": [
            {k: f.get(k) for k in ("n", "text", "owner", "due")}
            for f in doc.get("follow_ups") or []
            if not f.get("done")
        ],
        "search": _search_entry(doc),
        "note_hash": hashlib.sha256(whole.encode()).hexdigest(),
    }


def dependencies(light: dict[str, Any]) -> set[str]:
    """The keys of the pages a note appears on, and of the related-note lists it is in.

    When a note changes, the pages depending on any of its keys (before or after the
    change) are computed again; every other page is kept without a look.
    """
    keys = {"*", "note\0" + light["slug"]}
    if light["service"]:
        keys.add("service\0" + light["service"])
    if light["owner"]:
        keys.add("owner\0" + light["owner"])
    keys.update("tag\0" + t for t in light["tags"])
    keys.update("file\0" + f for f in light["files_touched"])
    keys.update("metric\0" + m for m in light["metrics"])
    return keys


#: Digest fields that only the note's own page and the search index show.
_PRIVATE = frozenset({"note_hash", "search", "source"})


def changed_dependencies(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """The keys a note's edit dirties: only its own page when nothing else shows it."""
    if all(old.get(k) == new.get(k) for k in old.keys() | new.keys() if k not in _PRIVATE):
        return {"note\0" + new["slug"]}
    return dependencies(old) | dependencies(new)


def _note_key(doc: dict[str, Any], context: dict[str, Any]) -> str:
    """Everything a note page is made from, as one string (cheaper than JSON at 10,000)."""
    parts = [doc["note_hash"]]
    parts += [_row_key(r) for r in context["related"]]
    for key in ("service", "owner"):
        parts.append(str((context[key] or {}).get("page")))
    parts += [t["page"] for t in context["tags"]] + ["|"] + [m["page"] for m in context["metrics"]]
    return "\x1f".join(parts)


def _row_key(row: dict[str, Any]) -> str:
    return f"{row['page']}|{row['title']}|{row['date']}|{row['status']}|{row['headline']}"


def paged(first: str, count: int) -> list[str]:
    """The names of the pages listing ``count`` rows, ALL_PER_PAGE to a page: ``first``,
    then ``first--2``... (a double dash: no page name of a group or metric has one)."""
    pages = max(1, -(-count // ALL_PER_PAGE))
    return [first, *(f"{first}--{n}" for n in range(2, pages + 1))]


def open_follow_ups(lights: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every follow-up not done, overdue first, then by due date (none last)."""
    from datetime import date

    today = date.today().isoformat()
    items = [
        {**f, "title": d["title"], "page": d["row"]["page"],
         "overdue": bool(f["due"]) and f["due"] < today}
        for d in lights
        for f in d.get("follow_ups") or []
    ]  # fmt: skip
    items.sort(key=lambda i: (not i["overdue"], not i["due"], i["due"] or "", i["title"], i["n"]))
    return items


def all_notes_pages(count: int) -> list[str]:
    """The names of the pages listing ``count`` notes."""
    return paged("all-notes", count)


def _all_notes_context(newest: list[dict[str, Any]], number: int) -> dict[str, Any]:
    """Page ``number`` of all notes, newest first, with its neighbours (no page count,
    so that a page is rewritten only when its own rows or neighbours change)."""
    names = all_notes_pages(len(newest))
    start = (number - 1) * ALL_PER_PAGE
    return {
        "notes": [d["row"] for d in newest[start : start + ALL_PER_PAGE]],
        "page": number,
        "first": start + 1,
        "newer": names[number - 2] if number > 1 else None,
        "older": names[number] if number < len(names) else None,
    }


def _rows_key(context: dict[str, Any]) -> str:
    """A page listing notes (all notes, a group) as one string: cheap at 10,000 rows."""
    head = {k: v for k, v in context.items() if k != "notes"}
    rows = [f"{r['service']}|{r['owner']}|{_row_key(r)}" for r in context["notes"]]
    return "\x1f".join([repr(sorted(head.items())), *rows])


def _input_hash(template: str, key: str | dict[str, Any], salt: str) -> str:
    """A page's input hash: of its key, or of its context as canonical JSON.

    (Not pickle: its bytes depend on which equal strings happen to be one object.)
    """
    import json

    if not isinstance(key, str):
        key = json.dumps(key, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{template}\x1e{salt}\x1e{key}".encode()).hexdigest()


def search_index(lights: list[dict[str, Any]]) -> str:
    """The offline search page's index, newest first, as a script."""

    newest = sorted(lights, key=lambda d: (d["row"]["date"], d["row"]["page"]), reverse=True)
    data = "[" + ",".join(d["search"] for d in newest) + "]"
    return "window.CHANGENOTE_INDEX = " + data.replace("</", "<\\/") + ";\n"


def build_pages(
    docs: list[dict[str, Any]],
    render: Callable[[str, dict[str, Any]], str],
    note_text: Callable[[dict[str, Any]], str],
    salt: str = "",
    previous: Callable[[str], str | None] | None = None,
    dirty: set[str] | None = None,
) -> tuple[int, Iterator[Page]]:
    """How many pages there are, and the pages, one at a time, for ``docs``.

    ``docs`` are whole change documents or their digests. ``render(template, context)``
    renders a wiki template; ``note_text(doc)`` gives the note body of one of ``docs``.
    Each page gets an input hash (its template, its context, ``salt`` for the templates
    themselves). ``previous(name)`` gives the input hash of the page as last written
    (None if it was not, or its files are gone); a page with the same inputs is not
    rendered again (``markdown`` is None). With ``dirty`` (the ``dependencies`` of the
    notes changed since), a page depending on none of those keys is not even computed.
    """
    originals = {d["slug"]: d for d in docs}
    lights = sorted(
        (d if "note_hash" in d else digest(d) for d in docs),
        key=lambda d: (d["when"], d["slug"]),
    )
    newest = lights[::-1]
    by: dict[str, dict[str, list[dict[str, Any]]]] = {
        "service": defaultdict(list),
        "owner": defaultdict(list),
        "tag": defaultdict(list),
    }
    verdicts: Counter[str] = Counter()
    with_figures: Counter[str] = Counter()
    for d in newest:
        row = d["row"]
        if d["service"]:
            by["service"][d["service"]].append(row)
        if d["owner"]:
            by["owner"][d["owner"]].append(row)
        for tag in d["tags"]:
            by["tag"][tag].append(row)
        verdicts.update(d["verdicts"])
        with_figures.update({m: len(p) for m, p in d["points"].items()})
    # each metric and how many notes have figures of it (the rows of its pages)
    metrics = {m: with_figures[m] for m in sorted({m for d in lights for m in d["metrics"]})}
    metric_pages = sum(len(paged(m, count)) for m, count in metrics.items())
    total = (2 + len(all_notes_pages(len(lights))) + len(lights)
             + sum(len(groups) for groups in by.values()) + metric_pages)  # fmt: skip
    return total, _pages(lights, newest, originals, by, verdicts, metrics, render, note_text,
                         salt, previous, dirty)  # fmt: skip


def _at_a_glance(newest: list[dict[str, Any]]) -> dict[str, Any]:
    """What the home page lists first: shipped changes that regressed a figure, and
    shipped notes never reviewed or needing an update (the RECENT newest of each, with
    how many there are)."""
    regressed = [
        {**d["row"], "metrics": d["regressed"]}
        for d in newest
        if d["status"] == "shipped" and d.get("regressed")
    ]
    review = [
        {**d["row"], "review": d["review"]}
        for d in newest
        if d["status"] == "shipped" and d["review"] in NEEDS_REVIEW
    ]
    return {
        "regressed": regressed[:RECENT],
        "regressed_count": len(regressed),
        "review": review[:RECENT],
        "review_count": len(review),
    }


def _pages(
    lights: list[dict[str, Any]],
    newest: list[dict[str, Any]],
    originals: dict[str, dict[str, Any]],
    by: dict[str, dict[str, list[dict[str, Any]]]],
    verdicts: Counter[str],
    metrics: dict[str, int],
    render: Callable[[str, dict[str, Any]], str],
    note_text: Callable[[dict[str, Any]], str],
    salt: str,
    previous: Callable[[str], str | None] | None,
    dirty: set[str] | None,
) -> Iterator[Page]:
    from changenote.wiki.charts import trend_svg

    def page(
        name: str,
        title: str,
        template: str,
        deps: set[str],
        context: Callable[[], dict[str, Any]],
        key: Callable[[dict[str, Any]], str] | None = None,
        fill: Callable[[], dict[str, Any]] | None = None,
        assets: Callable[[], tuple[dict[str, str], dict[str, str]]] | None = None,
    ) -> Page:
        """A page; computed only if its inputs may have changed, rendered only if they did."""
        old = previous(name) if previous is not None else None
        if old is not None and dirty is not None and dirty.isdisjoint(deps):
            return Page(name, title, None, input_hash=old)
        values = context()
        input_hash = _input_hash(template, key(values) if key else values, salt)
        if old == input_hash:
            return Page(name, title, None, input_hash=input_hash)
        if fill is not None:
            values = {**values, **fill()}
        files, embeds = assets() if assets else ({}, {})
        return Page(
            name,
            title,
            render(template, values),
            assets=files,
            embeds=embeds,
            input_hash=input_hash,
        )

    def groups(kind: str) -> list[dict[str, Any]]:
        return [
            {"name": name, "page": page_name(kind, name), "count": len(items)}
            for name, items in sorted(by[kind].items())
        ]

    everything = {"*"}
    yield page(
        "index",
        "Home",
        "home.md.j2",
        everything,
        lambda: {
            "recent": [d["row"] for d in newest[:RECENT]],
            **_at_a_glance(newest),
            "open": [d["row"] for d in newest if d["status"] == "baseline"],
            "abandoned": [d["row"] for d in newest if d["status"] == "abandoned"],
            "shipped": sum(1 for d in lights if d["status"] == "shipped"),
            "verdicts": dict(sorted(verdicts.items())),
            "total": len(lights),
            "services": groups("service"),
            "owners": groups("owner"),
            "tags": groups("tag"),
            "metrics": [{"name": m, "page": page_name("metric", m)} for m in metrics],
        },
    )
    for number, name in enumerate(all_notes_pages(len(newest)), start=1):
        yield page(
            name,
            "All notes" if number == 1 else f"All notes, page {number}",
            "all.md.j2",
            everything,
            functools.partial(_all_notes_context, newest, number),
            key=_rows_key,
        )
    yield page(
        "follow-ups",
        "Open follow-ups",
        "follow-ups.md.j2",
        everything,
        lambda: {"items": open_follow_ups(newest)},
    )
    index: list[RelatedIndex] = []  # built on first use: a rebuild may need none

    def note_context(d: dict[str, Any]) -> dict[str, Any]:
        if not index:
            index.append(RelatedIndex(lights))
        return {
            "related": [r["row"] for r in index[0].related(d)],
            "service": {"name": d["service"], "page": page_name("service", d["service"])}
            if d["service"]
            else None,
            "owner": {"name": d["owner"], "page": page_name("owner", d["owner"])}
            if d["owner"]
            else None,
            "tags": [{"name": t, "page": page_name("tag", t)} for t in d["tags"]],
            "metrics": [{"name": m, "page": page_name("metric", m)} for m in d["metrics"]],
        }

    def note_body(d: dict[str, Any]) -> dict[str, Any]:
        return {"body": note_text(originals[d["slug"]])}

    for d in lights:
        # Related notes share a file, a tag or the service: a change to any of them
        # dirties one of these keys.
        deps = {"note\0" + d["slug"]}
        if d["service"]:
            deps.add("service\0" + d["service"])
        deps.update("tag\0" + t for t in d["tags"])
        deps.update("file\0" + f for f in d["files_touched"])
        yield page(
            d["row"]["page"],
            d["title"],
            "note.md.j2",
            deps,
            functools.partial(note_context, d),
            key=functools.partial(_note_key, d),
            fill=functools.partial(note_body, d),
        )
    for kind, heading in (("service", "Service"), ("owner", "Owner"), ("tag", "Tag")):
        for name, items in sorted(by[kind].items()):
            yield page(
                page_name(kind, name),
                f"{heading}: {name}",
                "group.md.j2",
                {f"{kind}\0{name}"},
                functools.partial(dict, kind=heading, name=name, notes=items),
                key=_rows_key,
            )

    @functools.cache  # a metric's pages each need its figures: gathered once
    def metric_figures(metric: str) -> list[tuple[dict[str, Any], list[Any]]]:
        return [(d["row"], p) for d in lights for p in d["points"].get(metric, [])]

    def metric_context(metric: str, number: int) -> dict[str, Any]:
        figures = metric_figures(metric)
        names = paged(page_name("metric", metric), len(figures))
        newest = figures[::-1]
        start = (number - 1) * ALL_PER_PAGE
        return {
            "metric": metric,
            # the chart on the first page shows every figure: its inputs are all of them
            "figures": figures if number == 1 else [],
            "rows": newest[start : start + ALL_PER_PAGE],
            "page": number,
            "newer": names[number - 2] if number > 1 else None,
            "older": names[number] if number < len(names) else None,
        }

    def metric_points(metric: str, number: int) -> dict[str, Any]:
        context = metric_context(metric, number)
        chart = f"{page_name('metric', metric)}.svg" if number == 1 and context["rows"] else None
        return {"points": _expand(context["rows"]), "chart": chart}

    def chart_files(metric: str) -> tuple[dict[str, str], dict[str, str]]:
        """The chart as a file (for the markdown wiki's image) and as inline SVG."""
        points = _expand(metric_figures(metric))
        if not points:
            return {}, {}
        name = f"{page_name('metric', metric)}.svg"
        return {name: trend_svg(metric, points)}, {name: trend_svg(metric, points, inline=True)}

    for metric, count in metrics.items():
        for number, name in enumerate(paged(page_name("metric", metric), count), start=1):
            yield page(
                name,
                f"Metric: {metric}" if number == 1 else f"Metric: {metric}, page {number}",
                "metric.md.j2",
                {f"metric\0{metric}"},
                functools.partial(metric_context, metric, number),
                key=_points_key,
                fill=functools.partial(metric_points, metric, number),
                assets=functools.partial(chart_files, metric) if number == 1 else None,
            )
