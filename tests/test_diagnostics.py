"""Warnings and checked expectations, on runs built by hand."""

from __future__ import annotations

import pytest

from changenote.measure import diagnostics, expectations
from changenote.measure.comparing import judge


def _run(label: str, samples: list[float], **extra: object) -> dict:
    return {
        "label": label,
        "metrics": [
            {
                "probe": "GET /x",
                "probe_index": 0,
                "metric": "time_ms",
                "unit": "ms",
                "better": "lower",
                "samples": samples,
            },
        ],
        "probe_results": [],
        "probes": ["GET /x"],
        "settings": {"runs": len(samples), "warmup": 1, "timeout": 30.0, "clear_cache": None},
        "environment": {"host": "a", "python": "3.11.7", "cpus": 2, "load1": 0.2},
        **extra,
    }


STEADY = [30.0, 30.5, 29.8, 30.2, 30.1, 29.9, 30.3, 30.0, 30.4, 29.7]


def test_cold_first_run_is_flagged_only_when_far_slower():
    assert diagnostics.cold_first_run(_run("baseline", STEADY)) == []
    warned = diagnostics.cold_first_run(_run("baseline", [95.0, *STEADY[1:]]))
    assert [w["code"] for w in warned] == ["cold-first-run"]
    assert "3.2x the median of the rest" in warned[0]["message"]


def test_outliers_use_modified_z_with_a_floor():
    assert diagnostics.outliers(STEADY) == []  # a 0.3 ms wobble on 30 ms is no outlier
    assert diagnostics.outliers([*STEADY, 80.0]) == [80.0]
    assert diagnostics.outliers([1.0, 2.0, 3.0]) == []  # too few to say


def test_unstable_and_too_few_samples_suggest_runs():
    noisy = [30, 45, 22, 38, 27, 51, 19, 33, 41, 24]
    codes = [w["code"] for w in diagnostics.spread_warnings(_run("after", noisy))]
    assert "unstable" in codes
    verdict = judge({"min_effect": 5.0}, _run("baseline", noisy), _run("after", noisy[::-1]), None)
    few = next(w for w in verdict.warnings if w["code"] == "too-few-samples")
    suggested = int(few["message"].rsplit("--runs ", 1)[1].split()[0])
    assert suggested == diagnostics.runs_needed(diagnostics.robust_spread(noisy), 5.0)
    assert suggested > 10


def test_runs_needed_grows_with_noise_and_shrinks_with_effect():
    assert diagnostics.runs_needed(0.10, 5.0) == 49
    assert diagnostics.runs_needed(0.20, 5.0) > diagnostics.runs_needed(0.10, 5.0)
    assert diagnostics.runs_needed(0.10, 10.0) < diagnostics.runs_needed(0.10, 5.0)
    assert diagnostics.runs_needed(0.001, 5.0) == diagnostics.MIN_RUNS


def test_environment_changed_names_what_differs():
    before = _run("baseline", STEADY)
    same = diagnostics.environment_changed(before, _run("after", STEADY))
    assert same == []
    after = _run("after", STEADY)
    after["environment"] = {"host": "b", "python": "3.12.1", "cpus": 2, "load1": 1.9}
    after["settings"] = {**after["settings"], "warmup": 3}
    [warning] = diagnostics.environment_changed(before, after)
    assert warning["code"] == "environment-changed"
    for part in ("host a → b", "Python 3.11.7 → 3.12.1", "warmup 1 → 3", "machine load 0.2 → 1.9"):
        assert part in warning["message"]


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [(0.02, 0.12, True), (0.30, 0.05, True), (0.02, 0.11, False), (0.4, 0.45, False),
     (None, 0.9, False), (0.0, None, False)],
)  # fmt: skip
def test_a_change_in_cpu_contention_over_the_runs_is_named(
    before: float | None, after: float | None, flagged: bool
):
    """The load average cannot see a burst of seconds; the runs' own contention can."""
    base, later = _run("baseline", STEADY), _run("after", STEADY)
    base["environment"] = {**base["environment"], "cpu_contention": before}
    later["environment"] = {**later["environment"], "cpu_contention": after}
    said = diagnostics.environment_changed(base, later)
    assert bool(said) is flagged
    if flagged:
        shown = f"contended {before:.0%} → {after:.0%} of the probes' time"
        assert shown in said[0]["message"] and "machine load" not in said[0]["message"]


