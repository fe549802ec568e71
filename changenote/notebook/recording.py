"""Recording a measured run: probe results, metrics with raw samples, environment, commands.

Everything text goes through the ``redact`` callable before it is assigned to a row.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from changenote import __version__, gitinfo
from changenote.measure.comparing import better_for
from changenote.measure.probes import MeasureSettings, ProbeOutcome, Series
from changenote.measure.stats import kept, summarize
from changenote.redact import redact_header
from changenote.specs import ManualMetric, ProbeSpec

if TYPE_CHECKING:
    from sqlmodel import Session

    from changenote.store.models import Change, Run

Redact = Callable[[str | None], str | None]
MANUAL_PROBE = "manual"
_STANDARD_ORDER = {"time_ms": 0, "error_rate": 1, "cache_hit_ratio": 2, "db_calls": 3}


def environment(contention: float | None = None) -> dict[str, Any]:
    """What the probes ran on: enough to tell two runs were not measured alike.
    ``contention``: the share of the probes' time this machine's CPUs were contended
    (:mod:`changenote.measure.contention`), None when unknown or nothing ran here."""
    try:
        load1: float | None = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        load1 = None
    return {
        "host": socket.gethostname(),
        "load1": load1,
        "cpu_contention": contention,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "changenote": __version__,
    }


def exit_code(status: str) -> int | None:
    """The exit code in a probe status such as ``exit 3``."""
    if status.startswith("exit "):
        return int(status.split()[1])
    return None


def _metric_order(series: Series) -> tuple[int, str]:
    """Standard metrics first, in a fixed order, then custom ones by name."""
    return (_STANDARD_ORDER.get(series.metric, len(_STANDARD_ORDER)), series.metric)


def stored_probe(spec: ProbeSpec, redact: Redact) -> dict[str, Any]:
    """A probe spec as stored with the change: secrets masked, and whether any were."""
    data = spec.to_dict()
    data["target"] = redact(spec.target)
    if spec.headers:
        data["headers"] = [[n, redact(redact_header(n, v)) or ""] for n, v in spec.headers]
    if "clear_cache" in data.get("settings", {}):
        data["settings"]["clear_cache"] = redact(data["settings"]["clear_cache"])
    server = data.get("settings", {}).get("server")
    if server is not None:  # a Prometheus probe's server: user:password@ is masked
        data["settings"]["server"] = redact(server)
    data["label"] = redact(spec.label)
    data["redacted"] = (
        data["target"] != spec.target
        or server != data.get("settings", {}).get("server")
        or any(
            stored[1] != real[1]
            for stored, real in zip(data.get("headers", []), spec.headers, strict=True)
        )
    )
    return data


def _four_decimals(value: float) -> float:
    return round(value, 4)


def metric_rows(
    outcomes: list[ProbeOutcome],
    manual: list[ManualMetric],
    redact: Redact,
    rules: dict[str, Any],
    indexes: list[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per metric per probe (manual figures last), summarized, samples kept.

    The probes' indexes are their positions in ``outcomes``, or ``indexes`` when given."""
    rows = []
    for index, outcome in zip(indexes or range(len(outcomes)), outcomes, strict=True):
        label = redact(outcome.spec.label) or ""
        # a results file's samples may be nanoseconds: kept to six figures, not 4 decimals
        keep = kept if outcome.results is not None else _four_decimals
        for series in sorted(outcome.series.values(), key=_metric_order):
            summary = summarize(series.samples)
            if series.summary is not None:  # a results file that gives no samples
                figures: dict[str, Any] = {
                    k: (keep(v) if isinstance(v, float) else v) for k, v in series.summary.items()
                }
                figures["n"] = int(figures.get("n") or 0)
            elif summary and outcome.results is not None:
                figures = {k: (keep(v) if isinstance(v, float) else v)
                           for k, v in dataclasses.asdict(summary).items()}  # fmt: skip
            else:
                figures = summary.to_dict() if summary else {"n": 0}
            rows.append(
                {
                    "probe_index": index,
                    "probe": label,
                    # a command's output names its metrics: they are text like any other
                    "metric": redact(series.metric) or series.metric,
                    "unit": redact(series.unit) or "",
                    "better": better_for(series.metric, series.unit, series.better, rules),
                    "samples": [keep(s) for s in series.samples],
                    **figures,
                }
            )
    for m in manual:
        name = redact(m.name) or m.name
        rows.append(
            {
                "probe_index": -1,
                "probe": MANUAL_PROBE,
                "metric": name,
                "unit": m.unit,
                "better": better_for(name, m.unit, None, rules),
                "samples": [m.value],
                **summarize([m.value]).to_dict(),  # type: ignore[union-attr]
            }
        )
    return rows


def probe_results(outcomes: list[ProbeOutcome], redact: Redact) -> list[dict[str, Any]]:
    results = []
    for o in outcomes:
        result = {
            "label": redact(o.spec.label),
            "attempts": o.attempts,
            "errors": o.errors,
            "error_kinds": {redact(k): v for k, v in o.error_kinds.items()},
            "last_status": redact(o.last_status) or "",
            "statuses": {redact(k) or "": v for k, v in o.statuses.items()},
            "last_output": redact(o.last_output) if o.last_output else "",
        }
        if o.window is not None:
            result["window"] = dict(o.window)
        if o.results is not None:
            result["results"] = dict(o.results)
        results.append(result)
    return results


