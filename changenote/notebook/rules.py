"""The rules of a change document its JSON Schema cannot say: a slug that is no id,
what a shipped change has, samples that match their count, times that are real ones.

:func:`check` is what a document read from the store must keep; import runs
:func:`rules` after the schema (``notebook/schema.py``) has checked the types.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

from changenote.measure.stats import summary_only
from changenote.notebook.schema import show

#: A time as the schema has it (``$defs/time``; a test holds the two equal): 1970 to
#: 9999, ISO 8601. The documents' own form is ``2026-01-31T12:00:00Z``.
TIME = re.compile(
    r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\Z"
)


def check(doc: dict[str, Any]) -> tuple[str, str] | None:
    """The first way a document read from the store breaks what its readers rely on:
    the schema's types and shapes (not its lengths and bounds: an old store may hold a
    longer name than PostgreSQL would), then :func:`rules`."""
    from changenote.notebook.schema import problem

    return problem(doc, strict=False) or rules(doc)


def rules(doc: dict[str, Any], times: bool = True) -> tuple[str, str] | None:
    """The first rule of a change document that its JSON Schema cannot say and ``doc``
    breaks, as ``(field, what is wrong)``; None when it keeps them all. ``doc`` has the
    schema's types (import checks them first). ``times=False`` leaves out that every
    time is a real one (import parses each as it writes it, and asks again when one
    is not)."""
    slug = doc["slug"]
    if slug.isdigit():
        return "slug", f"{show(slug)} is not a changenote slug: it would read as an id"
    runs = doc.get("runs") or []
    if times and not _times_fine(doc, runs):
        found = _times_problem(doc, runs)
        if found is not None:
            return found
    if doc["status"] == "shipped":
        if doc.get("shipped_at") is None:
            return "shipped_at", "a shipped change has the time it was shipped"
        if doc.get("note_path") is None:  # ("" on import: the usual place)
            return "note_path", "a shipped change has a note"
        if not any(run["label"] == "after" for run in runs):
            return "runs", "a shipped change has the run measured at ship (labelled 'after')"
    elif doc.get("shipped_at") is not None:
        return "shipped_at", f"a change not shipped has no ship time (status {show(doc['status'])})"
    if doc["status"] != "shipped" and (doc.get("review") or {}).get("status") is not None:
        return "review.status", "a change not shipped has no note to review"
    settings = doc.get("settings") or {}
    if runs:
        for key in ("runs", "warmup"):
            if key not in settings:
                return f"settings.{key}", "missing: a change with runs keeps how they were measured"
    for i, run in enumerate(runs):
        for j, metric in enumerate(run.get("metrics") or []):
            count = len(metric.get("samples") or [])
            if "n" in metric and metric["n"] != count and not _a_summary(metric, run):
                return (
                    f"runs[{i}].metrics[{j}].n",
                    f"is {show(metric['n'])} but the metric has {count} sample(s)",
                )
    return None


def _a_summary(metric: dict[str, Any], run: dict[str, Any]) -> bool:
    """A metric a results file gave as a summary (no samples, its own n): only a probe
    whose result says so, so no other probe's figures pass for a summary."""
    from changenote.measure.comparing import summary_probes

    return summary_only(metric) and metric.get("probe_index") in summary_probes(run)


def _times_fine(doc: dict[str, Any], runs: list[dict[str, Any]]) -> bool:
    """Whether every time in ``doc`` is one (each distinct text is checked once)."""
    fine = _is_a_time
    if not (fine(doc["created_at"]) and fine(doc.get("shipped_at"))):
        return False
    for run in runs:
        if not (fine(run["started_at"]) and fine(run["finished_at"])):
            return False
    for item in doc.get("checklist") or ():
        if not fine(item.get("done_at")):
            return False
    for event in doc.get("events") or ():
        if not fine(event["at"]):
            return False
    if not fine((doc.get("review") or {}).get("at")):
        return False
    for item in doc.get("follow_ups") or ():
        if not (fine(item.get("done_at")) and fine(item.get("created_at"))):
            return False
        if item.get("due") is not None and _date_problem(item["due"]) is not None:
            return False
    export = doc.get("export")
    return not export or all(map(fine, export.get("command_times") or ()))


def _is_a_time(when: str | None) -> bool:
    return when is None or _time_problem(when) is None


def _times_problem(doc: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The first time in ``doc`` that is none (its field is put together only then)."""
    check = _time_problem
    for key in ("created_at", "shipped_at"):
        when = doc.get(key)
        if when is not None and check(when) is not None:
            return key, str(check(when))
    for i, run in enumerate(runs):
        for key in ("started_at", "finished_at"):
            if check(run[key]) is not None:
                return f"runs[{i}].{key}", str(check(run[key]))
    for i, item in enumerate(doc.get("checklist") or []):
        when = item.get("done_at")
        if when is not None and check(when) is not None:
            return f"checklist[{i}].done_at", str(check(when))
    for i, event in enumerate(doc.get("events") or []):
        if check(event["at"]) is not None:
            return f"events[{i}].at", str(check(event["at"]))
    reviewed = (doc.get("review") or {}).get("at")
    if reviewed is not None and check(reviewed) is not None:
        return "review.at", str(check(reviewed))
    for i, item in enumerate(doc.get("follow_ups") or []):
        for key in ("done_at", "created_at"):
            when = item.get(key)
            if when is not None and check(when) is not None:
                return f"follow_ups[{i}].{key}", str(check(when))
        if item.get("due") is not None and _date_problem(item["due"]) is not None:
            return f"follow_ups[{i}].due", str(_date_problem(item["due"]))
    for i, when in enumerate((doc.get("export") or {}).get("command_times") or []):
        if check(when) is not None:
            return f"export.command_times[{i}]", str(check(when))
    return None


@functools.lru_cache(maxsize=1 << 12)
def _time_problem(text: str) -> str | None:
    """Why ``text`` is no time a store keeps, or None."""
    if not TIME.match(text):
        return f"{show(text)} is not a time from 1970 to 9999, ISO 8601 (2026-01-31T12:00:00Z)"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        return f"{show(text)} is not a time ({exc})"
    return None


def _date_problem(text: str) -> str | None:
    """Why ``text`` is no calendar date (2026-02-30), or None."""
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError as exc:
        return f"{show(text)} is not a date ({exc})"
    return None
