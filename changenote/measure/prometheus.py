"""Prometheus as a probe: one PromQL query read over a window of time.

A ``--prom`` probe does not send requests to the service: it asks the Prometheus server
that has scraped the service all along for the points of one series over a window
(``/api/v1/query_range``), the window that ends now at baseline and the same length
after the change went live at ship. The points are the samples; they are compared with
``changenote.measure.windows``, which allows for their autocorrelation.

What the server says is never taken for more than it is: no series, several series, a
NaN, or a window with fewer points than asked is *no data* (one clear line at baseline,
a recorded "no data" at ship), never a verdict. Nothing here writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from changenote.errors import ProbeError, UsageError
from changenote.formatting import iso
from changenote.specs import describe_duration, parse_prom_duration

if TYPE_CHECKING:
    from changenote.measure.probes import ProbeOutcome
    from changenote.specs import ProbeSpec

#: Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 11_000
#: The step when the server does not say its scrape interval.
DEFAULT_STEP = 15.0
#: The window when neither ``--window`` nor the check gives one.
DEFAULT_WINDOW = 30 * 60.0
#: The most a window may be: a week (the server's retention is usually 15 days).
MAX_WINDOW = 7 * 86_400.0
#: The most points a window may hold: more is a step too short for the window (and a
#: record too large for a note).
MAX_WINDOW_POINTS = 100_000
#: The furthest back a reference window (``--vs``) may lie: a year, beyond any usual
#: retention (a server that has dropped it says "no data").
MAX_OFFSET = 365 * 86_400.0
#: A window with fewer points than this share of the ones asked for is "shorter than asked".
MIN_COVERAGE = 0.9


@dataclass(frozen=True)
class Window:
    """The stretch of time a query is read over."""

    start: datetime
    end: datetime
    step: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def expected_points(self) -> int:
        return int(self.seconds // self.step) + 1

    @property
    def ready_at(self) -> float:
        """When its last point can be read (a timestamp): one step after it ends, so
        the last scrape is in."""
        return self.end.timestamp() + self.step

    @classmethod
    def ending(cls, end: datetime, spec: ProbeSpec) -> Window:
        """The spec's window that ends at ``end`` (baseline, measure)."""
        length = timedelta(seconds=float(spec.settings["window"]))
        return cls(end - length, end, float(spec.settings["step"]))

    @classmethod
    def starting(cls, start: datetime, spec: ProbeSpec) -> Window:
        """The spec's window that starts at ``start`` (ship: when the change went live)."""
        length = timedelta(seconds=float(spec.settings["window"]))
        return cls(start, start + length, float(spec.settings["step"]))

    @classmethod
    def stored(cls, data: dict[str, Any]) -> Window:
        """The window a run recorded (``probe_results[].window``)."""
        return cls(_utc(data["start"]), _utc(data["end"]), float(data["step"]))

    def earlier(self, seconds: float) -> Window:
        """The same window ``seconds`` earlier (``--vs -7d``)."""
        back = timedelta(seconds=seconds)
        return Window(self.start - back, self.end - back, self.step)

    def describe(self) -> str:
        return f"{iso(self.start)} to {iso(self.end)}, step {describe_duration(self.step)}"


@dataclass(frozen=True)
class Pending:
    """A window that had not passed when its run was recorded (``ship --no-wait``): it is
    kept as asked, with no points, and read later (``measure ID --label after``)."""

    window: Window


def _utc(text: str) -> datetime:
    """A stored ISO time (``...Z``) as an aware UTC datetime."""
    from datetime import UTC

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class Reading:
    """What one query gave over one window: its points, or why there are none."""

    window: Window
    points: list[tuple[float, float]] = field(default_factory=list)
    #: Why the window holds no usable data ("returned no series"...); None when it does.
    problem: str | None = None
    #: The labels of the one series read.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


class _Answered(ProbeError):
    """The server answered, with an error (not: it could not be reached)."""


