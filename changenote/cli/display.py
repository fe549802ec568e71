"""Printing for the CLI: Rich tables for people, JSON for programs."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Iterator
from typing import Any

from changenote.formatting import VERDICT_MARK, fmt_number
from changenote.notebook.document import fmt_change, fmt_expectation, reference_line


def print_json(data: Any) -> None:
    # JSON escapes are lossless where the output encoding cannot show a character
    plain = (sys.stdout.encoding or "").lower().replace("-", "") in ("utf8", "utf8sig")
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=not plain, default=str) + "\n")


def print_trust(state: dict[str, Any], before: bool) -> None:
    """What a change runs here and whether it may: before asking, and after."""
    runs = state["runs"]
    if before:
        print(f"change {state['slug']!r} {state['why_not']}.")
        if not runs:
            print("measure and ship would run nothing here (it has no commands or URLs).")
        else:
            print("measure and ship would run here:")
            width = max(len(r["kind"]) for r in runs)
            for r in runs:
                print(f"  {r['kind']:<{width}}  {r['what']}")
        return
    if state["trusted"] and state["trusted_by"]:
        print(f"trusted: {state['slug']} runs here (trusted by {state['trusted_by']}).")
    elif state["trusted"]:
        print(f"{state['slug']} runs here: it was recorded in this store by its user.")
    else:
        print(f"not trusted: {state['slug']} {state['why_not']}; its commands do not run here.")


def _console() -> Any:
    from rich.console import Console

    # No markup: titles, commands and messages are user text, "[x]" must print as is.
    return Console(highlight=False, soft_wrap=True, markup=False)


@contextlib.contextmanager
def progress_bar() -> Iterator[Any]:
    """Yield a progress callback drawing a bar on stderr, or None when stderr is no terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("measuring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", style="dim"),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("", total=None)

    def update(done: int, total: int, label: str) -> None:
        bar.update(task, completed=done, total=total, description=label[:60])

    with bar:
        yield update