def add_run(
    session: Session,
    change: Change,
    label: str,
    outcomes: list[ProbeOutcome],
    manual: list[ManualMetric],
    git: gitinfo.GitState,
    settings: MeasureSettings,
    started: datetime,
    redact: Redact,
    indexes: list[int] | None = None,
    reference: dict[str, Any] | None = None,
    results_files: list[dict[str, Any]] | None = None,
    contention: float | None = None,
) -> None:
    """Add a run with its metrics to ``change``, and the shell commands its probes used.

    ``indexes``: the probe each outcome belongs to, when the run holds only some of
    them; ``reference``: what this run is a reference for (:func:`add_reference_run`);
    ``results_files``: the ``--results`` files its results probes were read from;
    ``contention``: the share of its probes' time the CPUs were contended."""
    from sqlmodel import func, select

    from changenote.store.models import CommandRecord, Run, utcnow

    position = session.exec(
        select(func.count()).select_from(Run).where(Run.change_id == change.id)
    ).one()
    stored_settings = settings.to_dict()
    stored_settings["clear_cache"] = redact(settings.clear_cache)
    if reference is not None:
        stored_settings["reference"] = reference
    if results_files:
        stored_settings["results_files"] = results_files
    run = Run(
        change_id=change.id,  # type: ignore[arg-type]
        position=position,
        label=label,
        started_at=started,
        finished_at=utcnow(),
        git_commit=git.commit,
        git_dirty=git.dirty,
        probes=probe_results(outcomes, redact),
        settings=stored_settings,
        environment=environment(contention),
    )
    session.add(run)
    session.flush()
    _add_metrics(session, run, metric_rows(outcomes, manual, redact, _rules(change), indexes))
    # Shell commands the probes ran are "commands used", recorded once per change.
    used: list[tuple[str, int | None]] = [
        (redact(o.spec.target) or "", exit_code(o.last_status))
        for o in outcomes
        if o.spec.kind == "cmd"
    ]
    if settings.clear_cache:
        used.append((redact(settings.clear_cache) or "", None))
    known = set(
        session.exec(select(CommandRecord.command).where(CommandRecord.change_id == change.id))
    )
    for command, status in used:
        if command and command not in known:
            known.add(command)
            session.add(
                CommandRecord(
                    change_id=change.id,  # type: ignore[arg-type]
                    position=len(known),
                    command=command,
                    source="probe",
                    exit_status=status,
                )
            )


def reference_label(of: str, vs: float) -> str:
    """The label of the reference run for run ``of``: ``after -7d``."""
    from changenote.specs import describe_duration

    return f"{of} -{describe_duration(vs)}"


def add_reference_run(
    session: Session,
    change: Change,
    of: str,
    vs: float,
    read: dict[int, ProbeOutcome],
    git: gitinfo.GitState,
    settings: MeasureSettings,
    started: datetime,
    redact: Redact,
) -> None:
    """The reference for run ``of`` (``--vs``): its Prometheus windows read ``vs`` seconds
    earlier, by probe index. It comes before ``of`` in the runs, so the newest run stays
    the one compared with the baseline."""
    indexes = sorted(read)
    add_run(
        session, change, reference_label(of, vs), [read[i] for i in indexes], [], git,
        settings, started, redact, indexes, {"of": of, "vs": vs, "probes": indexes},
    )  # fmt: skip


def fill_pending(
    session: Session,
    change: Change,
    label: str,
    read: dict[int, ProbeOutcome],
    redact: Redact,
) -> None:
    """Fill the run ``label``'s pending windows (``ship --no-wait``) with what was read
    since: each probe's result replaced, its metrics added. Nothing else of the run
    changes: it stays the run it was, measured when it was."""
    from sqlmodel import select

    from changenote.store.models import Run

    run = session.exec(select(Run).where(Run.change_id == change.id, Run.label == label)).one()
    results = list(run.probes)
    indexes = sorted(read)
    for index, result in zip(
        indexes, probe_results([read[i] for i in indexes], redact), strict=True
    ):
        results[index] = result
    run.probes = results  # a new list: the JSON column sees the change
    session.add(run)
    rows = metric_rows([read[i] for i in indexes], [], redact, _rules(change), indexes)
    _add_metrics(session, run, rows)


def _rules(change: Change) -> dict[str, Any]:
    return change.settings.get("metrics") or {}


def _add_metrics(session: Session, run: Run, rows: list[dict[str, Any]]) -> None:
    from changenote.store.models import Metric

    for row in rows:
        session.add(
            Metric(
                run_id=run.id,  # type: ignore[arg-type]
                probe_index=row["probe_index"],
                probe=row["probe"],
                name=row["metric"],
                unit=row["unit"],
                better=row["better"],
                n=row["n"],
                median=row.get("median"),
                p95=row.get("p95"),
                mean=row.get("mean"),
                stdev=row.get("stdev"),
                min=row.get("min"),
                max=row.get("max"),
                samples=row["samples"],
            )
        )
