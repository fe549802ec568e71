"""After a release: watch a change's logs and checks, keep the result on it, tick "watch".

The watching itself (following logs, counting, judging against the time before the
release) is :mod:`changenote.monitor.watch`; this records what it saw on the change,
in one transaction, and keeps the change's note in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changenote.errors import UsageError
from changenote.notebook import history, notes
from changenote.notebook.workflow import Notebook
from changenote.store.db import resolve_change


def watch_release(
    notebook: Notebook,
    ref: str | None,
    logs: list[str],
    checks: list[str],
    duration: float,
    every: float,
    pattern: str,
    since: str | None,
    poll: float = 0.1,
    progress: Any = None,
) -> dict[str, Any]:
    """Watch logs and checks after a release; keep the result on the change, and tick
    "watch" when the watch saw something: not when a log vanished, nor on silent logs
    alone (``result["ticked"]`` says which)."""
    from datetime import datetime

    from sqlmodel import col, select

    from changenote.errors import NotFoundError
    from changenote.measure.checks import find_check, monitoring_spec
    from changenote.measure.probes import open_probe
    from changenote.monitor import watch as watching
    from changenote.notebook import document
    from changenote.store.models import Change

    if not logs and not checks:
        raise UsageError("nothing to watch: give --log PATH and/or --check NAME")
    if every <= 0 or poll <= 0:
        raise UsageError("--every must be greater than 0")
    watching.compile_pattern(pattern)
    started = datetime.now()
    since_at = watching.parse_since(since, started) if since else None
    if since_at is not None and not logs:
        raise UsageError("--since sets the reference window of --log files; give --log")
    paths = [Path(p) for p in logs]
    configured = [find_check(notebook.config, name) for name in dict.fromkeys(checks)]
    with notebook.store.read() as session:
        if ref is None:
            change = session.exec(
                select(Change)
                .where(Change.status == "shipped")
                .order_by(col(Change.shipped_at).desc(), col(Change.id).desc())
            ).first()
            if change is None:
                raise NotFoundError("no shipped change to watch: give an id or slug")
        else:
            change = resolve_change(session, ref)
        change_id = change.id
        doc = document.load(session, change)
    for path in paths:
        if path.exists() and not path.is_file():
            raise UsageError(f"--log {path}: not a file")
        if not path.exists():  # watching nothing would read as an all-clear
            raise UsageError(f"--log {path}: no such file; is the service logging elsewhere?")
    what = [f"{len(paths)} log(s)"] if paths else []
    what += [f"{len(configured)} check(s)"] if configured else []
    notebook.acting_on("watch", change, f"watching {' and '.join(what)} for {duration:g} s")
    baseline = doc["runs"][0] if doc["runs"] else None
    probes = {}
    try:
        for check in configured:
            spec = monitoring_spec(check)
            probes[check.name] = open_probe(spec, check.timeout or notebook.config.timeout)
        result = watching.watch(
            paths,
            pattern,
            duration,
            configured,
            every,
            since_at,
            poll,
            progress,
            lambda check: probes[check.name].run(),
        )
    finally:
        for probe in probes.values():
            probe.close()
    watching.compare_checks(result, baseline)
    for log in result["logs"]:
        log["path"] = notebook.redact_text(log["path"])
    said = watching.evidence(result)
    # Kept either way (it says what was and was not seen); ticked only when it saw.
    result["ticked"] = watching.is_evidence(result)
    by = history.who(notebook.config, None)
    with notes.Staged(notebook.config) as staged, notebook.store.write() as session:
        change = resolve_change(session, str(change_id))
        change.watches = [*(change.watches or []), result]
        session.add(change)
        history.record(session, change, "watch", by, note=notebook.redact_text(said))
        if result["ticked"]:
            notebook.tick_in(session, change, "watch", said, keep=True)
        session.flush()
        doc = document.load(session, change)
        if change.note_path:
            staged.write(doc)
    doc["watch"] = result
    return doc