def results_table(comparison: list[dict[str, Any]], title: str, probe_order: list[str]) -> Any:
    """The before/after table; with one probe its name goes in the title, not a column."""
    from rich.table import Table

    probes = list(dict.fromkeys([*probe_order, *(c["probe"] for c in comparison)]))
    probes = [p for p in probes if any(c["probe"] == p for c in comparison)]
    single = len(probes) == 1
    refs = {p: f"#{i}" for i, p in enumerate(probe_order, start=1)}
    for p in probes:  # a run's own probes (a benchmark only its file has) follow on
        if p not in refs:
            refs[p] = p if p == "manual" else f"#{len(refs) + 1}"
    if not single:
        legend = "\n".join(f"{refs[p]} {p}" for p in probes if refs[p] != p)
        title = f"{title}\n{legend}"
    table = Table(title=f"{title}: {probes[0]}" if single else title, title_justify="left")
    columns = [("metric", "left"), ("before", "right"), ("after", "right")]
    columns += [("change", "right"), ("verdict", "left")]
    if not single:
        columns.insert(0, ("probe", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in comparison:
        cells = [
            c["metric"],
            fmt_number(c["before"], c["unit"]),
            fmt_number(c["after"], c.get("unit_after", c["unit"])),
            fmt_change(c, interval=False),
            VERDICT_MARK.get(c["verdict"], c["verdict"]),
        ]
        table.add_row(*([] if single else [refs[c["probe"]]]), *cells)
    return table


def _print_references(console: Any, comparison: list[dict[str, Any]]) -> None:
    """Each ``--vs`` comparison, one line a metric, under the results table."""
    for item in comparison:
        line = reference_line(item, interval=False)
        if line is not None:
            console.print(f"{item['metric']} {line}", markup=False, highlight=False)


def _print_warnings(console: Any, doc: dict[str, Any], every: bool = False) -> None:
    """Invalidating warnings first, then caution; info ones as a count unless ``every``."""
    from changenote.measure.diagnostics import split

    matter, info = split(doc.get("warnings") or [])
    for warning in [*matter, *info] if every else matter:
        style = "yellow" if warning["severity"] != "info" else None
        console.print(
            f"warning {warning['code']} ({warning['severity']}): {warning['message']}", style=style
        )
    if info and not every:
        stand = "the verdicts stand" if doc.get("comparison") else "for information"
        console.print(
            f"{len(info)} info warning(s), {stand}: changenote show {doc['id']} --warnings"
        )


def print_change(doc: dict[str, Any], kind: str, every_warning: bool = False) -> None:
    console = _console()
    head = f"#{doc['id']} {doc['slug']} ({doc['status']})"
    if kind == "baseline":
        console.print(f"baseline recorded: {head}")
        for run in doc["runs"][:1]:
            from rich.table import Table

            refs = {p: f"#{i}" for i, p in enumerate(doc["probes"], start=1)}
            legend = "\n".join(f"{ref} {p}" for p, ref in refs.items())
            table = Table(
                title=f"baseline\n{legend}" if legend else "baseline", title_justify="left"
            )
            for name in ("probe", "metric", "median", "p95", "n"):
                table.add_column(name, justify="left" if name in ("probe", "metric") else "right")
            from changenote.measure.stats import summary_only

            for m in run["metrics"]:
                table.add_row(
                    refs.get(m["probe"], m["probe"]),
                    m["metric"],
                    fmt_number(m["median"], m["unit"]),
                    fmt_number(m["p95"], m["unit"]),
                    # a results file's count, with no samples to show for it
                    f"{m['n']} (summary)" if summary_only(m) else str(m["n"]),
                )
            if run["metrics"]:
                console.print(table)
        _print_plan(console, doc)
        files = (
            " --results AFTER_FILE"
            if doc["runs"] and any(p.get("results") for p in doc["runs"][0]["probe_results"])
            else ""
        )
        console.print(
            f"next: make the change, then `changenote ship {doc['id']} --reason ...{files}`"
        )
    elif kind in ("measure", "ship"):
        title = "after vs baseline" if kind == "ship" else f"{doc.get('measured_run')} vs baseline"
        console.print(f"{'shipped' if kind == 'ship' else 'measured'}: {head}")
        if doc["comparison"]:
            console.print(results_table(doc["comparison"], title, doc["probes"]))
            _print_references(console, doc["comparison"])
        _print_expectations(console, doc)
    elif kind == "edit":
        console.print(f"edited: {head}")
        latest = [e for e in doc["timeline"] if e["kind"] == "edit"]
        stamp = latest[-1]["at"] if latest else None
        for entry in latest:
            if entry["at"] == stamp:
                console.print(f"  {timeline_line(entry)}", markup=False, highlight=False)
        if doc.get("note_path"):
            console.print(f"note: {doc['note_path']}")
    elif kind == "follow-up":
        console.print(f"follow-ups of {head}:", markup=False)
        for item in doc["follow_ups"]:
            console.print(f"  {follow_up_line(item)}", markup=False, highlight=False)
    elif kind == "review":
        review = doc["review"]
        console.print(f"reviewed: {head}: {review['status']} ({review['by']})", markup=False)
        if doc.get("note_path"):
            console.print(f"note: {doc['note_path']}")
    elif kind in ("abandon", "reopen"):
        console.print(f"{'abandoned' if kind == 'abandon' else 'reopened'}: {head}")
        for event in doc["events"][-1:]:
            if event["note"]:
                console.print(f"  why: {event['note']}")
        if kind == "abandon":
            console.print(f"to open it again: `changenote reopen {doc['slug']}`")
    else:
        console.print(f"{head}  {doc['title']}")
        for key in ("service", "owner", "route", "expected", "reason", "rollback"):
            if doc.get(key):
                console.print(f"  {key}: {doc[key]}")
        if doc["comparison"]:
            console.print(results_table(doc["comparison"], "after vs baseline", doc["probes"]))
        _print_expectations(console, doc)
        if len(doc["runs"]) > 1 or doc["comparison"]:
            console.print(distribution_table(doc))
        if doc["files_touched"]:
            console.print("  files touched: " + ", ".join(doc["files_touched"]))
    _print_warnings(console, doc, every_warning)
    if kind in ("show", "tick"):
        for item in doc["checklist"]:
            mark = "x" if item["done"] else " "
            evidence = f" — {item['evidence']}" if item["evidence"] else ""
            console.print(f"  [{mark}] {item['key']}: {item['label']}{evidence}")
    if kind == "show" and doc.get("follow_ups"):
        console.print("follow-ups:")
        for item in doc["follow_ups"]:
            console.print(f"  {follow_up_line(item)}", markup=False, highlight=False)
    if kind == "show" and doc.get("timeline"):
        console.print("timeline:")
        for entry in doc["timeline"]:
            console.print(f"  {timeline_line(entry)}", markup=False, highlight=False)
    if doc.get("note_path") and (
        kind in ("ship", "show", "tick") or (kind == "measure" and doc["status"] == "shipped")
    ):
        console.print(f"note: {doc['note_path']}")


def print_deleted(plan: dict[str, Any]) -> None:
    """What ``delete`` removed, or would remove."""
    console = _console()
    head = f"#{plan['id']} {plan['slug']} ({plan['status']}, {plan['runs']} run(s))"
    console.print(f"{'deleted' if plan['deleted'] else 'would delete'}: {head}", markup=False)
    if plan["note_removed"]:
        console.print(f"  and its note {plan['note_path']}", markup=False)
    elif plan["note_path"]:
        console.print(f"  its note {plan['note_path']} is not there or not its own: left alone")
    console.print("  its wiki pages go at the next `changenote wiki`")


def print_status(found: dict[str, Any]) -> None:
    """``status``: open changes and their next step, follow-ups due, reviews due."""
    console = _console()
    say = functools.partial(console.print, markup=False, highlight=False)
    if not found["open"]:
        say("no open change")
    for row in found["open"]:
        say(f"#{row['id']} {row['slug']}: next, {row['next']}: {row['command']}")
    for item in found["follow_ups_due"]:
        late = "overdue" if item["overdue"] else "due today"
        owner = f", {item['owner']}" if item.get("owner") else ""
        say(f"follow-up #{item['n']} of {item['slug']} {late} ({item['due']}{owner}): "
            f"{item['text']}")  # fmt: skip
    for row in found["reviews_due"]:
        say(f"review #{row['id']} {row['slug']}: {row['why']}: "
            f"changenote review {row['slug']} --status reviewed")  # fmt: skip


def print_due(rows: list[dict[str, Any]]) -> None:
    """``review --due``: each note due, and why."""
    console = _console()
    if not rows:
        console.print("no note is due for review")
        return
    for row in rows:
        line = f"#{row['id']} {row['slug']}: {row['why']} ({row['note_path']})"
        console.print(line, markup=False)


def follow_up_line(item: dict[str, Any]) -> str:
    """``[ ] #2 add an index (Grace, due 2026-12-31)``."""
    who = [item["owner"]] if item.get("owner") else []
    who += [f"due {item['due']}"] if item.get("due") else []
    extra = f" ({', '.join(who)})" if who else ""
    done = f" — done: {item['note']}" if item.get("done") and item.get("note") else ""
    return f"[{'x' if item.get('done') else ' '}] #{item['n']} {item['text']}{extra}{done}"


def timeline_line(entry: dict[str, Any]) -> str:
    """``2026-12-02 05:10 UTC  abandon: measured the wrong port (Ada)``, as the note has it."""
    when = entry["at"].replace("T", " ")[:16]
    what = f": {entry['what']}" if entry.get("what") else ""
    by = f" ({entry['by']})" if entry.get("by") else ""
    return f"{when} UTC  {entry['kind']}{what}{by}"


def _print_plan(console: Any, doc: dict[str, Any]) -> None:
    """At baseline: which clauses of --expect will be checked, on which probes."""
    refs = {p: f"#{i}" for i, p in enumerate(doc["probes"], start=1)}
    for item in doc.get("expect_plan") or []:
        if not item["checkable"]:
            console.print(f"expect (prose, not checked): {item['clause']}")
            continue
        on = ", ".join(refs.get(p, p) for p in item["probes"]) or "no probe"
        note = f"; {item['note']}" if item["note"] else ""
        console.print(f"expect (checked at ship on {on}): {item['clause']}{note}")


def _print_expectations(console: Any, doc: dict[str, Any]) -> None:
    refs = {p: f"#{i}" for i, p in enumerate(doc["probes"], start=1)}
    for item in doc.get("expectations") or []:
        style = {True: "green", False: "red"}.get(item["met"], "yellow")
        console.print(f"expected: {fmt_expectation(item, refs)}", style=style)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], low: float, high: float) -> str:
    """Samples in measured order as blocks, on a shared scale so runs can be compared."""
    if not values:
        return ""
    span = high - low
    if span <= 0:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[min(7, int((v - low) / span * 8))] for v in values)