class Client:
    """The few calls of the Prometheus HTTP API a probe needs, over one connection."""

    def __init__(self, url: str, headers: Sequence[tuple[str, str]], timeout: float) -> None:
        import httpx

        from changenote.measure.probes import expand_env

        base = expand_env(url, "the Prometheus URL").rstrip("/")
        try:
            parts = httpx.URL(base)
        except (httpx.InvalidURL, ValueError) as exc:
            raise UsageError(f"Prometheus URL {url!r} is not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.host:
            raise UsageError(f"Prometheus URL {url!r}: expected http:// or https:// and a host")
        sent = httpx.Headers({"User-Agent": "changenote"})
        for name, value in headers:
            sent[name] = expand_env(value, f"Prometheus header {name}")
        auth = None
        if parts.userinfo:  # user:${PW}@host becomes basic auth, never part of a message
            user, _, password = parts.userinfo.decode().partition(":")
            from urllib.parse import unquote

            auth = httpx.BasicAuth(unquote(user), unquote(password))
            parts = parts.copy_with(username=None, password=None)
        self.shown = str(parts)  # what messages name: no credentials
        self._httpx = httpx
        self.client = httpx.Client(
            base_url=str(parts), headers=sent, auth=auth, timeout=httpx.Timeout(timeout)
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        httpx = self._httpx
        where = f"Prometheus at {self.shown}"
        try:
            response = self.client.get(path, params=params)
        except httpx.TimeoutException:
            raise ProbeError(f"{where} did not answer in time") from None
        except httpx.HTTPError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
            raise ProbeError(f"cannot reach {where}: {reason}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            said = _one_line(body.get("error") if isinstance(body, dict) else None)
            if response.status_code >= 400 or said:
                detail = f": {said}" if said else ""
                raise _Answered(f"{where} answered HTTP {response.status_code}{detail}")
            raise _Answered(f"{where} answered HTTP {response.status_code}, not the API's JSON")
        return body.get("data")

    def scrape_interval(self) -> float | None:
        """The global scrape interval the server's config says, or None."""
        try:
            data = self._get("/api/v1/status/config")
        except _Answered:
            return None  # an agent or a proxy may not serve it: fall back
        import yaml

        try:
            config = yaml.safe_load((data or {}).get("yaml") or "") or {}
            raw = (config.get("global") or {}).get("scrape_interval", "1m")
            return parse_prom_duration(str(raw), "scrape_interval")
        except (yaml.YAMLError, AttributeError, UsageError):
            return None

    def query_range(self, query: str, window: Window) -> list[dict[str, Any]]:
        """Every series of ``query`` over ``window``, read in pieces of at most
        ``MAX_POINTS`` points and joined."""
        span = (MAX_POINTS - 1) * window.step
        start, end = window.start.timestamp(), window.end.timestamp()
        joined: dict[str, dict[str, Any]] = {}
        while True:
            piece_end = min(end, start + span)
            data = self._get(
                "/api/v1/query_range",
                {"query": query, "start": f"{start:.3f}", "end": f"{piece_end:.3f}",
                 "step": f"{window.step:g}"},
            )  # fmt: skip
            if not isinstance(data, dict) or data.get("resultType") != "matrix":
                kind = data.get("resultType") if isinstance(data, dict) else None
                raise ProbeError(f"Prometheus gave {kind or 'no'} result for a range query")
            for series in data.get("result") or []:
                key = repr(sorted((series.get("metric") or {}).items()))
                into = joined.setdefault(key, {"metric": series.get("metric") or {}, "values": {}})
                for stamp, value in series.get("values") or []:
                    into["values"][float(stamp)] = value
            if piece_end >= end:
                break
            start = piece_end + window.step
        return [
            {"metric": s["metric"], "values": sorted(s["values"].items())} for s in joined.values()
        ]


def _one_line(text: object) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:299] + "…"


def _labels(metric: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return "{" + inner + "}"


def read(client: Client, query: str, window: Window) -> Reading:
    """The one series of ``query`` over ``window``, or the reason it cannot be used."""
    series = client.query_range(query, window)
    reading = Reading(window)
    if not series:
        reading.problem = "the query returned no series"
        return reading
    if len(series) > 1:
        shown = ", ".join(_labels(s["metric"]) for s in series[:3])
        more = f" and {len(series) - 3} more" if len(series) > 3 else ""
        reading.problem = (
            f"the query returned {len(series)} series ({shown}{more}): a probe reads one; "
            "aggregate them (sum, max, avg by nothing) or narrow the labels"
        )
        return reading
    values: list[tuple[float, float]] = []
    odd = 0
    for stamp, raw in series[0]["values"]:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value):
            values.append((stamp, value))
        else:
            odd += 1
    reading.labels = dict(series[0]["metric"])
    expected = window.expected_points
    if odd:
        reading.problem = (
            f"the query gave NaN or infinity at {odd} of {odd + len(values)} points "
            "(no traffic, or a division by zero): no figure to compare"
        )
    elif len(values) < max(3, MIN_COVERAGE * expected):
        reading.problem = (
            f"the window is shorter than asked: {len(values)} of {expected} points from "
            f"{window.describe()} (the series is newer, or the server missed scrapes)"
        )
    else:
        reading.points = values
    return reading


def metric_name(spec: ProbeSpec) -> str:
    """The metric a Prometheus probe's points are: its name, its check's, or ``value``."""
    return str(spec.settings.get("name") or spec.check or "value")


#: Where the server comes from when ``--prometheus`` is not given.
PROMETHEUS_ENV = "CHANGENOTE_PROMETHEUS_URL"


def settle(
    specs: Sequence[ProbeSpec], url: str, window: float | None, step: float | None,
    timeout: float, vs: float | None = None,
) -> list[ProbeSpec]:  # fmt: skip
    """The Prometheus probes with everything ship must repeat: server, window and step
    (the server's scrape interval when none is given, asked once), and how far back the
    reference window lies (``vs``, seconds)."""
    from changenote.specs import ProbeSpec

    # One second reference a change: --vs, else the one its checks give.
    offsets = {float(s.settings["vs"]) for s in specs if s.kind == "prom" and s.settings.get("vs")}
    offsets |= {vs} if vs is not None else set()
    if len(offsets) > 1:
        said = ", ".join(f"-{describe_duration(o)}" for o in sorted(offsets))
        raise UsageError(f"the Prometheus probes ask for different --vs ({said}): a change "
                         "keeps one second reference")  # fmt: skip
    vs = offsets.pop() if offsets else None
    settled, asked = [], None
    for spec in specs:
        if spec.kind != "prom":
            settled.append(spec)
            continue
        length = float(spec.settings.get("window") or window or DEFAULT_WINDOW)
        every = spec.settings.get("step") or step
        if not every:
            if asked is None:
                with Client(url, spec.headers, timeout) as client:
                    asked = client.scrape_interval() or DEFAULT_STEP
            every = asked
        if length > MAX_WINDOW:
            raise UsageError(f"--window can be at most {describe_duration(MAX_WINDOW)}")
        if length / float(every) > MAX_WINDOW_POINTS:
            raise UsageError(
                f"a window of {describe_duration(length)} at a step of "
                f"{describe_duration(float(every))} holds more than {MAX_WINDOW_POINTS:,} "
                "points; use a longer --step"
            )
        if length / float(every) < 2:
            raise UsageError(
                f"a window of {describe_duration(length)} at a step of "
                f"{describe_duration(float(every))} holds fewer than 3 points"
            )
        settings = {**spec.settings, "server": url, "window": length, "step": float(every)}
        if vs is not None:
            if vs < length:
                raise UsageError(
                    f"--vs -{describe_duration(vs)} lies within the window "
                    f"({describe_duration(length)}): the reference would overlap the window "
                    "it is compared with"
                )
            if vs > MAX_OFFSET:
                raise UsageError(f"--vs can reach at most {describe_duration(MAX_OFFSET)} back")
            settings["vs"] = vs
        settled.append(ProbeSpec(spec.kind, spec.target, spec.headers, spec.check, settings))
    return settled


def measure_windows(
    specs: Sequence[ProbeSpec], windows: Sequence[Window | Pending], timeout: float
) -> list[ProbeOutcome]:
    """Read each query over its window from its server (``settings["server"]``); a window
    without usable data is an outcome with no samples, its reason as the status (the
    caller decides whether that stops it). A :class:`Pending` window is not read: its
    outcome has no attempt and says until when it is pending."""
    from changenote.measure.probes import ProbeOutcome

    outcomes = []
    for spec, window in zip(specs, windows, strict=True):
        if isinstance(window, Pending):
            outcomes.append(pending_outcome(spec, window.window))
            continue
        with Client(str(spec.settings["server"]), spec.headers, timeout) as client:
            outcome = ProbeOutcome(spec)
            reading = read(client, spec.target, window)
            outcome.attempts = 1
            outcome.window = {
                "start": iso(window.start),
                "end": iso(window.end),
                "step": window.step,
                "points": len(reading.points),
                "expected_points": window.expected_points,
            }
            if reading.problem is not None:
                outcome.errors = 1
                outcome.last_status = f"no data: {reading.problem}"
                outcome.error_kinds[outcome.last_status] = 1
            else:
                outcome.last_status = f"{len(reading.points)} points"
                if "histogram_quantile" in spec.target and len(set(reading.values)) == 1:
                    # a quantile estimated inside one bucket: a position, not a measure
                    outcome.window["flat_quantile"] = reading.values[0]
                name = metric_name(spec)
                for value in reading.values:
                    outcome.add(
                        name, value, str(spec.settings.get("unit") or ""),
                        spec.settings.get("better"),
                    )  # fmt: skip
            outcome.statuses[outcome.last_status] = 1
            outcomes.append(outcome)
    return outcomes


def pending_outcome(spec: ProbeSpec, window: Window) -> ProbeOutcome:
    """The outcome of a window not read yet: no attempt, no points, the window kept."""
    from changenote.measure.probes import ProbeOutcome

    outcome = ProbeOutcome(spec)
    outcome.last_status = f"pending: the window ends at {iso(window.end)}"
    outcome.window = {
        "start": iso(window.start),
        "end": iso(window.end),
        "step": window.step,
        "points": 0,
        "expected_points": window.expected_points,
        "pending": True,
    }
    return outcome
