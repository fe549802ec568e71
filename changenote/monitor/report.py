"""How ``changenote check`` reports: one line per check, JSON, Nagios, Prometheus (pure).

- ``text``: one line per check, ``OK health: up, 12.3 ms``.
- ``json``: ``{"schema": "changenote/check@1", "state": ..., "checks": [...]}``.
- ``nagios``: the monitoring-plugin convention: one status line, performance data after
  ``|`` (``'label'=value[UOM];[warn];[crit];[min];[max]``), exit 0 OK, 1 WARNING,
  2 CRITICAL, 3 UNKNOWN.
- ``prometheus``: the text exposition format, for node_exporter's textfile collector:
  gauges with HELP and TYPE lines, in base units, one name per quantity, one series per
  check, each labelled with its service and project; ``openmetrics`` is the same in
  OpenMetrics form (ending with ``# EOF``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from changenote.monitor.checks import STATES, CheckResult, worst

FORMATS = ("text", "json", "nagios", "prometheus", "openmetrics")
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
            how = r.compared or r.changed or "not compared"
            parts.append(f"{how} vs after {r.reference['slug']}")
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


def plain(value: float) -> str:
    """A number as the plugin guidelines allow it, ``[-0-9.]`` only: never ``1e+06``."""
    if value == int(value) and abs(value) < 1e18:
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


#: The guidelines' units of measure; other units are given as plain numbers. A ratio
#: is shown in percent (0 to 100), sizes as they are. "c" (a continuous counter) is
#: never used: every figure of a check is a gauge.
_UOM = {"ms": ("ms", 1.0), "s": ("s", 1.0), "us": ("us", 1.0), "%": ("%", 1.0),
        "ratio": ("%", 100.0), "B": ("B", 1.0), "KB": ("KB", 1.0), "MB": ("MB", 1.0),
        "TB": ("TB", 1.0)}  # fmt: skip
#: Metrics that cannot go below 0 whatever their unit.
_NON_NEGATIVE = {"db_calls", "time_ms", "error_rate", "cache_hit_ratio"}


def _bounds(uom: str, metric: str) -> tuple[str, str]:
    """Min and max where they are known: every guideline unit here (times, sizes,
    percent) starts at 0, percent ends at 100; other figures only for standard metrics."""
    if uom == "%":
        return "0", "100"
    return ("0", "") if uom or metric in _NON_NEGATIVE else ("", "")


def _perfdata(r: CheckResult) -> list[str]:
    out = []
    for metric, m in r.metrics.items():
        if m.get("median") is None:
            continue
        uom, scale = _UOM.get(m.get("unit", ""), ("", 1.0))
        low, high = _bounds(uom, metric)
        warn = crit = ""
        if metric == "time_ms" and r.slow_ms is not None:
            warn = plain(r.slow_ms * scale)  # slower than slow_ms: WARNING
        if metric == "error_rate":
            crit = plain(r.max_error_rate * scale)  # above max_error_rate: CRITICAL
        value = plain(m["median"] * scale)
        out.append(f"{_perf_label(f'{r.name}_{metric}')}={value}{uom};{warn};{crit};{low};{high}")
    return out


def nagios(results: list[CheckResult]) -> tuple[str, int]:
    """The plugin's output and exit code."""
    state = worst(results)
    shown = [r for r in results if r.state == state] if state != "ok" else results
    summary = "; ".join(f"{r.name} {r.reason}" for r in shown)
    perf = [entry for r in results for entry in _perfdata(r)]
    line = status_line(state, summary or "no checks")
    if perf:
        line += " | " + " ".join(perf)
    return line + "\n", STATES.index(state)


def status_line(state: str, message: str) -> str:
    """``CHANGENOTE STATE - message``, on one line, with no ``|`` of its own."""
    text = " ".join(message.split()).replace("|", "/")  # '|' starts the performance data
    return f"CHANGENOTE {state.upper()} - {text}"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _name_part(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text).strip("_").lower() or "value"


