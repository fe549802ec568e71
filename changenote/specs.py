"""Parsing what the user types: probe specs, headers, manual metrics, metric lines.

Everything here is pure and cheap to import; a malformed value raises
:class:`~changenote.errors.UsageError` with one line saying what was wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from changenote.errors import UsageError

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: The most a change may ask of its probes: measured runs, warm-up runs and seconds per
#: run. The command line, the config and import (export.schema.json) hold to them all.
MAX_RUNS = 10_000
MAX_WARMUP = 1_000
MAX_TIMEOUT = 86_400  # a day
ProbeKind = Literal["http", "cmd", "prom", "results"]
Better = Literal["lower", "higher"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_MANUAL_RE = re.compile(rf"^\s*([^=\s]+)\s*=\s*({_NUMBER})\s*([A-Za-z%/µ][\w%/µ]*)?\s*$")
METRIC_LINE_PREFIX = "changenote-metric:"
#: Metrics the probes measure themselves; a command cannot print them.
STANDARD_METRICS = frozenset({"time_ms", "error_rate", "cache_hit_ratio", "db_calls"})
_METRIC_LINE_RE = re.compile(
    # Anything may precede the marker (a log prefix such as "INFO "), nothing may follow.
    rf"(?:^|\s){re.escape(METRIC_LINE_PREFIX)}\s*([^=\s]+)\s*=\s*({_NUMBER})"
    r"(?:\s+(?!better=)([A-Za-z%/µ][\w%/µ]*))?(?:\s+better=(lower|higher))?\s*$"
)


@dataclass(frozen=True)
class ProbeSpec:
    """One probe: what to run, as stored with the change and re-run at ship."""

    kind: ProbeKind
    #: ``"METHOD URL"`` for HTTP, the shell command for ``cmd``, the PromQL for ``prom``.
    target: str
    #: HTTP headers as (name, value) pairs; values may hold ``${ENV}`` references.
    headers: tuple[tuple[str, str], ...] = ()
    #: The configured check this probe came from, if any.
    check: str | None = None
    #: Per-probe override of the number of measured runs, etc. (from a check).
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def method(self) -> str:
        return self.target.split(" ", 1)[0] if self.kind == "http" else ""

    @property
    def url(self) -> str:
        return self.target.split(" ", 1)[1] if self.kind == "http" else ""

    @property
    def label(self) -> str:
        """The name a probe is shown and matched by (before redaction)."""
        prefix = f"check {self.check}: " if self.check else ""
        if self.kind == "results":  # a benchmark of a results file
            # "(new)": this run's benchmark of a name --match gave to another one
            new = " (new)" if self.settings.get("new") else ""
            return f"{self.settings.get('tool', 'results')}: {self.target}{new}"
        if self.kind == "prom":
            name = None if self.check else self.settings.get("name")
            return prefix + (f"prom {name}" if name else f"prom {self.target}")
        return prefix + (self.target if self.kind == "http" else f"$ {self.target}")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "target": self.target}
        if self.headers:
            data["headers"] = [list(h) for h in self.headers]
        if self.check:
            data["check"] = self.check
        if self.settings:
            data["settings"] = dict(self.settings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeSpec:
        return cls(
            kind=data["kind"],
            target=data["target"],
            headers=tuple((str(n), str(v)) for n, v in data.get("headers", [])),
            check=data.get("check"),
            settings=dict(data.get("settings", {})),
        )


@dataclass(frozen=True)
class ManualMetric:
    """A figure typed in from a dashboard: ``--metric p95_ms=120ms``."""

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class MetricLine:
    """A custom metric a command printed: ``changenote-metric: rows=120 count better=higher``."""

    name: str
    value: float
    unit: str = ""
    better: Better | None = None


def check_metric_name(name: str, what: str = "metric") -> str:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"{what} name {name!r} is not valid: use letters, digits, '_', '.', ':' or '-'"
        )
    return name


def parse_http(spec: str) -> ProbeSpec:
    """Parse ``"[METHOD] URL"`` into an HTTP probe; the method defaults to GET."""
    text = spec.strip()
    if not text:
        raise UsageError("--http needs a URL, e.g. --http 'GET http://127.0.0.1:8000/health'")
    parts = text.split(None, 1)
    if len(parts) == 2 and parts[0].upper() in HTTP_METHODS:
        method, url = parts[0].upper(), parts[1].strip()
    elif len(parts) == 2 and parts[0].isalpha() and parts[0].isupper():
        raise UsageError(f"--http: unknown method {parts[0]!r} (use {', '.join(HTTP_METHODS)})")
    else:
        method, url = "GET", text
    if any(c.isspace() for c in url):
        raise UsageError(f"--http: malformed URL {url!r} (it contains spaces)")
    if any(c < " " or c == "\x7f" for c in url):  # the HTTP client refuses them mid-run
        raise UsageError(f"--http: malformed URL {url!r} (it contains a control character)")
    try:
        parts_url = urlsplit(url)
        port = parts_url.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"--http: malformed URL {url!r}: {exc}") from None
    if parts_url.scheme not in ("http", "https") or not parts_url.hostname:
        raise UsageError(f"--http: malformed URL {url!r}: expected http:// or https:// and a host")
    del port
    return ProbeSpec(kind="http", target=f"{method} {url}")


def parse_cmd(command: str) -> ProbeSpec:
    if not command.strip():
        raise UsageError("--cmd needs a shell command")
    return ProbeSpec(kind="cmd", target=command)


# ``NAME=`` before a query: PromQL has no lone "=" outside braces, so this cannot be
# part of a query (``a == b`` and ``{x="y"}`` are not matched).
_PROM_NAME_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.:-]{0,63})\s*=(?![=~])\s*")


def parse_prom(text: str) -> ProbeSpec:
    """Parse ``"[NAME=]PROMQL"`` into a Prometheus probe."""
    name = None
    match = _PROM_NAME_RE.match(text)
    query = text
    if match and "{" not in text[: match.end()]:
        name, query = match.group(1), text[match.end() :]
    query = query.strip()
    if not query:
        raise UsageError(
            "--prom needs a PromQL query, e.g. --prom 'p95=histogram_quantile(0.95, "
            "sum by (le) (rate(http_request_duration_seconds_bucket[1m])))'"
        )
    if any(c < " " and c not in "\t\n" for c in query):
        raise UsageError("--prom: the query contains a control character")
    settings = {"name": check_metric_name(name, "--prom")} if name else {}
    return ProbeSpec(kind="prom", target=query, settings=settings)


def parse_header(text: str) -> tuple[str, str]:
    """Parse ``"Name: value"``."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or not _HEADER_NAME_RE.match(name):
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    # \v and \f too: the HTTP client refuses them, failing every run
    if any(c in value for c in "\r\n\0\v\f"):
        raise UsageError(f"--header {name}: the value cannot hold a line break or NUL")
    return name, value.strip()


