"""How ``changenote check`` reports: one line per check, JSON, Nagios, Prometheus (pure).

- ``text``: one line per check, ``OK health: up, 12.3 ms``.
- ``json``: ``{"schema": "changenote/check@1", "state": ..., "checks": [...]}``.
- ``nagios``: the monitoring-plugin convention: one status line, performance data after
  ``|`` (``'label'=value[UOM];[warn];[crit];[min];[max]``), exit 0 OK, 1 WARNING,
  2 CRITICAL, 3 UNKNOWN.
- ``prometheus``: the text exposition format, for node_exporter's textfile collector:
  gauges with HELP and TYPE lines, one series per check (and metric).
"""

from __future__ import annotations

import json
import re
from typing import Any

from changenote.monitor.checks import STATES, CheckResult, worst

FORMATS = ("text", "json", "nagios", "prometheus")
SCHEMA = "changenote/check@1"


def _figure(metric: dict[str, Any]) -> str:
    from changenote.formatting import fmt_number

    return fmt_number(metric.get("median"), metric.get("unit", ""))


def text(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        parts = [r.reason]
        if "time_ms" in r.metrics and r.up:
            parts.append(f"median {_figure(r.metrics['time_ms'])}")
        if r.attempts:
            parts.append(f"{r.errors}/{r.attempts} errors")
        if r.reference is not None:
            parts.append(f"{r.changed or 'not compared'} vs after {r.reference['slug']}")
        lines.append(f"{r.state.upper():8} {r.name}: {', '.join(parts)}")
    return "\n".join(lines) + "\n"


def as_json(results: list[CheckResult]) -> str:
    data = {
        "schema": SCHEMA,
        "state": worst(results),
        "exit_code": STATES.index(worst(results)),
        "checks": [r.to_dict() for r in results],
    }
    return json.dumps(data, indent=2, default=str) + "\n"


def _perf_label(text: str) -> str:
    # Nagios labels are quoted when they hold spaces; a quote or '=' may not appear.
    return "'" + re.sub(r"['=]", "_", text) + "'"


_UOM = {"ms": "ms", "ratio": "", "count": "c", "%": "%", "s": "s", "B": "B"}


def nagios(results: list[CheckResult]) -> tuple[str, int]:
    """The plugin's output and exit code."""
    state = worst(results)
    shown = [r for r in results if r.state == state] if state != "ok" else results
    summary = "; ".join(f"{r.name} {r.reason}" for r in shown)
    perf = []
    for r in results:
        for metric, m in r.metrics.items():
            if m.get("median") is None:
                continue
            warn = f"{r.slow_ms:g}" if metric == "time_ms" and r.slow_ms is not None else ""
            crit = f"{r.max_error_rate:g}" if metric == "error_rate" else ""
            uom = _UOM.get(m.get("unit", ""), "")
            value = f"{m['median']:.6g}"
            perf.append(f"{_perf_label(f'{r.name}_{metric}')}={value}{uom};{warn};{crit};0;")
    line = f"CHANGENOTE {state.upper()} - {summary or 'no checks'}"
    line = line.replace("|", "/")  # '|' starts the performance data
    if perf:
        line += " | " + " ".join(perf)
    return line + "\n", STATES.index(state)


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus(results: list[CheckResult]) -> str:
    """Gauges in the text exposition format (0.0.4)."""
    gauges: dict[str, tuple[str, list[str]]] = {}

    def gauge(name: str, help_text: str, labels: dict[str, str], value: float | None) -> None:
        if value is None:
            return
        label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
        entry = gauges.setdefault(name, (help_text, []))
        entry[1].append(f"{name}{{{label_text}}} {float(value):.10g}")

    for r in results:
        labels = {"check": r.name}
        gauge("changenote_check_state", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", labels,
              r.exit_code)  # fmt: skip
        flags = (
            ("up", "1 when the check answered as expected at least once.", r.up),
            ("slow", "1 when the median response time is above slow_ms.", r.slow),
            ("failing", "1 when the error rate is above max_error_rate.", r.failing),
        )
        for flag, help_text, value in flags:
            gauge(f"changenote_check_{flag}", help_text, labels,
                  None if value is None else float(value))  # fmt: skip
        if r.changed is not None:
            gauge("changenote_check_regressed",
                  "1 when slower than after the last shipped change that measured it.",
                  labels, float(r.changed == "regressed"))  # fmt: skip
        for metric, m in r.metrics.items():
            gauge(
                "changenote_check_median",
                "Median of the check's runs, per metric, in the metric's unit.",
                {**labels, "metric": metric, "unit": m.get("unit", "")},
                m.get("median"),
            )
            if m.get("reference") is not None:
                gauge(
                    "changenote_check_reference_median",
                    "The same median after the last shipped change that measured the check.",
                    {**labels, "metric": metric, "unit": m.get("unit", "")},
                    m["reference"],
                )
    lines = []
    for name, (help_text, samples) in gauges.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples]
    return "\n".join(lines) + "\n"


def render(results: list[CheckResult], fmt: str) -> tuple[str, int]:
    """The report in ``fmt`` and the exit code (Prometheus output always exits 0)."""
    code = STATES.index(worst(results))
    if fmt == "text":
        return text(results), code
    if fmt == "json":
        return as_json(results), code
    if fmt == "nagios":
        return nagios(results)
    return prometheus(results), 0
