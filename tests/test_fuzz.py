"""Property tests of every parser: clean errors only, and round trips where there is a printer.

Each parser gets arbitrary text plus a strategy built from its grammar's fragments (so
examples reach the deep paths), and must answer with a value or the project's own error
(:class:`~changenote.errors.ChangenoteError` or the kind it documents), never a leaked
ValueError, KeyError, RecursionError... Where something prints what a parser reads (a
probe's target, a metric line, a note's front matter, the starter config), what is
printed reads back to the same value. A few parsers are also driven through the CLI:
bad input is a non-zero exit and one line on stderr, never a traceback.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tempfile
import tomllib
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from changenote.config import CheckConfig, Config, load_config, parse_config, starter_config
from changenote.errors import ChangenoteError, ConfigError, ProbeError, UsageError
from changenote.measure import expectations
from changenote.monitor.watch import line_time, parse_since
from changenote.notebook.notes import read_note
from changenote.specs import (
    HTTP_METHODS,
    STANDARD_METRICS,
    ManualMetric,
    MetricLine,
    ProbeSpec,
    check_metric_name,
    parse_cmd,
    parse_duration,
    parse_header,
    parse_http,
    parse_manual_metric,
    parse_metric_line,
)
from tests.conftest import inside, invoke

FUZZ = settings(max_examples=300, deadline=None, database=None)
#: The CLI runs in-process with a project fixture made once per test, not per example.
#: Each CLI test proves the boundary (a refusal is one line, never a traceback) for input
#: whose space a property test of the parser itself already covers at FUZZ's count (the
#: search words and dates: test_search_gives_rows_or_a_changenote_error), so a few dozen
#: examples, plus the known bad inputs as @example, are enough here.
FUZZ_CLI = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# ----------------------------------------------------------------------------- fragments

WS = st.sampled_from(["", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\x0b"])
NUMBER_TEXT = st.one_of(
    st.floats().map(repr),
    st.integers().map(str),
    st.from_regex(r"[-+]?[0-9]{0,5}(\.[0-9]{0,5})?([eE][-+]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(
        [
            *("1e999", "-1e999", "1" + "0" * 400, ".5", "5.", "+.5e-3", "nan", "inf", "-inf"),
            *("\u0663", "\uff11\uff12", "1_000", "0x10", "--1", "1e", "e5", ".", "", "1.2.3"),
        ]
    ),
)
NAME_TEXT = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:-]{0,10}", fullmatch=True),
    st.sampled_from(["p95_ms", "rss", "time_ms", "error_rate", "db_calls", "cache_hit_ratio"]),
    st.sampled_from(["a.b:c-d", "9lives", "a b", "", "=", "x" * 64, "x" * 65, "\u00fc", "-x"]),
    st.text(max_size=6),
)
UNIT_TEXT = st.one_of(
    st.from_regex(r"[A-Za-z%/\u00b5][A-Za-z0-9_%/\u00b5]{0,5}", fullmatch=True),
    st.sampled_from(["", "ms", "%", "MB", "req/s", "\u00b5s", "e5", "E", " ms", "9x", "%%"]),
    st.sampled_from(["better=higher", "ms better=lower", "count better=sideways", "m\u00b2"]),
    st.text(max_size=4),
)
#: Anything TOML can hold, for config values of the wrong kind.
TOML_SCALAR = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.sampled_from([10**400, -(10**400), 0, 1, -1, 0.5, "lower", "higher", "", " "]),
)
TOML_VALUE = st.recursive(
    TOML_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value, sometimes anything at all."""
    return st.one_of(valid, valid, TOML_VALUE)


def fixed_point(value: float) -> str:
    """A float as plain decimal digits (no exponent): what a person would type."""
    return format(Decimal(repr(value)), "f")


# ------------------------------------------------------------------ probe specs: --http

GOOD_HOSTS = ["127.0.0.1", "localhost", "example.com", "[::1]", "docs.internal", "xn--bcher-kva.ch"]
BAD_HOSTS = ["[::1", "::1]", "999.1.1.1", "1.2.3", "a..b", "-", "xn--zz", "ex\u00e4mple..com"]
BAD_HOSTS += ["\u200b", "", "h_o", "%41", "h\x7f", "h\x00", "[fe80::1%eth0]", "\u00e9", "a@b"]
HOSTS = st.one_of(
    st.sampled_from(GOOD_HOSTS),
    st.sampled_from(BAD_HOSTS),
    st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
    st.text(min_size=1, max_size=8),
)
PORTS = st.one_of(
    st.just(""),
    st.integers(-5, 70000).map(lambda p: f":{p}"),
    st.sampled_from([":", ":abc", ":0", ":65535", ":65536", ": 80", ":\u0663", ":+1"]),
)
URL_PATHS = st.one_of(
    st.just(""),
    st.text(max_size=12).map(lambda t: "/" + t),
    st.sampled_from(["/search?q=fastapi", "/a#frag", "/%zz", "/?token=${API_TOKEN}", "/\x7f"]),
    st.sampled_from(["/\u00e9", "/a\x01b", "/ a", "/\x1b[31m", "?x", "#"]),
)
SCHEMES = st.sampled_from(
    ["http://", "https://", "HTTP://", "ftp://", "http:/", "http:", "", "//", "http://u:pw@"]
)
METHODS = st.one_of(
    st.sampled_from(HTTP_METHODS),
    st.sampled_from([m.lower() for m in HTTP_METHODS]),
    st.sampled_from(["FETCH", "Get", "G3T", "get/", "\u0130"]),
    st.text(max_size=5),
)
URLS = joined(SCHEMES, HOSTS, PORTS, URL_PATHS)
HTTP_TEXT = st.one_of(
    st.text(),
    URLS,
    joined(WS, METHODS, st.sampled_from([" ", "  ", "\t", "", "\n"]), URLS, WS),
)


def _check_http(spec: ProbeSpec) -> None:
    assert spec.kind == "http"
    assert spec.method in HTTP_METHODS
    assert spec.target == f"{spec.method} {spec.url}"
    assert not any(c.isspace() for c in spec.url)
    assert not any(c < " " or c == "\x7f" for c in spec.url), "control character in the URL"
    assert spec.url.lower().startswith(("http://", "https://"))


