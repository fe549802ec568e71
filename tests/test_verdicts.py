"""Honest verdicts end to end, against a real HTTP service on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import invoke, machine_flagged
from tests.servers import TestServer


def _base(server: TestServer, *extra: str, path: str = "/search?q=x") -> dict:
    result = invoke(
        "baseline", "search", "--http", f"GET {server.url}{path}", "--runs", "15", "--json", *extra
    )
    assert result.code == 0, result.stderr
    return result.json()


def _ship(*extra: str) -> tuple[int, dict, str]:
    result = invoke("ship", "--reason", "r", "--json", *extra)
    return result.code, (result.json() if result.stdout else {}), result.stderr


def _by_metric(doc: dict) -> dict[str, dict]:
    return {c["metric"]: c for c in doc["comparison"]}


def test_unchanged_service_is_not_significant_in_repeated_trials(project: Path, server):
    server.behaviour.delay = 0.008
    quiet = 0
    for _ in range(3):
        _base(server)
        code, doc, err = _ship()
        assert code == 0, err
        verdict = _by_metric(doc)["time_ms"]["verdict"]
        # Honest either way: no change claimed, or the machine's load change is flagged
        # (another process on this 2-core machine can slow one run; the tool must say so).
        flagged = machine_flagged(doc)
        assert verdict == "not-significant" or flagged, (doc["comparison"], doc["warnings"])
        quiet += verdict == "not-significant"
    assert quiet >= 2


def test_cold_baseline_and_cached_after_run_warns_cache_state_changed(project: Path, server):
    server.behaviour.delay = 0.03
    server.behaviour.cache = False
    _base(server, "--warmup", "1")
    server.behaviour.cache = True  # the "change" turns a cache on; warm-up fills it
    code, doc, err = _ship()
    assert code == 0, err
    codes = [w["code"] for w in doc["warnings"]]
    assert "cache-state-changed" in codes
    warning = next(w for w in doc["warnings"] if w["code"] == "cache-state-changed")
    assert (
        "no cache headers to 100%" in warning["message"] and "--clear-cache" in warning["message"]
    )
    assert _by_metric(doc)["time_ms"]["verdict"] == "improved"  # true, but only thanks to the cache


def test_clearing_the_cache_that_matters_claims_no_improvement(project: Path, server):
    server.behaviour.delay = 0.03
    server.behaviour.cache = True
    clear = (
        f'{sys.executable} -c "import urllib.request as u; '
        f"u.urlopen('{server.url}/__clear').read()\""
    )
    _base(server, "--clear-cache", clear)
    code, doc, err = _ship()
    assert code == 0, err
    metrics = _by_metric(doc)
    # both runs are cache misses: no change, unless the machine was busier in one run
    # (which the comparison must then say)
    assert metrics["time_ms"]["verdict"] == "not-significant" or machine_flagged(doc)
    assert metrics["cache_hit_ratio"]["before"] == 0 and metrics["cache_hit_ratio"]["after"] == 0
    assert "cache-state-changed" not in [w["code"] for w in doc["warnings"]]


def test_errors_from_none_to_three_in_thirty_is_regressed_in_counts(project: Path, server):
    result = invoke("baseline", "errors", "--http", f"{server.url}/x", "--runs", "30", "--json")
    assert result.code == 0, result.stderr
    # After the change every tenth request fails: warm-up is request 1, so 10, 20, 30 fail.
    server.behaviour.requests.clear()
    server.behaviour.statuses = [200] * 9 + [500]
    code, doc, err = _ship("--fail-on-regression")
    assert code == 3
    assert "gate failed: regressed: " in err and "error_rate of GET" in err
    errors = _by_metric(doc)["error_rate"]
    assert errors["verdict"] == "regressed"
    assert errors["detail"].startswith("0/30 → 3/30 errors")
    note = (project / doc["note_path"]).read_text()
    assert "0/30 → 3/30 errors" in note
    assert "regressed ❌" in note


def test_no_errors_either_side_and_gate_passes(project: Path, server):
    # The gate here is about errors. Timing on a busy machine drifts between two sessions
    # by more than one session's spread shows (see the closing notes), so this test
    # leaves time_ms out of the gate with a wide minimum effect of its own.
    with (project / "changenote.toml").open("a") as config:
        config.write("\n[metrics.time_ms]\nmin_effect = 10000\n")
    result = invoke("baseline", "calm", "--http", f"{server.url}/x", "--runs", "10", "--json")
    assert result.code == 0, result.stderr
    code, doc, err = _ship("--fail-on-regression")
    assert code == 0, err
    errors = _by_metric(doc)["error_rate"]
    assert (errors["verdict"], errors["detail"]) == ("not-significant", "0/10 → 0/10 errors")


def test_checkable_expectation_is_evaluated_and_gates(project: Path, server):
    server.behaviour.delay = 0.08
    server.behaviour.headers = {"Server-Timing": 'db;desc="4"'}
    result = invoke(
        "baseline",
        "expect",
        "--http",
        f"{server.url}/x",
        "--runs",
        "8",
        "--expect",
        "search feels instant; time_ms p95 < 40ms; db_calls <= 4; error_rate = 0",
        "--json",
    )
    assert result.code == 0, result.stderr
    measured = invoke("measure", "--fail-on-regression", "--json")
    assert measured.code == 3  # p95 is still ~80 ms
    assert "expectation not met: time_ms p95 < 40ms" in measured.stderr
    checks = {e["expect"]: e for e in measured.json()["expectations"]}
    assert set(checks) == {"time_ms p95 < 40ms", "db_calls <= 4", "error_rate = 0"}
    assert checks["time_ms p95 < 40ms"]["met"] is False
    assert checks["time_ms p95 < 40ms"]["actual"] > 60
    assert checks["db_calls <= 4"]["met"] is True and checks["db_calls <= 4"]["actual"] == 4

    # 1 ms a request: the p95 of 8 is the slowest, far under 40 ms even when the other
    # worker of a 2-CPU machine delays one request by tens of ms
    server.behaviour.delay = 0.001
    code, doc, err = _ship("--fail-on-regression")
    assert code == 0, err
    assert all(e["met"] for e in doc["expectations"])
    note = (project / doc["note_path"]).read_text()
    assert "met: time_ms p95 < 40ms (#1: p95" in note
    assert "Expected result: 3 of 3 check(s) met." in note


def test_show_has_distribution_view(project: Path, server):
    _base(server)
    _ship()
    shown = invoke("show")
    assert shown.code == 0, shown.stderr
    assert "samples in measured order" in shown.stdout
    assert any(ch in shown.stdout for ch in "▁▂▃▄▅▆▇█")


def test_failing_fast_is_not_faster(project: Path, server):
    server.behaviour.delay = 0.02
    _base(server)
    server.behaviour.delay = 0.0
    server.behaviour.status = 401  # the change broke authentication: fast, and wrong
    code, doc, err = _ship()
    assert code == 0, err
    time_ms = _by_metric(doc)["time_ms"]
    assert time_ms["verdict"] == "not-comparable"
    assert "status changed" in time_ms["detail"]
    warning = next(w for w in doc["warnings"] if w["code"] == "status-changed")
    assert "HTTP 2xx" in warning["message"] and "HTTP 4xx" in warning["message"]
    assert "improved" not in doc["comparison"][0]["verdict"]