def test_cache_state_changed_covers_headers_appearing():
    comparison = [
        {
            "metric": "cache_hit_ratio",
            "probe": "GET /x",
            "before": 0.0,
            "after": 0.0,
            "n_before": 0,
            "n_after": 10,
            "verdict": "not-significant",
        },
    ]
    comparison[0]["after"] = 1.0
    [warning] = diagnostics.cache_state_changed(comparison)
    assert "no cache headers to 100%" in warning["message"]
    comparison[0].update(n_before=10, before=0.95, after=1.0)
    assert diagnostics.cache_state_changed(comparison) == []


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("time_ms p95 < 200ms", [("time_ms", "p95", "<", 200.0, None)]),
        ("time_ms < 0.2 s", [("time_ms", None, "<", 0.2, None)]),  # converted when checked
        ("error_rate = 0", [("error_rate", None, "==", 0.0, None)]),
        ("error_rate <= 1%", [("error_rate", None, "<=", 1.0, None)]),
        ("#2: db_calls median <= 3", [("db_calls", "median", "<=", 3.0, "#2")]),
        ("health: time_ms max < 50", [("time_ms", "max", "<", 50.0, "health")]),
        (
            "fast search; db_calls <= 1 and time_ms p99 < 40",
            [("db_calls", None, "<=", 1.0, None), ("time_ms", "p99", "<", 40.0, None)],
        ),
        ("search under 10 ms with one database call", []),
        ("speed = 3", []),  # prose, not a known metric
        ("", []),
    ],
)
def test_expectation_parsing(text: str, parsed: list[tuple]):
    got = [(e.metric, e.stat, e.op, e.target, e.probe) for e in expectations.parse(text)]
    assert got == [(m, s, o, pytest.approx(t), p) for m, s, o, t, p in parsed]


def test_expectation_units_convert_into_the_metrics_unit_when_checked():
    timing = [{"probe": "GET /a", "probe_index": 0, "metric": "time_ms", "unit": "ms",
               "samples": [150.0, 160.0, 170.0]}]  # fmt: skip
    (fast,) = expectations.evaluate(expectations.parse("time_ms < 0.2 s"), timing)
    assert fast["target"] == pytest.approx(200.0) and fast["met"] is True
    rates = [{"probe": "GET /a", "probe_index": 0, "metric": "error_rate", "unit": "ratio",
              "samples": [0.0, 0.0, 1.0]}]  # fmt: skip
    (errors,) = expectations.evaluate(expectations.parse("error_rate <= 1%"), rates)
    assert errors["target"] == pytest.approx(0.01) and errors["met"] is False
    (other,) = expectations.evaluate(expectations.parse("time_ms < 3 MB"), timing)
    assert other["met"] is None and other["why"] == "MB cannot be compared with ms"


def test_expectation_evaluation_per_probe():
    metrics = [
        {
            "probe": "GET /a",
            "probe_index": 0,
            "metric": "time_ms",
            "unit": "ms",
            "samples": [10.0, 12.0, 11.0],
        },
        {
            "probe": "GET /b",
            "probe_index": 1,
            "metric": "time_ms",
            "unit": "ms",
            "samples": [50.0, 52.0, 51.0],
        },
    ]
    results = expectations.evaluate(
        expectations.parse("time_ms < 20; #1: time_ms max <= 12"), metrics
    )
    assert [(r["probe"], r["met"]) for r in results] == [
        ("GET /a", True),
        ("GET /b", False),
        ("GET /a", True),
    ]
    assert results[1]["actual"] == 51.0
    missing = expectations.evaluate(expectations.parse("db_calls <= 1"), metrics)
    assert missing == [dict(missing[0], met=None, actual=None)]