@FUZZ
@given(HTTP_TEXT)
@example("GET http://h/\x7f")
@example("http://a\x01b/")
@example("GET http://h:99999/")
def test_parse_http_gives_a_spec_or_usage_error(text: str):
    try:
        spec = parse_http(text)
    except UsageError as exc:
        assert str(exc).startswith("--http")
        return
    _check_http(spec)
    # the printer: the stored target (and the stored dict) read back to the same probe
    assert parse_http(spec.target) == spec
    assert parse_http(spec.label) == spec
    assert ProbeSpec.from_dict(spec.to_dict()) == spec


@settings(FUZZ, max_examples=200)
@given(HTTP_TEXT)
@example("http://xn--zz/")
@example("http://ex\u00e4mple..com/")
@example("http://\u200b/")
def test_an_accepted_url_is_sent_or_refused_at_setup(text: str):
    """What parse_http accepts, the HTTP probe sends (or refuses with ProbeError before any
    run), never an httpx error mid-measurement."""
    from changenote.measure.probes import HttpProbe

    try:
        spec = parse_http(text)
    except UsageError:
        return
    try:
        probe = HttpProbe(spec, 1.0)
    except ProbeError as exc:
        assert "\n" not in str(exc)
        return
    try:
        probe.client.build_request(probe.method, probe.url)  # what run() does first
    finally:
        probe.close()


@FUZZ
@given(st.text())
def test_parse_cmd_keeps_the_command(text: str):
    try:
        spec = parse_cmd(text)
    except UsageError:
        assert not text.strip()
        return
    assert spec == ProbeSpec("cmd", text) and spec.label == f"$ {text}"
    assert parse_cmd(spec.target) == spec
    assert ProbeSpec.from_dict(spec.to_dict()) == spec


# ---------------------------------------------------------------------- headers

HEADER_NAMES = st.one_of(
    st.from_regex(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}", fullmatch=True),
    st.sampled_from(["X-Test", "Authorization", "user-agent", "", " ", "X Test", "X:Y", "\u00e9"]),
    st.text(max_size=8),
)
HEADER_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["Bearer ${API_TOKEN}", "a\r\nInjected: 1", "a\x0bb", "a\x0cb", " pad "]),
    st.sampled_from(["", "\u00e9t\u00e9", "a:b:c", "a\x00b", "a\tb", "\x7f", "a\u2028b"]),
)
HEADER_TEXT = st.one_of(
    st.text(),
    joined(HEADER_NAMES, st.sampled_from([":", ": ", " : ", "", "=", "::"]), HEADER_VALUES),
)


def _sendable(name: str, value: str) -> None:
    """The header as HttpProbe sets it is one that the HTTP library will put on the wire."""
    import h11
    import httpx

    headers = httpx.Headers({"User-Agent": "changenote"})
    headers[name] = value
    h11.Request(method="GET", target="/", headers=[("Host", "h"), *headers.raw])


@FUZZ
@given(HEADER_TEXT)
@example("X-Test: a\x0bb")
@example("X-Test: a\x0cb")
def test_parse_header_gives_a_pair_or_usage_error(text: str):
    try:
        name, value = parse_header(text)
    except UsageError as exc:
        assert str(exc).startswith("--header") and "\n" not in str(exc)
        return
    assert name and ":" not in name and name == name.strip()
    assert value == value.strip()
    assert parse_header(f"{name}: {value}") == (name, value)
    _sendable(name, value)


# ----------------------------------------------------------------- manual metrics

