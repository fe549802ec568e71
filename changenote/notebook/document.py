"""The change document: the one structured record behind ``--json``, notes and export.

``load`` reads a change and its rows into a plain dict (the public JSON contract);
``note_context`` turns that dict into what the note template lays out. Both are
pure apart from the reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from changenote.errors import NotFoundError, UnreadableChangeError
from changenote.formatting import VERDICT_MARK, fmt_number, iso
from changenote.notebook import history, rules
from changenote.steps import STANDARD_CHECKLIST

if TYPE_CHECKING:
    from sqlmodel import Session

    from changenote.store.models import Change

SCHEMA = "changenote/change@1"


def load(session: Session, change: Change) -> dict[str, Any]:
    """The whole record of ``change`` as the public change document.

    Raises :class:`UnreadableChangeError`, naming the change, when its rows are no longer
    a document every reader can use (a row an older changenote let in: a time of year
    1, probes that are not objects, tags that are not text...): one change never takes
    a whole export, render or wiki down with it.
    """
    if not isinstance(change.probes, list):
        raise UnreadableChangeError(change.slug, "export.probe_specs: must be a list")
    for i, spec in enumerate(change.probes):
        problem = _spec_problem(spec)
        if problem is not None:
            raise UnreadableChangeError(change.slug, f"export.probe_specs[{i}]{problem}")
    try:
        doc = _document(session, change)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise UnreadableChangeError(change.slug, _failure(exc)) from None
    found = rules.check(doc)
    if found is not None:
        raise UnreadableChangeError(
            change.slug, f"{found[0]}: {found[1]}" if found[0] else found[1]
        )
    doc["timeline"] = history.timeline(doc)
    return doc


def load_id(session: Session, change_id: int) -> dict[str, Any]:
    """The document of the change with this id, its row read here: a row that cannot even
    be read (a time SQLite holds as text that is none) raises UnreadableChangeError too."""
    from changenote.store.models import Change

    try:
        change = session.get(Change, change_id)
    except (ValueError, TypeError, OverflowError) as exc:
        raise unreadable_row(session, change_id, exc) from None
    if change is None:
        raise NotFoundError(f"no change with id {change_id}")
    return load(session, change)


def resolve(session: Session, ref: str | None, any_status: bool = False) -> Change:
    """:func:`changenote.store.db.resolve_change`, a row it cannot read named as
    UnreadableChangeError instead of a traceback."""
    from sqlmodel import col, select

    from changenote.store.db import OPEN, resolve_change
    from changenote.store.models import Change

    try:
        return resolve_change(session, ref, any_status)
    except (ValueError, TypeError, OverflowError) as exc:
        query = select(Change.id).order_by(col(Change.id).desc())
        text = (ref or "").strip()
        if ref is None:
            query = query.where(Change.status == OPEN) if not any_status else query
        elif text.isascii() and text.isdigit() and len(text) < 18:
            query = query.where(Change.id == int(text))
        else:
            query = query.where(Change.slug == text)
        change_id = session.exec(query).first()
        if change_id is None:
            raise
        raise unreadable_row(session, change_id, exc) from None


def unreadable_row(session: Session, change_id: int, exc: Exception) -> UnreadableChangeError:
    """What is wrong with a change row the database driver cannot turn into values: the
    first column that fails alone, and why."""
    from sqlalchemy import select

    from changenote.notebook.schema import shorten
    from changenote.store.models import Change

    table = Change.__table__  # type: ignore[attr-defined]
    slug = session.execute(select(table.c.slug).where(table.c.id == change_id)).scalar()
    name = str(slug) if slug is not None else f"#{change_id}"
    for column in table.columns:
        try:
            session.execute(select(column).where(table.c.id == change_id)).all()
        except (ValueError, TypeError, OverflowError) as err:
            return UnreadableChangeError(name, f"{column.name}: {shorten(str(err))}")
    return UnreadableChangeError(name, shorten(str(exc)))


def _spec_problem(spec: Any) -> str | None:
    """Why a stored probe spec is none a rerun or an import can use (after its field)."""
    from changenote.notebook.schema import problem

    found = problem(spec, strict=False, at="#/$defs/probe_spec")
    if found is None:
        return None
    where, what = found
    return f"{'.' if where and not where.startswith('[') else ''}{where}: {what}"


def _failure(exc: Exception) -> str:
    from changenote.notebook.schema import shorten

    return f"a stored value is not what changenote keeps there ({shorten(str(exc))})"


def _document(session: Session, change: Change) -> dict[str, Any]:
    from sqlmodel import col, select

    from changenote.store.models import ChecklistItem, CommandRecord, FileTouched, Metric, Run

    runs = session.exec(
        select(Run).where(Run.change_id == change.id).order_by(col(Run.position), col(Run.id))
    ).all()
    run_ids = [r.id for r in runs]
    metrics = (
        session.exec(
            select(Metric)
            .where(col(Metric.run_id).in_(run_ids))
            .order_by(col(Metric.run_id), col(Metric.probe_index), col(Metric.id))
        ).all()
        if run_ids
        else []
    )
    commands = session.exec(
        select(CommandRecord)
        .where(CommandRecord.change_id == change.id)
        .order_by(col(CommandRecord.position), col(CommandRecord.id))
    ).all()
    files = session.exec(
        select(FileTouched).where(FileTouched.change_id == change.id).order_by(col(FileTouched.id))
    ).all()
    items = session.exec(
        select(ChecklistItem)
        .where(ChecklistItem.change_id == change.id)
        .order_by(col(ChecklistItem.position))
    ).all()
    by_run: dict[int, list[dict[str, Any]]] = {}
    # Probe metrics in the order the probes were given, manual figures (index -1) last.
    metrics = sorted(metrics, key=lambda m: (m.run_id, m.probe_index < 0, m.probe_index, m.id))
    for m in metrics:
        by_run.setdefault(m.run_id, []).append(
            {
                "probe": m.probe,
                "probe_index": m.probe_index,
                "metric": m.name,
                "unit": m.unit,
                "better": m.better,
                "n": m.n,
                "median": m.median,
                "p95": m.p95,
                "mean": m.mean,
                "stdev": m.stdev,
                "min": m.min,
                "max": m.max,
                "samples": list(m.samples),
            }
        )
    seen_commands: list[str] = []
    for c in commands:
        if c.command not in seen_commands:
            seen_commands.append(c.command)
    return {
        "schema": SCHEMA,
        "id": change.id,
        "uid": change.uid,
        "slug": change.slug,
        "title": change.title,
        "status": change.status,
        "service": change.service,
        "owner": change.owner,
        "route": change.route,
        "input": change.input,
        "noticed": change.noticed,
        "expected": change.expected,
        "reason": change.reason,
        "rollback": change.rollback,
        "tags": list(change.tags),
        "probes": [p.get("label", p.get("target")) for p in change.probes],
        "settings": dict(change.settings),
        "base_commit": change.base_commit,
        "base_dirty": change.base_dirty,
        "head_commit": change.head_commit,
        "files_touched": [f.path for f in files],
        "commands": seen_commands,
        "command_log": [
            {"command": c.command, "source": c.source, "exit_status": c.exit_status}
            for c in commands
        ],
        "runs": [
            {
                "label": r.label,
                "started_at": iso(r.started_at),
                "finished_at": iso(r.finished_at),
                "git_commit": r.git_commit,
                "git_dirty": r.git_dirty,
                "probes": [p.get("label") for p in r.probes],
                "probe_results": list(r.probes),
                "settings": dict(r.settings),
                "environment": dict(r.environment or {}),
                "metrics": by_run.get(r.id or -1, []),
            }
            for r in runs
        ],
        "comparison": list(change.comparison),
        "warnings": list(change.warnings),
        "expectations": list(change.expectations or []),
        "watches": list(change.watches or []),
        "checklist": [
            {
                "key": i.key,
                "label": i.label,
                "done": i.done,
                "evidence": i.evidence,
                "done_at": iso(i.done_at),
            }
            for i in items
        ],
        "note_path": change.note_path,
        "created_at": iso(change.created_at),
        "shipped_at": iso(change.shipped_at),
        "review": {
            "status": change.review_status,
            "by": change.reviewed_by,
            "at": iso(change.reviewed_at),
        },
        **history.links(session, change),
        "follow_ups": history.follow_ups(session, change.id or 0),
        "events": history.events(session, change.id or 0),
    }


def fmt_change(item: dict[str, Any], interval: bool = True) -> str:
    """The change with its 95% interval: percent, or points for rates."""
    has_ci = interval and item.get("ci_low") is not None and item.get("ci_high") is not None
    if item.get("ci_unit") == "pts" or (item.get("unit") == "ratio" and "ci_unit" not in item):
        if item.get("before") is None or item.get("after") is None:
            return "—"
        text = f"{(item['after'] - item['before']) * 100:+.1f} pts"
        if has_ci:
            text += f" (95% CI {item['ci_low']:+.1f} … {item['ci_high']:+.1f} pts)"
        return text
    pct = item.get("change_pct")
    if pct is None:
        return "—"
    text = f"{pct:+.1f}%"
    if has_ci:
        text += f" (95% CI {item['ci_low']:+.1f}% … {item['ci_high']:+.1f}%)"
    return text


def fmt_expectation(item: dict[str, Any], refs: dict[str, str]) -> str:
    """One checked clause in words: ``met: time_ms p95 < 200 (#1: 3.1 ms)``."""
    if item["met"] is None:
        why = item.get("why") or f"no probe measured {item['metric']}"
        return f"not checked: {item['expect']} ({why})"
    where = refs.get(item["probe"], item["probe"])
    figure = fmt_number(item["actual"], item.get("unit", ""))
    state = "met" if item["met"] else "not met"
    return f"{state}: {item['expect']} ({where}: {item['stat']} {figure})"


def summary_sentence(doc: dict[str, Any]) -> str:
    """One paragraph a reader can quote."""
    comparison = doc.get("comparison") or []
    if not comparison:
        if doc["status"] == "shipped":
            return "Shipped without measurements to compare."
        runs = doc.get("runs") or []
        return f"Baseline recorded ({len(runs)} run(s)); not shipped yet."
    counts = {v: 0 for v in ("improved", "regressed", "not-significant")}
    for item in comparison:
        counts[item["verdict"]] = counts.get(item["verdict"], 0) + 1
    timed = [c for c in comparison if c["metric"] == "time_ms"]
    measured = [c for c in timed if c["verdict"] != "not-measured"]
    lead = (measured or timed or comparison)[0]
    # a window's and a summary's figures are means; the others' medians, rates or means
    mean = "The mean " if lead.get("kind") in ("window", "summary") else ""
    headline = (
        f"{mean}{lead['metric']} of {lead['probe']} went from "
        f"{fmt_number(lead['before'], lead['unit'])} to "
        f"{fmt_number(lead['after'], lead.get('unit_after', lead['unit']))}"
        f" ({fmt_change(lead, interval=False)}, {lead['verdict']})."
    )
    tally = (
        f"{counts['improved']} metric(s) improved, {counts['regressed']} regressed, "
        f"{counts['not-significant']} not significant"
    )
    for verdict in ("no-test", "not-measured", "not-comparable"):
        if counts.get(verdict):
            tally += f", {counts[verdict]} {VERDICT_MARK[verdict]}"
    tally += "."
    checked = [e for e in doc.get("expectations") or [] if e["met"] is not None]
    if checked:
        met = sum(1 for e in checked if e["met"])
        tally += f" Expected result: {met} of {len(checked)} check(s) met."
    return f"{headline} {tally}"


def reference_line(item: dict[str, Any], interval: bool = True) -> str | None:
    """An item's ``--vs`` comparison in words: ``against the same window 7d earlier
    (after -7d): 3.11 → 2.89, -7.1%, no test``; None when it has none."""
    from changenote.specs import describe_duration

    vs = item.get("vs")
    if not vs:
        return None
    both = {**item, **vs, "after": item.get("after")}
    return (
        f"against the same window {describe_duration(float(vs['offset']))} earlier "
        f"({vs['run']}): {fmt_number(vs.get('before'), item['unit'])} → "
        f"{fmt_number(item.get('after'), item['unit'])}, {fmt_change(both, interval)}, "
        f"{VERDICT_MARK.get(vs['verdict'], vs['verdict'])}"
    )


def probe_refs(doc: dict[str, Any]) -> dict[str, str]:
    """Short names for probes in tables: ``#1``, ``#2``... in the order they were given."""
    from changenote.formatting import md_inline

    refs = {label: f"#{i}" for i, label in enumerate(doc.get("probes") or [], start=1)}
    for item in doc.get("comparison") or []:
        refs.setdefault(item["probe"], md_inline(item["probe"]))
    for run in doc.get("runs") or []:
        for metric in run.get("metrics") or []:
            refs.setdefault(metric["probe"], md_inline(metric["probe"]))
    return refs


def note_context(doc: dict[str, Any], front_matter: str) -> dict[str, Any]:
    """What ``note.md.j2`` lays out: the document plus rows already formatted."""
    refs = probe_refs(doc)
    rows = [
        {
            "probe": c["probe"],
            "ref": refs.get(c["probe"], c["probe"]),
            "metric": c["metric"],
            "before": fmt_number(c["before"], c["unit"]),
            "after": fmt_number(c["after"], c.get("unit_after", c["unit"])),
            "change": fmt_change(c),
            "verdict": VERDICT_MARK.get(c["verdict"], c["verdict"]),
            "detail": c.get("detail", ""),
            "vs": reference_line(c),
        }
        for c in doc.get("comparison") or []
    ]
    baseline = next((r for r in doc["runs"] if r["label"] == "baseline"), None)
    baseline_rows = []
    if baseline and not rows:
        baseline_rows = [
            {
                "probe": m["probe"],
                "ref": refs.get(m["probe"], m["probe"]),
                "metric": m["metric"],
                "median": fmt_number(m["median"], m["unit"]),
                "p95": fmt_number(m["p95"], m["unit"]),
                "n": m["n"],
            }
            for m in baseline["metrics"]
        ]
    standard = {key for key, _ in STANDARD_CHECKLIST}
    probes_seen = {c["probe"] for c in doc.get("comparison") or []}
    from changenote.measure.diagnostics import split

    warnings, info = split(doc.get("warnings") or [])
    ship = next((r for r in reversed(doc["runs"]) if r["label"] == "after"), None)
    return {
        "shipped": {
            "at": ship["started_at"] or "",
            "commit": ship.get("git_commit"),
            "dirty": ship.get("git_dirty"),
        }
        if ship and doc["status"] == "shipped"
        else None,
        "commands": _commands_used(doc),
        "no_git": any(w["code"] == "not-a-git-repository" for w in doc.get("warnings") or []),
        # a note written before schema 0009 has none of these: its timeline is derived
        "review": {"status": None, "by": None, "at": None, **(doc.get("review") or {})},
        "superseded_by": doc.get("superseded_by"),
        "supersedes": doc.get("supersedes") or [],
        "follow_ups": doc.get("follow_ups") or [],
        "timeline": doc["timeline"] if "timeline" in doc else history.timeline(doc),
        "warnings": warnings,
        "info_warnings": len(info),
        "single_probe": probes_seen.pop() if len(probes_seen) == 1 else None,
        "doc": doc,
        "front_matter": front_matter,
        "summary": summary_sentence(doc),
        "expectations": [fmt_expectation(e, refs) for e in doc.get("expectations") or []],
        "rows": rows,
        "baseline_rows": baseline_rows,
        "baseline": baseline,
        "probe_commands": [{"ref": refs[p], "label": p} for p in doc["probes"]],
        "windows": _windows(doc, refs),
        "results_files": results_sources(doc, refs),
        # the runs' figures apply to the probes that run; Prometheus probes and results
        # files are read
        "runs_measured": not doc["probes"]
        or any(not _is_read(doc, i) for i in range(len(doc["probes"]))),
        "checklist": doc["checklist"],
        "extra_items": [i for i in doc["checklist"] if i["key"] not in standard],
        "date": (doc.get("shipped_at") or doc.get("created_at") or "")[:10],
    }


def _is_window(doc: dict[str, Any], index: int) -> bool:
    runs = doc.get("runs") or []
    results = runs[0].get("probe_results") or [] if runs else []
    return index < len(results) and bool(results[index].get("window"))


def _is_read(doc: dict[str, Any], index: int) -> bool:
    """A probe changenote did not run: a Prometheus window or a results file's benchmark."""
    runs = doc.get("runs") or []
    results = runs[0].get("probe_results") or [] if runs else []
    return index < len(results) and bool(
        results[index].get("window") or results[index].get("results")
    )


def results_source(run: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
    """Where a run's benchmark came from: ``text`` in words (``from hyperfine (the file
    gives no version), 30 runs``), the file's ``path`` and ``sha256`` (its first 12
    digits; both None when this run's files lack it); None for other probes."""
    about = result.get("results")
    if about is None:
        return None
    files = (run.get("settings") or {}).get("results_files") or []
    index = about.get("file")
    if index is None or not isinstance(index, int) or not 0 <= index < len(files):
        said = str(result.get("last_status") or "not in this run's results files")
        return {"text": said, "path": None, "sha256": None}
    found = files[index]
    tool = found.get("tool", "?")
    version = found.get("tool_version")
    said = f"from {tool} {version}" if version else f"from {tool} (the file gives no version)"
    if found.get("format_version") and found.get("format_version") != version:
        said += f", format {found['format_version']}"
    from changenote.measure.results_probes import SAMPLE_NOUN

    n = about.get("n")
    noun = SAMPLE_NOUN.get(tool, "samples")
    if about.get("summary_only"):
        said += f", summary only ({f'{n:,} {noun}' if n else 'no count'}, no samples)"
    elif n:
        said += f", {n:,} {noun}"
    return {"text": said, "path": found.get("path"), "sha256": str(found.get("sha256"))[:12]}


def results_sources(doc: dict[str, Any], refs: dict[str, str]) -> list[dict[str, Any]]:
    """Each results-file probe with where every run read it from."""
    found: dict[str, dict[str, Any]] = {}
    for run in doc.get("runs") or []:
        for result in run.get("probe_results") or []:
            said = results_source(run, result)
            if said is None:
                continue
            label = result["label"]
            name = (result.get("results") or {}).get("benchmark")
            entry = found.setdefault(
                label,
                {
                    "ref": refs.get(label) if label in (doc.get("probes") or []) else None,
                    "label": label,
                    "reads": [],
                    "name": name,
                },
            )
            renamed = name is not None and entry["name"] is not None and name != entry["name"]
            entry["reads"].append({"run": run["label"], **said, "as": name if renamed else None})
    return list(found.values())


def _windows(doc: dict[str, Any], refs: dict[str, str]) -> list[dict[str, Any]]:
    """Each Prometheus probe with the window every run read: when, the step, the points."""
    from changenote.specs import describe_duration

    found = []
    for index, label in enumerate(doc["probes"]):
        if not _is_window(doc, index):
            continue
        reads = []
        for run in doc.get("runs") or []:
            # by label: a --vs reference run holds only the probes it read again
            result: dict[str, Any] = next(
                (r for r in run.get("probe_results") or [] if r["label"] == label), {}
            )
            window = result.get("window")
            if window:
                reads.append(
                    {
                        "run": run["label"],
                        "start": str(window.get("start", ""))[:19].replace("T", " "),
                        "end": str(window.get("end", ""))[11:19],
                        "step": describe_duration(float(window.get("step") or 0)),
                        "points": window.get("points"),
                        "status": result.get("last_status", ""),
                    }
                )
        found.append({"ref": refs.get(label, label), "label": label, "reads": reads})
    return found


#: How a command came into the log, in words (probes are listed as probes, not here).
_COMMAND_SOURCE = {
    "tick": "ran for a checklist tick",
    "ship": "given at ship; not run by changenote",
    "import": "imported",
}


def _commands_used(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The commands the change used, apart from the probes that measured it."""
    log = doc.get("command_log")
    if not log:  # a document from before the log: only the commands
        return [{"text": c, "how": ""} for c in doc.get("commands") or []]
    used = []
    for entry in log:
        if entry.get("source") == "probe":
            continue
        how = _COMMAND_SOURCE.get(entry.get("source") or "", entry.get("source") or "")
        if entry.get("exit_status") is not None:
            how += f", exit {entry['exit_status']}"
        used.append({"text": entry["command"], "how": how})
    return used


def note_filename(doc: dict[str, Any]) -> str:
    """``<date>-<slug>.md``, the date being the ship date (or the baseline's)."""
    date = (doc.get("shipped_at") or doc.get("created_at") or "0000-00-00")[:10]
    return f"{date}-{doc['slug']}.md"


def gate_failures(doc: dict[str, Any]) -> str | None:
    """Why ``--fail-on-regression`` fails this document, in one line; None when it passes."""
    regressed = [
        f"{c['metric']} of {c['probe']}" for c in doc["comparison"] if c["verdict"] == "regressed"
    ]
    unmet = [e["expect"] for e in doc.get("expectations", []) if e["met"] is False]
    from changenote.measure.comparing import vanished_benchmarks

    # a gated benchmark that vanished from the newest run's files cannot be vouched for
    runs = doc.get("runs") or []
    vanished = vanished_benchmarks(runs[-1]) if runs else []
    parts = ([f"regressed: {', '.join(regressed)}"] if regressed else []) + (
        [f"expectation not met: {'; '.join(unmet)}"] if unmet else []
    )
    parts += [f"not measured: {', '.join(vanished)}"] if vanished else []
    return " | ".join(parts) or None