def distribution_table(doc: dict[str, Any]) -> Any:
    """Each metric's samples per run as sparklines on one scale: the noise, not just medians."""
    from rich.table import Table

    refs = {p: f"#{i}" for i, p in enumerate(doc["probes"], start=1)}
    table = Table(title="samples in measured order (one scale per metric)", title_justify="left")
    table.add_column("probe")
    table.add_column("metric")
    for run in doc["runs"]:
        table.add_column(run["label"], overflow="fold")
    keys = list(
        dict.fromkeys((m["probe"], m["metric"]) for run in doc["runs"] for m in run["metrics"])
    )
    for probe, metric in keys:
        series: list[list[float]] = [
            next(
                (
                    m["samples"]
                    for m in run["metrics"]
                    if (m["probe"], m["metric"]) == (probe, metric)
                ),
                [],
            )
            for run in doc["runs"]
        ]
        values = [v for s in series for v in s]
        if len(values) < 2:
            continue
        low, high = min(values), max(values)
        table.add_row(
            refs.get(probe, probe), metric, *(sparkline(s[:60], low, high) for s in series)
        )
    return table


def print_list(rows: list[dict[str, Any]], empty: str | None = None) -> None:
    """One line per change; ``empty`` is what to say when there is none."""
    if not rows:
        default = "no changes yet: start with `changenote baseline TITLE --http URL`"
        sys.stdout.write((empty or default) + "\n")
        return
    out = []
    for r in rows:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(r["verdicts"].items()))
        when = (r["shipped_at"] or r["created_at"] or "")[:10]
        title = " ".join(str(r["title"]).split())
        title = title if len(title) <= 60 else title[:59] + "…"
        out.append(
            f"{r['id']:>4}  {r['status']:<8}  {when}  {r['slug']}  {title}"
            + (f"  [{verdicts}]" if verdicts else "")
        )
    sys.stdout.write("\n".join(out) + "\n")


def watch_progress(seconds: float) -> Any:
    """A progress callback for ``watch``: a live line on a terminal, else one line a minute."""
    import time

    live = sys.stderr.isatty()
    last = [0.0]

    def progress(elapsed: float, seen: str) -> None:
        now = time.monotonic()
        if live:
            sys.stderr.write(f"\rwatching {elapsed:5.0f}/{seconds:.0f} s  {seen}\x1b[K")
            sys.stderr.flush()
        elif now - last[0] >= 60:
            sys.stderr.write(f"watching {elapsed:.0f}/{seconds:.0f} s: {seen}\n")
            last[0] = now

    return progress


def end_watch_line() -> None:
    """End the live progress line of ``watch`` (on a terminal only)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def print_watch(doc: dict[str, Any]) -> None:
    """What a watch saw, in a line, and where the note was updated."""
    from changenote.monitor.watch import evidence

    print(f"{doc['slug']}: {evidence(doc['watch'])}")
    if doc.get("note_path"):
        print(f"note updated: {doc['note_path']}")