MANUAL_TEXT = st.one_of(
    st.text(),
    joined(
        WS, NAME_TEXT, WS, st.sampled_from(["=", "==", ":", ""]), WS, NUMBER_TEXT, UNIT_TEXT, WS
    ),
)
VALID_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", fullmatch=True)
VALID_UNITS = st.one_of(
    st.just(""),
    st.from_regex(r"[A-Za-z%/\u00b5][A-Za-z0-9_%/\u00b5]{0,6}", fullmatch=True),
    st.sampled_from(["ms", "%", "MB", "req/s", "\u00b5s", "e5", "E", "count", "m\u00b2"]),
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@FUZZ
@given(MANUAL_TEXT)
@example("x=1e999")
@example("x=\u0663ms")
def test_parse_manual_metric_gives_a_metric_or_usage_error(text: str):
    try:
        metric = parse_manual_metric(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert check_metric_name(metric.name) == metric.name
    assert math.isfinite(metric.value)
    # printed back (number as repr, a space before the unit), it reads the same
    printed = f"{metric.name}={metric.value!r} {metric.unit}".rstrip()
    assert parse_manual_metric(printed) == metric


@FUZZ
@given(VALID_NAMES, FINITE, VALID_UNITS, st.sampled_from(["", " ", "  "]))
def test_manual_metric_keeps_its_number_and_unit(name: str, value: float, unit: str, gap: str):
    # a unit that starts like an exponent ("e5") needs its space: 1.0e5 is a number
    assume(gap or unit[:1] not in ("e", "E"))
    parsed = parse_manual_metric(f"{name}={value!r}{gap}{unit}")
    assert parsed == ManualMetric(name, value, unit)


# ---------------------------------------------------------------- command metric lines

LOG_PREFIXES = st.one_of(
    st.sampled_from(["", "INFO ", "2026-11-28 10:00:01 INFO ", "\t", "[worker-1] "]),
    st.text(max_size=12).map(lambda t: t + " "),
)
METRIC_LINE_TEXT = st.one_of(
    st.text(),
    st.text().map(lambda t: "changenote-metric: " + t),
    joined(
        st.one_of(LOG_PREFIXES, st.sampled_from(["INFO:", "x"])),
        st.sampled_from(["changenote-metric:", "changenote-metric: ", "Changenote-metric: "]),
        NAME_TEXT,
        st.sampled_from(["=", " = ", ""]),
        NUMBER_TEXT,
        st.sampled_from(["", " "]),
        UNIT_TEXT,
        st.sampled_from(["", " better=lower", " better=higher", " better=up", "better=lower"]),
        st.sampled_from(["", " ", "\n", "\r\n", " trailing"]),
    ),
)


@FUZZ
@given(METRIC_LINE_TEXT)
def test_parse_metric_line_never_raises(line: str):
    parsed = parse_metric_line(line)
    if parsed is None:
        return
    assert "changenote-metric:" in line
    assert check_metric_name(parsed.name) == parsed.name
    assert parsed.name not in STANDARD_METRICS
    assert math.isfinite(parsed.value)
    assert parsed.better in (None, "lower", "higher")


def _metric_line(metric: MetricLine, prefix: str = "") -> str:
    unit = f" {metric.unit}" if metric.unit else ""
    better = f" better={metric.better}" if metric.better else ""
    return f"{prefix}changenote-metric: {metric.name}={metric.value!r}{unit}{better}"


METRIC_LINES = st.builds(
    MetricLine,
    VALID_NAMES.filter(lambda n: n not in STANDARD_METRICS),
    FINITE,
    VALID_UNITS.filter(lambda u: not u.startswith("better=")),
    st.sampled_from([None, "lower", "higher"]),
)


@FUZZ
@given(METRIC_LINES, LOG_PREFIXES)
def test_a_printed_metric_line_reads_back(metric: MetricLine, prefix: str):
    assert parse_metric_line(_metric_line(metric, prefix)) == metric
    assert parse_metric_line(_metric_line(metric, prefix) + "\n") == metric


@settings(FUZZ, max_examples=60)
@given(
    st.lists(
        st.one_of(
            METRIC_LINES.flatmap(lambda m: LOG_PREFIXES.map(lambda p: _metric_line(m, p))),
            METRIC_LINE_TEXT,
        ).map(lambda line: line.replace("\n", " ").replace("\r", " ")),
        max_size=6,
    )
)
@example(["x" * 9000 + " changenote-metric: rows=5 count"])
@example(["changenote-metric: rows=5" + " " * 9000 + "not a metric"])
def test_a_command_probe_reports_the_metric_lines_it_prints(lines: list[str]):
    """What run_shell finds in a command's output is what parse_metric_line finds in each
    whole line, however long the line."""
    from changenote.measure.probes import run_shell

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.txt"
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        attempt = run_shell(f"cat '{out}'", timeout=30)
    assert attempt.ok
    expected = [parse_metric_line(line) for line in lines]
    found = [MetricLine(n, v, u, b) for n, v, u, b in attempt.custom]  # type: ignore[arg-type]
    assert found == [m for m in expected if m is not None]


# ------------------------------------------------- what a service answers an HTTP probe

SERVER_TIMING = st.one_of(
    st.binary(max_size=40),
    st.lists(
        st.sampled_from(
            [
                *('db;desc="12"', "db;desc=3;dur=1.5", "DB ; desc = 7", 'db;desc="x"'),
                *('db;desc="1' + "0" * 400 + '"', "db;desc=" + "9" * 5000, "db", ";", "db;desc"),
                *('cache;desc="hit"', "app;dur=12.3", "db;desc=\u0663", "db;desc=1.5", ""),
                "db;desc=-2",
            ]
        ),
        max_size=4,
    ).map(lambda entries: ", ".join(entries).encode()),
)
CACHE_VALUES = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"HIT", b"MISS", b"hit, miss", b"TCP_HIT", b"EXPIRED", b"", b" , "]),
    st.sampled_from([b"12", b"0", b"-1", b"\xd9\xa3", b"9" * 5000, b"1e3"]),
)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"server-timing", b"x-cache", b"x-cache-status", b"age"]),
            st.one_of(SERVER_TIMING, CACHE_VALUES),
        ),
        max_size=4,
    )
)
@example([(b"server-timing", b'db;desc="1' + b"0" * 400 + b'"')])
def test_response_headers_give_a_figure_or_none(raw: list[tuple[bytes, bytes]]):
    import httpx

    from changenote.measure.probes import cache_status, db_call_count

    headers = httpx.Headers(raw)
    assert cache_status(headers) in (None, 0.0, 1.0)
    calls = db_call_count(headers)
    assert calls is None or (math.isfinite(calls) and calls == int(calls))


JSON_BODIES = st.one_of(
    st.binary(max_size=40),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["ok", "a", "b", "status"]), inner, max_size=3)
        ),
        max_leaves=10,
    ).map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"ok": ' + b"1" * 5000 + b"}"]),
    st.sampled_from([b'{"ok": true}', b'{"a": {"b": 1}}', b'{"ok": NaN}', b"\xff"]),
)


@FUZZ
@given(
    JSON_BODIES,
    st.dictionaries(
        st.sampled_from(["ok", "a.b", "status", "a", ""]),
        st.one_of(st.booleans(), st.integers(), FINITE, st.text(max_size=4)),
        max_size=3,
    ),
)
@example(b"[" * 100_000 + b"]" * 100_000, {"ok": True})
def test_a_json_body_matches_or_says_why(body: bytes, expected: dict[str, Any]):
    from changenote.measure.probes import json_mismatch

    mismatch = json_mismatch(body, expected)
    assert mismatch is None or (mismatch and "\n" not in mismatch)
    if not expected:
        assert mismatch in (None, "body is not JSON", "body is not JSON (nested too deeply)")


# --------------------------------------------------------------------------- durations

DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0}
DURATION_TEXT = st.one_of(
    st.text(),
    joined(
        WS,
        st.one_of(st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,6})?", fullmatch=True), NUMBER_TEXT),
        WS,
        st.sampled_from([*DURATION_UNITS, "d", "M", "sec", "min", "H", "mss"]),
        WS,
    ),
)


@FUZZ
@given(DURATION_TEXT)
@example("9" * 400)
@example("1e3")
def test_parse_duration_gives_seconds_or_usage_error(text: str):
    try:
        seconds = parse_duration(text, "--duration")
    except UsageError as exc:
        assert str(exc).startswith("--duration") and "\n" not in str(exc)
        return
    assert math.isfinite(seconds) and seconds > 0