def _finite(raw: str, what: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise UsageError(f"{what}: value must be a finite number")
    return value


def parse_manual_metric(text: str) -> ManualMetric:
    """Parse ``NAME=VALUE[UNIT]``, e.g. ``p95_ms=120``, ``error_rate=0.5%``, ``rss=310MB``."""
    match = _MANUAL_RE.match(text)
    if not match:
        raise UsageError(
            f"--metric {text!r}: expected NAME=VALUE[UNIT] with a number, e.g. p95_ms=120ms"
        )
    name, raw, unit = match.groups()
    check_metric_name(name)
    return ManualMetric(name=name, value=_finite(raw, f"--metric {text!r}"), unit=unit or "")


def parse_metric_line(line: str) -> MetricLine | None:
    """Parse one output line of a command probe; ``None`` when it is not a metric line."""
    if METRIC_LINE_PREFIX not in line:
        return None
    match = _METRIC_LINE_RE.search(line)
    if not match:
        return None
    name, raw, unit, better = match.groups()
    if name in STANDARD_METRICS:
        return None
    if not _NAME_RE.fullmatch(name):
        return None
    value = float(raw)
    if not math.isfinite(value):
        return None
    return MetricLine(name=name, value=value, unit=unit or "", better=better)  # type: ignore[arg-type]


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str, what: str = "duration") -> float:
    """Parse ``1.5``, ``300ms``, ``30s``, ``10m`` or ``2h`` into seconds (> 0)."""
    match = _DURATION_RE.match(text)
    if not match:
        raise UsageError(f"{what} {text!r}: expected a number of seconds or 300ms, 30s, 10m, 2h")
    value = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what} {text!r}: must be a finite number greater than 0")
    return value


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_prom_duration(text: str, what: str) -> float:
    """``30m``, ``1h30m``, ``15s``, ``500ms``, ``7d`` (Prometheus' syntax) in seconds."""
    raw = text.strip()
    if not raw or _DURATION.sub("", raw):
        raise UsageError(f"{what}: {text!r} is not a duration (use e.g. 30s, 15m, 1h30m, 7d)")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(raw))
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what} must be longer than 0s, got {text!r}")
    return seconds


def parse_offset(text: str, what: str = "--vs") -> float:
    """How far back a reference window lies, ``-7d`` (or ``7d``): seconds, positive."""
    raw = text.strip()
    if raw.startswith("+"):
        raise UsageError(f"{what} {text!r}: a reference lies in the past, e.g. -7d")
    return parse_prom_duration(raw.removeprefix("-"), what)


def describe_duration(seconds: float) -> str:
    """``30m``, ``1h30m``, ``15s``, ``1s500ms``: a duration as the user would type it, in
    Prometheus' syntax, exact to the millisecond (1.5 s is never shown as ``2s``)."""
    left, parts = round(seconds * 1000), []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or f"{seconds * 1000:g}ms"


def parse_time(text: str, now: datetime, what: str = "--live-at") -> datetime:
    """An ISO time (``2026-12-01T14:05:00Z``; without a zone: this machine's) or a time
    relative to now (``-20m``). A time in the future is refused."""
    raw = text.strip()
    try:
        if raw.startswith("-"):
            when = now - timedelta(seconds=parse_prom_duration(raw[1:], what))
        else:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw else "?")
            except ValueError:
                raise UsageError(
                    f"{what}: {text!r} is neither an ISO time (2026-12-01T14:05:00Z) nor a "
                    "time ago (-20m)"
                ) from None
            when = parsed.astimezone(UTC)  # a naive time is this machine's local time
    except OverflowError:  # before the year 1
        raise UsageError(f"{what} {text!r} is too far back") from None
    if when > now:
        raise UsageError(f"{what} {text!r} is in the future")
    return when
