"""After a release: watch a change's logs, checks and Prometheus queries, keep the result
on it, tick "watch".

The watching itself (following logs, counting, judging against the time before the
release) is :mod:`changenote.monitor.watch`, the Prometheus queries'
:mod:`changenote.monitor.prom_watch`; this records what they saw on the change, in one
transaction, and keeps the change's note in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.errors import ProbeError, UsageError
from changenote.monitor import prom_watch
from changenote.notebook import history, notes, repeat
from changenote.notebook.workflow import Notebook
from changenote.store.db import resolve_change

if TYPE_CHECKING:
    from changenote.config import CheckConfig
    from changenote.store.models import Change


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
    prometheus: str | None = None,
    follow_prom: bool = True,
    headers: list[str] | None = None,
) -> dict[str, Any]:
    """Watch logs, checks and the change's Prometheus queries after a release; keep the
    result on the change, and tick "watch" when the watch saw something: not when a log
    vanished, nor on silent logs alone (``result["ticked"]`` says which).

    ``prometheus`` is the server the queries ask (else the environment's, the config's,
    the baseline's); ``follow_prom`` False leaves the change's own queries out (a
    Prometheus check named in ``checks`` is still followed); ``headers`` give a
    Prometheus probe's header again when its secret was not stored."""
    from datetime import datetime

    from sqlmodel import col, select

    from changenote.errors import NotFoundError
    from changenote.measure.checks import find_check, monitoring_spec
    from changenote.measure.probes import open_probe
    from changenote.monitor import watch as watching
    from changenote.notebook import document
    from changenote.store.models import Change

    if every <= 0 or poll <= 0:
        raise UsageError("--every must be greater than 0")
    watching.compile_pattern(pattern)
    started = datetime.now()
    since_at = watching.parse_since(since, started) if since else None
    if since_at is not None and not logs:
        raise UsageError("--since sets the reference window of --log files; give --log")
    paths = [Path(p) for p in logs]
    named = [find_check(notebook.config, name) for name in dict.fromkeys(checks)]
    configured = [c for c in named if not c.prom]  # Prometheus checks are read, not run
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
    queries = _queries(notebook, change, [c for c in named if c.prom], prometheus,
                       follow_prom, headers or [])  # fmt: skip
    if not paths and not configured and not queries:
        raise UsageError(
            "nothing to watch: give --log PATH and/or --check NAME"
            + ("" if follow_prom else " (--no-prom leaves the change's Prometheus queries out)")
        )
    baseline = doc["runs"][0] if doc["runs"] else None
    probes = {}
    try:
        # Reaching the server is part of the input: checked (one read each) before the
        # watch is announced, so an unreachable one records nothing.
        try:
            prom_watch.open_queries(queries)
        except ProbeError as exc:
            if not any(q.index is not None for q in queries):
                raise
            raise ProbeError(f"{exc}; or watch without the change's queries: --no-prom") from None
        what = [f"{len(paths)} log(s)"] if paths else []
        what += [f"{len(configured)} check(s)"] if configured else []
        if queries:
            what.append(f"{len(queries)} Prometheus quer{'y' if len(queries) == 1 else 'ies'}")
        notebook.acting_on("watch", change, f"watching {' and '.join(what)} for {duration:g} s")
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
            queries,
        )
        result["prometheus"] = [
            prom_watch.finish(q, baseline, doc["settings"], notebook.redact_text) for q in queries
        ]
    finally:
        for probe in probes.values():
            probe.close()
        for query in queries:
            query.close()
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


def _queries(
    notebook: Notebook,
    change: Change,
    prom_checks: list[CheckConfig],
    given: str | None,
    follow_prom: bool,
    headers: list[str],
) -> list[prom_watch.Query]:
    """The Prometheus queries to follow, not opened yet: the change's own (as its
    baseline read them, on the server given now or the one it stored), then the
    Prometheus checks named with ``--check`` that are not among them."""
    from changenote.measure import prometheus
    from changenote.measure.checks import check_spec

    timeout = notebook.config.timeout
    stored = [(i, p) for i, p in enumerate(change.probes or []) if p.get("kind") == "prom"]
    queries = []
    if follow_prom and stored:
        try:
            specs = repeat.rerun_specs([p for _, p in stored], headers)
            # The same server as measure and ship: --prometheus, the environment, the
            # config, else the one the baseline stored (refused when its secret was masked).
            specs = notebook._rerun_prom(specs, given)
        except ProbeError as exc:
            raise ProbeError(f"{exc}; or watch without the change's queries: --no-prom") from None
        for (index, data), spec in zip(stored, specs, strict=True):
            queries.append(prom_watch.Query(spec, str(data.get("label") or ""), index, timeout))
    followed = {q.spec.check for q in queries if q.spec.check}
    for check in prom_checks:
        if check.name in followed:
            continue  # the change's own probe of this check: followed once
        url = notebook._prometheus_url(given)
        if url is None:
            raise UsageError(
                f"--check {check.name} reads Prometheus: give --prometheus URL, "
                f"{prometheus.PROMETHEUS_ENV} or prometheus_url in the config"
            )
        (spec,) = prometheus.settle([check_spec(check)], url, None, None, timeout)
        found = next((i for i, p in stored if p.get("check") == check.name), None)
        label = notebook.redact_text(spec.label) or ""
        queries.append(prom_watch.Query(spec, label, found, timeout))
    if not queries:
        for flag, value in (("--prometheus", given), ("--header", headers)):
            if value:
                raise UsageError(f"{flag} applies to Prometheus queries; this watch follows none")
    return queries