@FUZZ
@given(st.floats(min_value=1e-9, max_value=1e12))
def test_duration_in_seconds_round_trips(seconds: float):
    assert parse_duration(fixed_point(seconds)) == seconds
    assert parse_duration(f" {fixed_point(seconds)} s ") == seconds


@FUZZ
@given(
    st.decimals(min_value="0.001", max_value="100000", places=3),
    st.sampled_from(sorted(DURATION_UNITS)),
    st.sampled_from(["", " "]),
)
def test_duration_units_scale(number: Decimal, unit: str, gap: str):
    assume(number > 0)
    assert parse_duration(f"{number}{gap}{unit}") == float(number) * DURATION_UNITS[unit]


NOW = datetime(2026, 11, 28, 10, 0, 0)
OFFSETS = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
SINCE_TEXT = st.one_of(
    DURATION_TEXT,
    st.datetimes().map(datetime.isoformat),
    st.datetimes(timezones=OFFSETS).map(datetime.isoformat),
    st.sampled_from(["100000000h", "99999999999999h", "0001-01-01T00:00+01:00", "2026-13-01"]),
    st.sampled_from(["9999-12-31T23:59-01:00", "2026-11-28", "2026-11-28T10:00", "now"]),
)


@FUZZ
@given(SINCE_TEXT)
@example("100000000h")
@example("0001-01-01T00:00+01:00")
def test_parse_since_gives_a_past_time_or_usage_error(text: str):
    try:
        moment = parse_since(text, NOW)
    except UsageError as exc:
        assert str(exc).startswith("--since") and "\n" not in str(exc)
        return
    assert moment.tzinfo is None and moment < NOW


@FUZZ
@given(st.datetimes(max_value=NOW - timedelta(microseconds=1)))
def test_since_as_a_time_round_trips(moment: datetime):
    assert parse_since(moment.isoformat(), NOW) == moment
    assert parse_since(moment.isoformat(timespec="seconds"), NOW) == moment.replace(microsecond=0)


@FUZZ
@given(st.floats(min_value=1e-3, max_value=1e9))
def test_since_as_a_duration_is_that_long_before_now(seconds: float):
    assert parse_since(fixed_point(seconds), NOW) == NOW - timedelta(seconds=seconds)


LOG_STAMPS = joined(
    st.sampled_from(["", "["]),
    st.integers(0, 9999).map(lambda y: f"{y:04d}"),
    st.integers(0, 13).map(lambda m: f"-{m:02d}"),
    st.integers(0, 32).map(lambda d: f"-{d:02d}"),
    st.sampled_from(["T", " "]),
    st.integers(0, 25).map(lambda h: f"{h:02d}"),
    st.integers(0, 61).map(lambda m: f":{m:02d}"),
    st.integers(0, 61).map(lambda s: f":{s:02d}"),
    st.sampled_from(["", ".123", ",5", ".123456789"]),
    st.sampled_from(["", "Z", "+01:00", "-0530", "+99:99", "-23:59", "+2400", "+00:60"]),
    st.sampled_from(["", " ERROR boom", "] INFO", "x"]),
)


@FUZZ
@given(st.one_of(st.binary(), LOG_STAMPS.map(str.encode)))
@example(b"2024-01-01 10:00:00+99:99 ERROR")
@example(b"0001-01-01 00:00:00+01:00 ERROR")
@example(b"9999-12-31 23:59:59-01:00 ERROR")
def test_line_time_gives_a_time_or_none(line: bytes):
    moment = line_time(line)
    assert moment is None or moment.tzinfo is None


@FUZZ
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1)),
    st.one_of(st.none(), OFFSETS),
    st.sampled_from(["T", " "]),
)
def test_a_log_line_time_reads_back(moment: datetime, zone: timezone | None, sep: str):
    moment = moment.replace(microsecond=0, tzinfo=zone)
    line = f"[{moment.isoformat(sep=sep)}] ERROR boom".encode()
    expected = moment if zone is None else moment.astimezone().replace(tzinfo=None)
    assert line_time(line) == expected


# ------------------------------------------------------------------------- expectations

EXPECT_CLAUSES = joined(
    st.sampled_from(["", "#1: ", "#2 : ", "health: ", "api.v2-x: ", "#: ", "9x: ", "a b: "]),
    st.one_of(
        st.sampled_from([*sorted(STANDARD_METRICS), "rows", "p95_ms", "search", "x:y", "9x"]),
        st.from_regex(r"[A-Za-z_][\w.:-]{0,8}", fullmatch=True),
    ),
    st.sampled_from([" ", "  ", ""]),
    st.sampled_from(["", "median ", "mean ", "avg ", "min ", "max ", "p95 ", "p50 ", "p99.9 "]),
    st.sampled_from(["", "p100 ", "p ", "P95 ", "p\u0663 "]),
    st.sampled_from(["<", "<=", ">", ">=", "=", "==", "!=", "=<", "<>", "\u2264"]),
    st.sampled_from(["", " "]),
    NUMBER_TEXT,
    st.sampled_from(["", "ms", "s", "%", " ms", "req/s", "count", "\u00b5s", "e3", "s!"]),
)
EXPECT_TEXT = st.one_of(
    st.text(),
    st.lists(
        st.tuples(
            st.one_of(EXPECT_CLAUSES, st.text(max_size=12), st.just("under 50 ms")),
            st.sampled_from(["; ", ", ", " and ", ";", ",", "and"]),
        ),
        max_size=5,
    ).map(lambda parts: "".join(clause + sep for clause, sep in parts)),
)
SAMPLES = st.lists(FINITE.filter(lambda x: abs(x) < 1e300), max_size=5)
RUN_METRICS = st.lists(
    st.fixed_dictionaries(
        {
            "metric": st.sampled_from([*sorted(STANDARD_METRICS), "rows", "p95_ms"]),
            "samples": SAMPLES,
            "probe_index": st.integers(-1, 2),
            "probe": st.sampled_from(["manual", "GET http://h/", "check health: GET http://h/"]),
            "unit": st.sampled_from(["", "ms"]),
        }
    ),
    max_size=4,
)


