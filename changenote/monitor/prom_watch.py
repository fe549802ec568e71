"""Following Prometheus queries during a watch, and judging the stretch that was watched.

While ``changenote watch`` runs, each query's latest point is read every ``--every``
(the progress line shows it). When the watch ends (or at Ctrl-C) the whole watched
stretch, from its start to its end, is read as one window at the probe's step and
compared with the change's baseline window of the same probe by
:func:`changenote.measure.windows.compare_windows`, with the change's minimum effect.

A stretch of fewer than 3 points, or a read with a problem (no series, several, NaN,
points missing, a server that stopped answering), is *no data* with its reason, never
a verdict. Reaching the server is checked before the watch starts: an unreachable
server or an HTTP error there stops the watch before anything is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from changenote.errors import ProbeError
from changenote.formatting import iso
from changenote.measure import prometheus
from changenote.specs import ProbeSpec, describe_duration

#: The latest point is read from a range of this many steps back to now, so one late
#: scrape does not make it "no data".
LATEST_STEPS = 2
#: Fewer points than this in the watched stretch: no verdict.
MIN_POINTS = 3

Redact = Callable[[str | None], str | None]


@dataclass
class Query:
    """One Prometheus query followed during a watch."""

    #: With real values (server, headers): never stored, never shown.
    spec: ProbeSpec
    #: The probe's label as stored and shown (redacted).
    label: str
    #: Its place in the change's probes; None for a ``--check`` the baseline did not read.
    index: int | None
    timeout: float
    client: prometheus.Client | None = None
    #: The latest value read, and why there is none when there is none.
    latest: float | None = None
    problem: str | None = None
    reads: int = 0
    failed_reads: int = 0
    started: datetime | None = None
    ended: datetime | None = None

    @property
    def step(self) -> float:
        return float(self.spec.settings["step"])

    @property
    def metric(self) -> str:
        return prometheus.metric_name(self.spec)

    def open(self) -> None:
        """Connect and read once: an unreachable server or an HTTP error raises here,
        before the watch starts (a query that returns nothing yet does not)."""
        self.client = prometheus.Client(
            str(self.spec.settings["server"]), self.spec.headers, self.timeout
        )
        self.latest, self.problem = latest(self.client, self.spec.target, self.step)

    def begin(self) -> None:
        self.started = datetime.now(UTC)

    def poll(self) -> None:
        """Read the latest point; a failed read is counted and shown, not fatal."""
        assert self.client is not None
        self.reads += 1
        try:
            self.latest, self.problem = latest(self.client, self.spec.target, self.step)
        except ProbeError as exc:
            self.latest, self.problem = None, str(exc)
            self.failed_reads += 1

    def end(self) -> None:
        self.ended = datetime.now(UTC)

    def shown(self) -> str:
        """For the progress line: ``mean 0.0412``, or ``mean no data``."""
        if self.latest is None:
            return f"{self.metric} no data"
        unit = str(self.spec.settings.get("unit") or "")
        return f"{self.metric} {self.latest:.4g}{' ' + unit if unit else ''}"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def latest(client: prometheus.Client, query: str, step: float) -> tuple[float | None, str | None]:
    """The query's newest finite point, or None and why."""
    now = datetime.now(UTC)
    window = prometheus.Window(now - timedelta(seconds=LATEST_STEPS * step), now, step)
    series = client.query_range(query, window)
    if not series:
        return None, "the query returned no series"
    if len(series) > 1:
        return None, f"the query returned {len(series)} series: a probe reads one"
    for _stamp, raw in reversed(series[0]["values"]):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            return value, None
    return None, "the query gave NaN or infinity at its latest points"


def open_queries(queries: Sequence[Query]) -> None:
    """Open every query (each reads once); on an error, close them all and raise."""
    try:
        for query in queries:
            query.open()
    except BaseException:
        for query in queries:
            query.close()
        raise