#: Standard metrics as Prometheus quantities: name, help, factor to the base unit.
_QUANTITIES = {
    "time_ms": ("duration_seconds", "Median response or run time of the check, seconds.", 1e-3),
    "error_rate": ("error_ratio", "Share of the check's runs that failed (0 to 1).", 1.0),
    "cache_hit_ratio": ("cache_hit_ratio", "Share of cache hits in the check's runs.", 1.0),
    "db_calls": ("db_calls", "Mean database calls per run of the check.", 1.0),
}
#: Per dimension: its base unit and the name suffix of a custom metric in it.
_BASE = {"time": ("s", "seconds"), "size": ("B", "bytes"), "ratio": ("ratio", "ratio")}


def _quantity(metric: str, unit: str) -> tuple[str, str, float]:
    """The series name (after ``changenote_check_``), its help and the factor to it."""
    if metric in _QUANTITIES:
        return _QUANTITIES[metric]
    from changenote.measure import units

    base = _BASE.get(units.dimension(unit) or "")
    if base is not None:
        factor = units.factor(unit, base[0]) or 1.0
        suffix = base[1]
        return (f"metric_{_name_part(metric)}_{suffix}",
                f"Median of the custom metric {metric}, {suffix}.", factor)  # fmt: skip
    what = f" ({unit})" if unit else ""
    return f"metric_{_name_part(metric)}", f"Median of the custom metric {metric}{what}.", 1.0


def prometheus(
    results: list[CheckResult], labels: dict[str, str] | None = None, openmetrics: bool = False
) -> str:
    """Gauges in the text exposition format (0.0.4), or OpenMetrics (``# EOF``).

    Every series carries the ``service`` and ``project`` labels (``labels``), so two
    projects' files in one node_exporter textfile folder never collide. Figures are in
    base units (seconds, ratios from 0 to 1), one name per quantity."""
    common = {"service": "", "project": "", **(labels or {})}
    gauges: dict[str, tuple[str, list[str]]] = {}

    def gauge(name: str, help_text: str, extra: dict[str, str], value: float | None) -> None:
        if value is None:
            return
        label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in extra.items())
        entry = gauges.setdefault(f"changenote_check_{name}", (help_text, []))
        entry[1].append(f"changenote_check_{name}{{{label_text}}} {float(value):.10g}")

    for r in results:
        own = {**common, "check": r.name}
        gauge("state", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", own, r.exit_code)
        flags = (
            ("up", "1 when the check answered as expected at least once.", r.up),
            ("slow", "1 when the median response time is above slow_ms.", r.slow),
            ("failing", "1 when the error rate is above max_error_rate.", r.failing),
        )
        for flag, help_text, value in flags:
            gauge(flag, help_text, own, None if value is None else float(value))
        if r.changed is not None:
            gauge("regressed",
                  "1 when slower than after the last shipped change that measured it.",
                  own, float(r.changed == "regressed"))  # fmt: skip
        for metric, m in r.metrics.items():
            name, help_text, factor = _quantity(metric, m.get("unit", ""))
            median = m.get("median")
            gauge(name, help_text, own, None if median is None else median * factor)
            if metric == "time_ms" and m.get("reference") is not None:
                gauge("reference_duration_seconds",
                      "The same median after the last shipped change that measured the check.",
                      own, m["reference"] * factor)  # fmt: skip
    lines = []
    for name, (help_text, samples) in gauges.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples]
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"


def render(
    results: list[CheckResult], fmt: str, labels: dict[str, str] | None = None
) -> tuple[str, int]:
    """The report in ``fmt`` and the exit code (Prometheus and OpenMetrics exit 0: the
    states are in the series)."""
    code = STATES.index(worst(results))
    if fmt == "text":
        return text(results), code
    if fmt == "json":
        return as_json(results), code
    if fmt == "nagios":
        return nagios(results)
    return prometheus(results, labels, openmetrics=fmt == "openmetrics"), 0