@FUZZ
@given(EXPECT_TEXT, RUN_METRICS)
@example("time_ms p50 < 500ms; error_rate = 0; #2: db_calls median <= 3", [])
@example("time_ms p\u0663 < 1e999", [])
def test_expectations_parse_and_evaluate_never_raise(text: str, metrics: list[dict[str, Any]]):
    found = expectations.parse(text)
    for exp in found:
        assert exp.op in ("<", "<=", ">", ">=", "==", "!=")
        assert math.isfinite(exp.target)
        assert exp.text and exp.text == exp.text.strip() and exp.text in text
        # the clause's own text reads back to the same clause
        assert expectations.parse(exp.text) == [exp]
    assert expectations.parse("; ".join(e.text for e in found)) == found
    results = expectations.evaluate(found, metrics)
    assert len(results) >= len(found)
    assert all(r["met"] in (True, False, None) for r in results)


@FUZZ
@given(
    st.sampled_from(["", "#1", "#12", "health", "api.v2-x"]),
    st.one_of(
        st.sampled_from(sorted(STANDARD_METRICS)),
        st.from_regex(r"[A-Za-z_][\w.-]{0,8}", fullmatch=True),  # no ':' (it would name a probe)
    ),
    st.sampled_from(["median", "mean", "min", "max", "p95", "p5", "p99.9"]),
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    FINITE,
)
def test_a_printed_expectation_reads_back(probe: str, metric: str, stat: str, op: str, x: float):
    text = f"{probe + ': ' if probe else ''}{metric} {stat} {op} {x!r}"
    assert expectations.parse(text) == [
        expectations.Expectation(text, metric, op, x, stat, probe or None)
    ]


# ------------------------------------------------------------------------------- config

NUMBERS = st.one_of(
    st.integers(-2, 100), st.floats(), st.just(10**400), st.just(-(10**400)), st.booleans()
)
VALID_URL_TEXT = st.sampled_from(
    ["GET http://127.0.0.1:8000/health", "http://localhost/", "POST https://h:8443/a?b=c"]
)
CHECK_TABLES = st.fixed_dictionaries(
    {},
    optional={
        "http": either(st.one_of(VALID_URL_TEXT, HTTP_TEXT)),
        "cmd": either(st.sampled_from(["echo hi", "", " ", "true"])),
        "headers": either(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=2)),
        "runs": either(NUMBERS),
        "warmup": either(NUMBERS),
        "timeout": either(NUMBERS),
        "clear_cache": either(st.sampled_from(["redis-cli FLUSHALL", ""])),
        "expect_status": either(st.one_of(st.integers(0, 700), st.lists(st.integers(0, 700)))),
        "expect_json": either(st.dictionaries(st.text(max_size=5), TOML_VALUE, max_size=3)),
        "slow_ms": either(NUMBERS),
        "max_error_rate": either(NUMBERS),
        "better": either(
            st.dictionaries(st.text(max_size=5), st.sampled_from(["lower", "higher", "up"]))
        ),
    },
)
REDACT_PATTERNS = st.one_of(
    st.sampled_from(["secret-[0-9]+", "(", "a{4294967296}", "(" * 600 + ")" * 600, "[z-a]"]),
    st.text(max_size=6),
)
CONFIG_TABLES = st.fixed_dictionaries(
    {},
    optional={
        "service": either(st.text(max_size=10)),
        "owner": either(st.text(max_size=10)),
        "notes_dir": either(st.text(max_size=10)),
        "templates_dir": either(st.text(max_size=10)),
        "runs": either(NUMBERS),
        "warmup": either(NUMBERS),
        "timeout": either(NUMBERS),
        "min_effect": either(NUMBERS),
        "redact_patterns": either(st.lists(REDACT_PATTERNS, max_size=3)),
        "checklist": either(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "key": either(st.sampled_from(["deploy", "capture", "", " ", "deploy"])),
                        "label": either(st.text(max_size=8)),
                    },
                ),
                max_size=3,
            )
        ),
        "metrics": either(
            st.dictionaries(
                st.text(max_size=6),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "min_effect": either(NUMBERS),
                        "better": either(st.sampled_from(["lower", "higher", "x"])),
                    },
                ),
                max_size=2,
            )
        ),
        "checks": either(st.dictionaries(st.text(max_size=6), CHECK_TABLES, max_size=2)),
    },
)


def with_a_stray_key(table: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just(table),
        st.builds(lambda k, v: {**table, k: v}, st.text(max_size=8), TOML_VALUE),
    )


@FUZZ
@given(CONFIG_TABLES.flatmap(with_a_stray_key))
@example({"timeout": 10**400})
@example({"min_effect": 10**400})
@example({"checks": {"api": {"http": "http://h/", "slow_ms": 10**400}}})
@example({"redact_patterns": ["a{4294967296}"]})
@example({"redact_patterns": ["(" * 600 + ")" * 600]})
@example({"checks": {"api": {"http": "http://h/", "headers": {"X: y": "z"}}}})
@example({"checks": {"api": {"http": "http://h/", "headers": {"X": " padded "}}}})
def test_parse_config_gives_a_config_or_config_error(raw: dict[str, Any]):
    try:
        config = parse_config(raw, Path("/project"), Path("/project/changenote.toml"))
    except ConfigError as exc:  # (one line on stderr: the CLI folds names holding "\n")
        assert str(exc).startswith("changenote.toml")
        return
    assert config.runs >= 1 and config.warmup >= 0
    assert math.isfinite(config.timeout) and config.timeout > 0
    for check in config.checks.values():
        assert (check.http is None) != (check.cmd is None)
        for name, value in check.headers.items():
            assert parse_header(f"{name}: {value}") == (name, value)
            _sendable(name, value)


