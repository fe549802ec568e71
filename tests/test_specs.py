"""Parsing what the user types: probe specs, headers, manual metrics, metric lines, durations."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from changenote.errors import UsageError
from changenote.specs import (
    ProbeSpec,
    check_metric_name,
    describe_duration,
    parse_cmd,
    parse_duration,
    parse_header,
    parse_http,
    parse_manual_metric,
    parse_metric_line,
    parse_prom_duration,
)

# ---------------------------------------------------------------------------- parse_http


def test_http_method_defaults_to_get():
    spec = parse_http("http://127.0.0.1:8000/health")
    assert spec.kind == "http"
    assert spec.method == "GET"
    assert spec.url == "http://127.0.0.1:8000/health"
    assert spec.target == "GET http://127.0.0.1:8000/health"


@pytest.mark.parametrize(
    ("text", "method", "url"),
    [
        ("POST http://h/x", "POST", "http://h/x"),
        ("post http://h/x", "POST", "http://h/x"),
        ("  head   https://h:8443/a?b=c  ", "HEAD", "https://h:8443/a?b=c"),
        ("DELETE http://[::1]:80/", "DELETE", "http://[::1]:80/"),
    ],
)
def test_http_method_and_url(text: str, method: str, url: str):
    spec = parse_http(text)
    assert (spec.method, spec.url) == (method, url)
    assert spec.label == f"{method} {url}"


def test_http_unknown_upper_case_method_is_rejected():
    with pytest.raises(UsageError, match="unknown method 'FETCH'"):
        parse_http("FETCH http://h/")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "example.com/health",  # no scheme
        "127.0.0.1:8000/health",  # no scheme either (urlsplit sees scheme '127.0.0.1')
        "ftp://h/file",
        "http://h:99999/",  # port out of range
        "http://h:port/",
        "http://",  # no host
        "http://h/a b",  # space in the URL
        "GET http://h/a b",
        "fetch http://h/",  # lower-case unknown method: not a URL either
        "http://[::1/",  # broken IPv6 literal
    ],
)
def test_http_malformed_is_rejected(text: str):
    with pytest.raises(UsageError):
        parse_http(text)


def test_probe_spec_round_trips_through_dict():
    spec = ProbeSpec(
        kind="http",
        target="GET http://h/",
        headers=(("X-A", "${TOKEN}"),),
        check="search",
        settings={"runs": 3},
    )
    again = ProbeSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.settings == {"runs": 3}
    assert again.label == "check search: GET http://h/"


def test_cmd_spec():
    spec = parse_cmd("pytest -q")
    assert (spec.kind, spec.target, spec.label) == ("cmd", "pytest -q", "$ pytest -q")
    assert spec.method == "" and spec.url == ""
    with pytest.raises(UsageError):
        parse_cmd("  ")


# --------------------------------------------------------------------------- parse_header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer ${TOKEN}", ("Authorization", "Bearer ${TOKEN}")),
        ("X-A:b", ("X-A", "b")),
        ("  X-A  :   b c  ", ("X-A", "b c")),
        ("X-Empty:", ("X-Empty", "")),
        ("X-Url: http://h:80/x", ("X-Url", "http://h:80/x")),  # only the first ':' splits
    ],
)
def test_header_parses(text: str, expected: tuple[str, str]):
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["", "X-A", ": value", "X A: b", "Bad(name): b", "  : x"])
def test_header_malformed_is_rejected(text: str):
    with pytest.raises(UsageError, match="expected 'Name: value'"):
        parse_header(text)


# ---------------------------------------------------------------------- parse_manual_metric


@pytest.mark.parametrize(
    ("text", "name", "value", "unit"),
    [
        ("p95_ms=120ms", "p95_ms", 120.0, "ms"),
        ("p95_ms=120", "p95_ms", 120.0, ""),
        ("x=1.5e3", "x", 1500.0, ""),
        ("err=0.5%", "err", 0.5, "%"),
        ("rss = 310 MB", "rss", 310.0, "MB"),
        ("delta=-2.5", "delta", -2.5, ""),
        ("x=.5", "x", 0.5, ""),
        ("lat.p99:api=7µs", "lat.p99:api", 7.0, "µs"),
    ],
)
def test_manual_metric_parses(text: str, name: str, value: float, unit: str):
    metric = parse_manual_metric(text)
    assert (metric.name, metric.value, metric.unit) == (name, value, unit)


@pytest.mark.parametrize(
    "text",
    ["x=abc", "x=", "=3", "x=nan", "x=inf", "x=-inf", "x=1e999", "3x=1", "x", "x==1", "x=1 2"],
)
def test_manual_metric_malformed_is_rejected(text: str):
    with pytest.raises(UsageError):
        parse_manual_metric(text)


def test_metric_name_must_match_whole_string():
    assert check_metric_name("db.calls:read-1") == "db.calls:read-1"
    # `$` alone would accept a name that ends in a newline.
    for bad in ("x\n", "x y", "1x", "", "x" * 65):
        with pytest.raises(UsageError):
            check_metric_name(bad)


# ------------------------------------------------------------------------ parse_metric_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("changenote-metric: rows=120 count better=higher\n", ("rows", 120.0, "count", "higher")),
        ("changenote-metric: rows=120 count", ("rows", 120.0, "count", None)),
        ("changenote-metric: rows=120 better=lower", ("rows", 120.0, "", "lower")),
        ("changenote-metric:rows=1.5e2", ("rows", 150.0, "", None)),
        ("   changenote-metric: rss = 31.5 MB  ", ("rss", 31.5, "MB", None)),
    ],
)
def test_metric_line_parses(line: str, expected: tuple[str, float, str, str | None]):
    parsed = parse_metric_line(line)
    assert parsed is not None
    assert (parsed.name, parsed.value, parsed.unit, parsed.better) == expected


@pytest.mark.parametrize(
    "line",
    [
        "rows=120",  # no prefix
        "changenote-metric: rows=abc",
        "changenote-metric: rows=",
        "changenote-metric: =3",
        "changenote-metric: rows=1e999",
        "changenote-metric: rows=1 better=sideways",
        "changenote-metric: rows=1 count extra",
        "changenote-metric: 1rows=1",
        "log:changenote-metric: rows=1",  # the marker must start the line or follow a space
    ],
)
def test_metric_line_malformed_is_ignored(line: str):
    assert parse_metric_line(line) is None


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1.5", 1.5), ("300ms", 0.3), ("30s", 30.0), ("10m", 600.0), ("2h", 7200.0), (" 5 s ", 5.0)],
)
def test_duration_parses(text: str, seconds: float):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "0ms", "-1", "1d", "1.5.5", "abc", "1e3", "9" * 400])
def test_duration_malformed_is_rejected(text: str):
    with pytest.raises(UsageError, match="--timeout"):
        parse_duration(text, "--timeout")


# ------------------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None)
@given(st.text())
@example("http://[::1/")
@example("GET http://h:99999/")
def test_parse_http_only_raises_usage_error(text: str):
    try:
        spec = parse_http(text)
    except UsageError:
        return
    assert spec.kind == "http"
    assert spec.url.startswith(("http://", "https://"))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_header_only_raises_usage_error(text: str):
    try:
        name, _ = parse_header(text)
    except UsageError:
        return
    assert name and ":" not in name


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[a-z_]{1,5}=[-+0-9.eE]{1,12}[a-z%]{0,3}")))
@example("x=1e999")
@example("x=1" + "0" * 400)
def test_parse_manual_metric_only_raises_usage_error(text: str):
    try:
        metric = parse_manual_metric(text)
    except UsageError:
        return
    assert math.isfinite(metric.value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.builds(lambda rest: "changenote-metric: " + rest, st.text()),
        st.from_regex(
            r"changenote-metric: [a-z]{1,4}=[-+0-9.eE]{1,10}( [a-z]{1,4})?( better=\w+)?"
        ),
    )
)
def test_parse_metric_line_returns_or_none(text: str):
    parsed = parse_metric_line(text)  # never raises, not even UsageError
    if parsed is not None:
        assert math.isfinite(parsed.value)
        assert parsed.better in (None, "lower", "higher")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[0-9]{1,400}(\.[0-9]{0,3})?(ms|s|m|h)?")))
@example("9" * 400)
def test_parse_duration_only_raises_usage_error(text: str):
    try:
        value = parse_duration(text)
    except UsageError:
        return
    assert math.isfinite(value) and value > 0


@pytest.mark.parametrize("value", ["a\nInjected: 1", "a\rb", "a\0b"])
def test_header_value_cannot_smuggle_lines(value: str):
    with pytest.raises(UsageError, match="line break or NUL"):
        parse_header(f"X-Test: {value}")


def test_metric_line_after_a_log_prefix():
    parsed = parse_metric_line("2026-11-28 10:00:01 INFO changenote-metric: rows=5 count")
    assert parsed is not None and (parsed.name, parsed.value, parsed.unit) == ("rows", 5.0, "count")
    assert parse_metric_line("INFO:changenote-metric: rows=5") is None


# ------------------------------------------------------------------ describe_duration


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1800, "30m"), (5400, "1h30m"), (604800, "7d"), (15, "15s"), (1.5, "1s500ms"),
     (0.5, "500ms"), (90.25, "1m30s250ms"), (0.0004, "0.4ms")],
)  # fmt: skip
def test_a_duration_is_shown_exactly_in_prometheus_syntax(seconds: float, shown: str):
    assert describe_duration(seconds) == shown  # a 1.5 s step was once shown as "2s"


@given(st.integers(min_value=1, max_value=10**10))
def test_a_shown_duration_reads_back_as_itself(milliseconds: int):
    seconds = milliseconds / 1000
    assert parse_prom_duration(describe_duration(seconds), "x") == pytest.approx(seconds)