def _baseline_metric(run: dict[str, Any] | None, query: Query) -> dict[str, Any] | None:
    if run is None or query.index is None:
        return None
    for metric in run.get("metrics", []):
        if metric.get("probe_index") == query.index and metric["metric"] == query.metric:
            return metric
    return None


def finish(
    query: Query,
    baseline: dict[str, Any] | None,
    settings: dict[str, Any],
    redact: Redact,
) -> dict[str, Any]:
    """Read the watched stretch as one window and compare it with the baseline window."""
    from changenote.measure.comparing import better_for
    from changenote.measure.windows import compare_windows

    assert query.started is not None and query.ended is not None
    window = prometheus.Window(query.started, query.ended, query.step)
    before = _baseline_metric(baseline, query)
    unit = str((before or {}).get("unit") or query.spec.settings.get("unit") or "")
    entry: dict[str, Any] = {
        "probe": redact(query.label) or "",
        "query": redact(query.spec.target) or "",
        "check": query.spec.check,
        "metric": query.metric,
        "unit": unit,
        "window": {
            "start": iso(window.start),
            "end": iso(window.end),
            "step": window.step,
            "points": 0,
            "expected_points": window.expected_points,
        },
        "reads": query.reads,
        "failed_reads": query.failed_reads,
        "latest": query.latest,
        "mean": None,
        "status": "",
        "verdict": None,
        "comparison": None,
    }
    problem: str | None
    values: list[float] = []
    if window.expected_points < MIN_POINTS:
        problem = (
            f"the watch lasted {describe_duration(max(window.seconds, 0.0))}, "
            f"{window.expected_points} point(s) at a step of {describe_duration(window.step)}: "
            f"fewer than {MIN_POINTS}"
        )
    else:
        assert query.client is not None, "opened before the watch"
        try:
            reading = prometheus.read(query.client, query.spec.target, window)
        except ProbeError as exc:  # the server stopped answering during the watch
            problem = str(exc)
        else:
            problem, values = reading.problem, reading.values
    if problem is not None:
        entry["status"] = redact(f"no data: {problem}")
        entry["verdict"] = "not-measured"
        return entry
    entry["window"]["points"] = len(values)
    entry["mean"] = round(math.fsum(values) / len(values), 6)
    entry["status"] = f"{len(values)} points"
    if before is None:
        entry["status"] += "; the baseline has no window of this query: nothing to compare with"
        return entry
    rules = settings.get("metrics") or {}
    effect = (rules.get(query.metric) or {}).get("min_effect", settings.get("min_effect", 5.0))
    compared = compare_windows(
        entry["probe"],
        query.metric,
        unit,
        better_for(query.metric, unit, before.get("better"), rules),
        list(before["samples"]),
        values,
        float(effect),
    ).to_dict()
    entry["comparison"] = compared
    entry["verdict"] = compared["verdict"]
    return entry


def no_data(entry: dict[str, Any]) -> str | None:
    """Why a followed query has no figure for the watched stretch, or None."""
    status = str(entry.get("status") or "")
    return status.removeprefix("no data: ") if status.startswith("no data: ") else None


def said(entry: dict[str, Any]) -> str:
    """One followed query in words, for the checklist and the terminal."""
    reason = no_data(entry)
    if reason is not None:
        return f"{entry['probe']}: no data ({reason})"
    points = entry["window"]["points"]
    text = f"{entry['probe']}: mean {entry['mean']:.4g}{_unit(entry)} over {points} points"
    compared = entry.get("comparison")
    if compared is None:
        return text + " (no baseline window to compare with)"
    if compared.get("before") is None:
        return text + f" (the baseline window has no points: {compared['verdict']})"
    change = compared.get("change_pct")
    shift = f", {change:+.1f}%" if change is not None else ""
    return text + f" (baseline mean {compared['before']:.4g}{shift}: {compared['verdict']})"


def _unit(entry: dict[str, Any]) -> str:
    return f" {entry['unit']}" if entry.get("unit") else ""