def toml_value(value: Any) -> str:
    """A TOML literal (inline tables for tables): the test's own printer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # nan, inf and -inf are TOML too
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_table(table: dict[str, Any]) -> str:
    return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in table.items())


CONFIG_TEXT = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.lists(
        st.one_of(
            CONFIG_TABLES.map(toml_table),
            st.sampled_from(["[tool.changenote]", "[checks.x]", "runs = ", "a = [[[[", "="]),
            st.sampled_from(["x = " + "[" * 2000 + "]" * 2000, "t = 1979-05-27T07:32:00Z"]),
            st.sampled_from(["runs = 1\xff", 'service = "a\x7fb"', "timeout = 1" + "0" * 400]),
            st.text(max_size=20),
        ),
        max_size=4,
    ).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
)


@FUZZ
@given(CONFIG_TEXT, st.sampled_from(["changenote.toml", "pyproject.toml"]))
@example(b"runs = 1\xff", "changenote.toml")
@example(("x = " + "[" * 2000 + "]" * 2000).encode(), "changenote.toml")
@example(b"[tool.changenote]\ntimeout = 1" + b"0" * 400, "pyproject.toml")
def test_load_config_gives_a_config_or_config_error(content: bytes, file_name: str):
    if file_name == "pyproject.toml" and not content.startswith(b"[tool.changenote]"):
        content = b"[tool.changenote]\n" + content
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        (root / file_name).write_bytes(content)
        try:
            config = load_config(root)
        except ConfigError as exc:
            assert str(exc).startswith((file_name, "pyproject.toml [tool.changenote]"))
            return
    assert config.root == root


VALID_HEADERS = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True),
    st.text(max_size=12).filter(
        lambda v: v == v.strip() and not any(c in v for c in "\r\n\0\x0b\x0c")
    ),
    max_size=2,
)
POSITIVE = st.one_of(st.integers(1, 10**6), st.floats(min_value=1e-6, max_value=1e9))
#: A valid timeout: at most a day (specs.MAX_TIMEOUT).
TIMEOUTS = st.one_of(st.integers(1, 86_400), st.floats(min_value=1e-6, max_value=86_400))
VALID_CHECKS = st.builds(
    CheckConfig,
    name=st.text(min_size=1, max_size=8),
    http=VALID_URL_TEXT,
    headers=VALID_HEADERS,
    runs=st.none() | st.integers(1, 100),
    warmup=st.none() | st.integers(0, 100),
    timeout=st.none() | TIMEOUTS,
    clear_cache=st.none() | st.text(max_size=10),
    expect_status=st.lists(st.integers(100, 599), max_size=3).map(tuple),
    expect_json=st.dictionaries(
        st.text(max_size=6), st.one_of(st.text(max_size=6), st.integers(), FINITE, st.booleans())
    ),
    slow_ms=st.none() | POSITIVE,
    max_error_rate=st.none() | st.floats(0, 1),
    better=st.dictionaries(st.text(max_size=6), st.sampled_from(["lower", "higher"])),
) | st.builds(
    CheckConfig,
    name=st.text(min_size=1, max_size=8),
    cmd=st.text(min_size=1, max_size=12).filter(str.strip),
    runs=st.none() | st.integers(1, 100),
    timeout=st.none() | TIMEOUTS,
)


def check_table(check: CheckConfig) -> dict[str, Any]:
    table = {
        f.name: getattr(check, f.name)
        for f in dataclasses.fields(check)
        if f.name != "name" and getattr(check, f.name) not in (None, (), {})
    }
    if "expect_status" in table:
        table["expect_status"] = list(table["expect_status"])
    return table


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "service": st.text(max_size=10),
            "owner": st.text(max_size=10),
            "notes_dir": st.text(min_size=1, max_size=10),
            "runs": st.integers(1, 1000),
            "warmup": st.integers(0, 100),
            "timeout": TIMEOUTS,
            "min_effect": POSITIVE,
        },
    ),
    st.lists(VALID_CHECKS, max_size=3, unique_by=lambda c: c.name),
    st.sampled_from(["changenote.toml", "pyproject.toml"]),
)
def test_a_written_config_reads_back(values: dict[str, Any], checks: list[CheckConfig], where: str):
    table = {**values, "checks": {c.name: check_table(c) for c in checks}}
    text = toml_table(table)
    if where == "pyproject.toml":
        text = '[project]\nname = "x"\n\n[tool.changenote]\n' + text
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        (root / where).write_text(text, encoding="utf-8")
        config = load_config(root)
    assert config.source == root / where
    for key, value in values.items():
        assert getattr(config, key) == value
    assert config.checks == {c.name: c for c in checks}


@FUZZ
@given(st.text(), st.none() | st.text(), st.text().filter(str.strip))
@example("a\x7fb", None, "notes")
@example("svc", "\u2028", "n\x00otes")
def test_the_starter_config_reads_back(service: str, owner: str | None, notes_dir: str):
    config = parse_config(
        tomllib.loads(starter_config(service, owner, notes_dir)), Path("/p"), None
    )
    assert (config.service, config.owner, config.notes_dir) == (service, owner or None, notes_dir)


# ------------------------------------------------------------------- notes' front matter

FRONT_MATTER_LINES = st.sampled_from(
    [
        "slug: a",
        "title: b",
        "schema: changenote/change@1",
        "x: 2024-13-45",
        "x: 2024-02-30",
        "x: 2001-12-14t21:59:43.10+99:00",
        "x: !!int xyz",
        "x: !!float xyz",
        "x: !!timestamp xyz",
        "x: !!bool xyz",
        "x: !!binary '@@'",
        "title: !!binary AAAA",
        "slug: [1, 2]",
        "x: &a [*a]",
        "? [a]\n: b",
        "<<: 5",
        "x: !!python/object/apply:os.system [echo]",
        "- a",
        "x: [[[[",
        "x: " + "[" * 200 + "]" * 200,
        "x: 0o99",
        "x: .nan",
        "---",
        "...",
        "\t- tab",
        "x: \ud7ff\ue000",
    ]
)
FRONT_MATTER = st.one_of(
    st.binary(max_size=100),
    st.lists(st.one_of(FRONT_MATTER_LINES, st.text(max_size=12)), max_size=6).map(
        lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
    ),
)


@FUZZ
@given(FRONT_MATTER, st.sampled_from([b"\n---\n", b"\n", b"\n---\nbody\n"]))
@example(b"slug: a\ntitle: b\nx: 2024-13-45", b"\n---\n")
@example(b"slug: a\ntitle: !!int xyz", b"\n---\n")
@example(b"slug: a\ntitle: !!timestamp xyz", b"\n---\n")
@example(b"slug: a\ntitle: !!bool xyz", b"\n---\n")
@example(b"slug: \xff\ntitle: b", b"\n---\n")
@example(b"slug: a\ntitle: !!binary AAAA", b"\n---\n")
def test_read_note_gives_a_document_or_changenote_error(front: bytes, end: bytes):
    from changenote.notebook.transfer import read_documents

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "2026-11-28-note.md"
        path.write_bytes(b"---\n" + front + end)
        try:
            doc = read_note(path)
        except ChangenoteError as exc:
            assert str(exc).startswith(path.name)
            doc = None
        else:
            if doc is not None:
                assert isinstance(doc["slug"], str) and isinstance(doc["title"], str)
        try:
            found = list(read_documents(path, Path(folder)))
        except ChangenoteError:
            return
    assert len(found) == (doc is not None)


@FUZZ
@given(FRONT_MATTER, FRONT_MATTER, st.sampled_from(["```", "````", "``"]))
@example(b"uid: a", b"slug: a\ntitle: b\nuid: b", "```")
@example(b"uid: a", b"slug: a\ntitle: b\nuid: a\n```\nx: 1", "```")
def test_a_note_with_a_record_block_gives_its_document_or_one_error(
    front: bytes, record: bytes, fence: str
):
    """Today's notes: a summary front matter and the record in a block at the end. Any
    damage to either is one ChangenoteError naming the file, never a wrong document."""
    from changenote.notebook import note_yaml

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "2026-12-02-note.md"
        path.write_bytes(
            b"---\n" + front + b"\n---\n\n# x\n\n" + note_yaml.RECORD_MARK.encode()
            + b"\n<details>\n<summary>r</summary>\n\n" + fence.encode() + b"yaml\n"
            + record + b"\n" + fence.encode() + b"\n\n</details>\n"
        )  # fmt: skip
        try:
            doc = read_note(path)
        except ChangenoteError as exc:
            assert str(exc).startswith(path.name)
            return
        assert doc is not None and isinstance(doc["slug"], str)
        summary = yaml.safe_load(front.decode("utf-8", "replace")) if front else None
        assert isinstance(summary, dict) and summary.get("uid") == doc.get("uid")


@pytest.fixture(scope="module")
def shipped_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real shipped change document: two runs, a command probe with output, manual metrics."""
    root = tmp_path_factory.mktemp("shipped") / "project"
    root.mkdir()
    (root / "changenote.toml").write_text('service = "docs"\nruns = 3\nwarmup = 0\n')
    with inside(root):
        cmd = "echo 'changenote-metric: rows=5 count better=lower'; echo done"
        made = invoke(
            *("baseline", "Slow search", "--cmd", cmd, "--metric", "p95_ms=120ms"),
            *("--expect", "time_ms p50 < 500ms; rows < 6 count", "--tag", "search", "--json"),
        )
        assert made.code == 0, made.stderr
        shipped = invoke("ship", "--reason", "cache it", "--metric", "p95_ms=90ms", "--json")
        assert shipped.code == 0, shipped.stderr
    return shipped.json()


TEXT_FIELDS = ["title", "service", "owner", "route", "input", "noticed", "expected", "reason"]
TEXT_FIELDS += ["rollback"]
ODD_TEXT = st.one_of(
    st.text(),
    st.sampled_from(["---", "a\n---\nb", "\n---\n", "...", "x: y", "- a", "2024-01-01", "null"]),
    st.sampled_from(["'quoted'", '"', "#", "a\r\nb", "\u2028", "\x85", "\ufeff", "a" * 300]),
    st.sampled_from(["{{ x }}", "{% if %}", "yes", "~", "0x10", "1e3", ".inf", "!!int 3"]),
)


@settings(FUZZ, max_examples=150)
@given(
    st.fixed_dictionaries({}, optional={key: st.none() | ODD_TEXT for key in TEXT_FIELDS}),
    st.lists(ODD_TEXT, max_size=3),
    st.none() | st.text(max_size=3000) | st.just("x" * 5000),
    st.lists(st.floats(), max_size=4),
)
def test_front_matter_written_by_the_renderer_reads_back(
    shipped_doc: dict[str, Any],
    fields: dict[str, str | None],
    tags: list[str],
    output: str | None,
    samples: list[float],
):
    from changenote.notebook import notes
    from changenote.notebook.note_yaml import RECORD_OUTPUT, _tail
    from changenote.notebook.transfer import read_documents

    doc = copy.deepcopy(shipped_doc)
    doc.update(fields)
    doc["title"] = doc["title"] or "untitled"  # a change always has one
    doc["tags"] = tags
    doc["runs"][0]["probe_results"][0]["last_output"] = output
    doc["runs"][-1]["metrics"][0]["samples"] = samples
    expected = copy.deepcopy(doc)
    for run in expected["runs"]:
        for result in run["probe_results"]:
            result["last_output"] = _tail(result.get("last_output") or "", RECORD_OUTPUT)

    def same(a: Any, b: Any) -> bool:  # NaN included
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        config = Config(root=root)
        doc["note_path"] = f"notes/{Path(shipped_doc['note_path']).name}"
        path = notes.write(config, doc)
        assert same(read_note(path), {**expected, "note_path": path.name})
        [(_, imported)] = list(read_documents(path, root))
        assert same(imported, {**expected, "note_path": doc["note_path"]})


JSON_LINES = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(['{"schema": "changenote/change@1"}', "[]", "NaN", "1" * 5000, ""]),
        st.sampled_from(['{"a": Infinity}', "{", '"\\ud800"', "null", " "]),
    ).map(lambda line: line.replace("\n", " ")),
    max_size=4,
)


@FUZZ
@given(JSON_LINES)
def test_json_lines_give_documents_or_usage_error(lines: list[str]):
    from changenote.notebook.transfer import read_documents

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "changes.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        try:
            found = list(read_documents(path, Path(folder)))
        except UsageError as exc:
            assert str(exc).startswith("changes.jsonl:")
            return
    assert len(found) == sum(1 for line in lines if line.strip())


def test_deeply_nested_json_lines_are_a_usage_error(tmp_path: Path):
    from changenote.notebook.transfer import read_documents

    path = tmp_path / "changes.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(UsageError):
        list(read_documents(path, tmp_path))


# ----------------------------------------------------------------------------- the CLI


def assert_one_line_error(result: Any) -> None:
    assert result.code != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("changenote: error: "), result.stderr


@FUZZ_CLI
@given(HTTP_TEXT.filter(lambda t: t and not t.startswith("-")), HEADER_TEXT)
@example("GET http://h/\x7f", "X: y")
@example("http://127.0.0.1:1/", "X: a\x0bb")
def test_cli_bad_probe_specs_are_one_line(project: Path, http: str, header: str):
    try:  # only what is refused: an accepted probe would be measured for real
        parse_http(http)
        parse_header(header)
    except UsageError:
        pass
    else:
        return
    result = invoke("baseline", "t", "--http", http, "--header", header, "--runs", "1")
    assert_one_line_error(result)
    assert result.code == 2 and result.stdout == ""


@FUZZ_CLI
@given(MANUAL_TEXT.filter(lambda t: not t.startswith("-")))
def test_cli_bad_metrics_are_one_line(project: Path, text: str):
    try:
        parse_manual_metric(text)
    except UsageError:
        pass
    else:
        return
    result = invoke("baseline", "t", "--metric", text)
    assert_one_line_error(result)
    assert result.code == 2


@FUZZ_CLI
@given(
    DURATION_TEXT.filter(lambda t: not t.startswith("-")),
    DURATION_TEXT.filter(lambda t: not t.startswith("-")),
    SINCE_TEXT.filter(lambda t: not t.startswith("-")),
)
@example("10m", "30s", "100000000h")
@example("0", "30s", "30m")
def test_cli_watch_durations_are_one_line(project: Path, duration: str, every: str, since: str):
    # no change is shipped, so even good durations end in one line (after being parsed)
    result = invoke(
        "watch", "--log", "app.log", "--duration", duration, "--every", every, "--since", since
    )
    assert_one_line_error(result)


@FUZZ_CLI
@given(CONFIG_TEXT)
@example(b"runs = 1\xff")
@example(("x = " + "[" * 2000 + "]" * 2000).encode())
def test_cli_bad_config_is_one_line(project: Path, content: bytes):
    assume(b"database_url" not in content)  # a random store URL is not this test's business
    (project / "changenote.toml").write_bytes(content)
    result = invoke("list", "--json")
    if result.code != 0:
        assert_one_line_error(result)


@FUZZ_CLI
@given(FRONT_MATTER)
@example(b"slug: a\ntitle: b\nx: 2024-13-45")
@example(b"slug: \xff\ntitle: b")
def test_cli_import_of_a_bad_note_is_one_line(project: Path, front: bytes):
    note = project / "incoming.md"
    note.write_bytes(b"---\n" + front + b"\n---\n\nbody\n")
    result = invoke("import", str(note))
    if result.code != 0:
        assert_one_line_error(result)


SEARCH_WORDS = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["slow", "search*", "_", "_*", "*", '"', "NEAR(a b)", "a OR b", "\u00b2"]),
    st.sampled_from(["-x", "title:slow", "\u01c5", "\x00", "AND", "^slow", "s\u0301low"]),
)
SEARCH_DAYS = st.one_of(
    st.none(),
    st.dates().map(date.isoformat),
    st.sampled_from(["2026-11-28", "20261128", "2026-W48-1", "2026-13-01", "9999-12-31", "x"]),
    st.text(max_size=10),
)


@pytest.fixture(scope="module")
def searchable(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The store URL of a project with one change in it."""
    root = tmp_path_factory.mktemp("searchable") / "project"
    root.mkdir()
    (root / "changenote.toml").write_text('service = "docs"\n')
    with inside(root):
        made = invoke("baseline", "Slow search on docs", "--metric", "p95_ms=120ms")
        assert made.code == 0, made.stderr
        return load_config(root).store_url()


@FUZZ
@given(st.lists(SEARCH_WORDS, min_size=1, max_size=3), SEARCH_DAYS, SEARCH_DAYS)
@example(["_*"], None, None)
@example(["slow"], "0001-01-01", "9999-12-31")
@example(["slow"], None, None)
def test_search_gives_rows_or_a_changenote_error(
    searchable: str, words: list[str], since: str | None, until: str | None
):
    """What `search` does with its words and dates: rows, or the project's own error (which
    the CLI prints as one line), never sqlite3's or a ValueError."""
    from changenote.store.search import search

    try:
        rows = search(searchable, " ".join(words), since=since, until=until)
    except ChangenoteError:
        return
    assert isinstance(rows, list)
    if words == ["slow"] and since is None and until is None:
        assert [row["title"] for row in rows] == ["Slow search on docs"]


@FUZZ_CLI
@given(
    st.lists(SEARCH_WORDS.filter(lambda w: not w.startswith("-")), min_size=1, max_size=3),
    SEARCH_DAYS,
    SEARCH_DAYS,
)
@example(["_*"], None, None)
@example(["slow"], "0001-01-01", "9999-12-31")
def test_cli_search_words_and_dates_are_one_line(
    project: Path, words: list[str], since: str | None, until: str | None
):
    if not (project / ".changenote").exists():
        made = invoke("baseline", "Slow search on docs", "--metric", "p95_ms=120ms")
        assert made.code == 0, made.stderr
    dates = [*(["--since", since] if since else []), *(["--until", until] if until else [])]
    result = invoke("search", "--json", *dates, "--", *words)
    if result.code == 0:
        assert isinstance(result.json(), list)
    else:
        assert_one_line_error(result)
