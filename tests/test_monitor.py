"""Reusable checks: config, `changenote check` in four formats, baseline/ship reuse."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.servers import TestServer

pytestmark = pytest.mark.usefixtures("store_backend")


def _config(project: Path, checks: str, extra: str = "runs = 8\n") -> None:
    (project / "changenote.toml").write_text(
        f'service = "docs"\nowner = "Test Owner"\n{extra}\n{checks}'
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(url: str, extra: str = "") -> str:
    return f'[checks.health]\nhttp = "GET {url}/health"\n{extra}\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('expect_status = "200"', "'expect_status' must be int"),
        ("expect_status = [200, 999]", "'expect_status' must be HTTP statuses"),
        ("expect_json = { ok = [1] }", "'expect_json.ok' must be a string, number or boolean"),
        ("max_error_rate = 2", "'max_error_rate' must be between 0 and 1"),
        ("slow_ms = 0", "'slow_ms' must be greater than 0"),
        ('better = { rows = "up" }', '\'better.rows\' must be "lower" or "higher"'),
        ("slow_msec = 3", "did you mean 'slow_ms'?"),
    ],
)
def test_check_settings_are_validated(project: Path, body: str, message: str):
    _config(project, _health("http://127.0.0.1:9", body))
    result = invoke("check")
    assert result.code == 2, result.stderr
    assert message in result.stderr and "[checks.health]" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_http_expectations_on_a_command_check_are_refused(project: Path):
    _config(project, '[checks.job]\ncmd = "true"\nexpect_status = 200\n')
    result = invoke("check")
    assert result.code == 2 and "'expect_status' applies to an HTTP check only" in result.stderr


def test_nagios_exit_codes_for_up_slow_down_and_unknown(project: Path, server: TestServer):
    down = f"http://127.0.0.1:{_free_port()}"
    _config(
        project,
        _health(server.url, "slow_ms = 10000")
        + f'[checks.slow]\nhttp = "GET {server.url}/slow"\nslow_ms = 1\n'
        + f'[checks.gone]\nhttp = "GET {down}/health"\ntimeout = 2\n'
        + '[checks.secret]\nhttp = "GET http://127.0.0.1:9/x"\n'
        + 'headers = { Authorization = "Bearer ${CHANGENOTE_TEST_UNSET_TOKEN}" }\n',
    )
    server.behaviour.delay = 0.02
    expected = {"health": 0, "slow": 1, "gone": 2, "secret": 3}
    for name, code in expected.items():
        result = invoke("check", name, "--format", "nagios")
        assert result.code == code, (name, result.stdout, result.stderr)
        state = ("OK", "WARNING", "CRITICAL", "UNKNOWN")[code]
        assert result.stdout.startswith(f"CHANGENOTE {state} - "), result.stdout
        assert result.stdout.count("\n") == 1
    up = invoke("check", "health", "--format", "nagios").stdout
    status, perf = up.split(" | ")
    assert status.startswith("CHANGENOTE OK - health up")
    assert "'health_time_ms'=" in perf and "ms;10000;;0;" in perf
    assert "'health_error_rate'=0;;0;0;" in perf
    everything = invoke("check", "--format", "nagios")
    assert everything.code == 2  # the worst of them; the message names the down check
    assert "gone down (connection refused)" in everything.stdout
    assert "secret" in invoke("check", "secret").stdout and "CHANGENOTE_TEST_UNSET_TOKEN" in (
        invoke("check", "secret").stdout
    )


def test_expected_status_and_json_fields_decide_up(project: Path, server: TestServer):
    _config(project, _health(server.url, "expect_status = 200\nexpect_json = { ok = true }"))
    assert invoke("check").code == 0
    server.behaviour.body = b'{"ok": false}'
    result = invoke("check")
    assert result.code == 2 and "ok is false, expected true" in result.stdout, result.stdout
    server.behaviour.body = b'{"ok": 1}'  # 1 is not true
    assert invoke("check").code == 2
    server.behaviour.body = b"<html>"
    assert "body is not JSON" in invoke("check").stdout
    server.behaviour.body = b'{"ok": true}'
    server.behaviour.status = 204
    assert "HTTP 204" in invoke("check").stdout and invoke("check").code == 2


def test_max_error_rate_separates_failing_from_flaky(project: Path, server: TestServer):
    _config(project, _health(server.url, "max_error_rate = 0.25"))
    server.behaviour.statuses = [200, 200, 200, 500]
    ok = invoke("check", "--runs", "8", "--format", "json")
    data = json.loads(ok.stdout)["checks"][0]
    assert data["errors"] == 2 and data["failing"] is False and ok.code == 0
    server.behaviour.statuses = [200, 500]
    bad = invoke("check", "--runs", "8")
    assert bad.code == 2 and "failing: 4/8 errors" in bad.stdout


def test_prometheus_output_parses_with_the_reference_parser(project: Path, server: TestServer):
    from prometheus_client.parser import text_string_to_metric_families

    _config(project, _health(server.url, "slow_ms = 5000") + '[checks.job]\ncmd = "true"\n')
    result = invoke("check", "--format", "prometheus", "--runs", "2")
    assert result.code == 0, result.stderr
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    assert families["changenote_check_up"].type == "gauge"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("changenote_check_up", (("check", "health"),))] == 1.0
    assert samples[("changenote_check_state", (("check", "job"),))] == 0.0
    assert samples[("changenote_check_slow", (("check", "health"),))] == 0.0
    median = samples[
        ("changenote_check_median", (("check", "health"), ("metric", "time_ms"), ("unit", "ms")))
    ]
    assert 0 < median < 5000


def test_json_report_keys_are_documented(project: Path, server: TestServer):
    _config(project, _health(server.url))
    data = json.loads(invoke("check", "--format", "json").stdout)
    assert data["schema"] == "changenote/check@1" and data["state"] == "ok"
    docs = (Path(__file__).parent.parent / "docs" / "JSON.md").read_text()
    section = docs.split("## `changenote check --format json`", 1)[1]
    for key in [*data, *data["checks"][0]]:
        assert f"`{key}`" in section, key


def test_changed_since_the_last_ship_that_measured_the_check(project: Path, server: TestServer):
    _config(project, _health(server.url))
    assert invoke("baseline", "Slow health", "--check", "health").code == 0
    shipped = invoke("ship", "--reason", "nothing yet")
    assert shipped.code == 0, shipped.stderr
    server.behaviour.delay = 0.03
    result = invoke("check", "--runs", "8", "--format", "json")
    data = json.loads(result.stdout)["checks"][0]
    assert data["reference"]["slug"] == "slow-health"
    assert data["changed"] == "regressed" and data["state"] == "warning", data
    assert result.code == 1
    assert "regressed vs after slow-health" in invoke("check", "--runs", "8").stdout


def test_record_keeps_results_for_trends(project: Path, server: TestServer):
    _config(project, _health(server.url) + '[checks.job]\ncmd = "true"\n')
    assert invoke("check", "--record").code == 0
    assert invoke("check", "job", "--record").code == 0
    import sqlalchemy as sa

    from changenote.config import load_config

    engine = sa.create_engine(load_config(project).store_url())
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, state FROM check_result ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("health", "ok"), ("job", "ok"), ("job", "ok")]


def test_ship_measures_the_baseline_definition_and_warns(project: Path, server: TestServer):
    _config(project, _health(server.url, "expect_status = 200"))
    assert invoke("baseline", "Slow health", "--check", "health").code == 0
    _config(project, f'[checks.health]\nhttp = "GET {server.url}/other"\nexpect_status = 201\n')
    before = len(server.behaviour.paths)
    shipped = invoke("ship", "--reason", "moved", "--json")
    assert shipped.code == 0, shipped.stderr
    doc = shipped.json()
    assert set(server.behaviour.paths[before:]) == {"/health"}  # not /other
    warned = [w for w in doc["warnings"] if w["code"] == "check-changed"]
    assert warned and "expect_status, http" in warned[0]["message"], doc["warnings"]
    # the baseline's expect_status (200) still decides: no errors
    after = next(c for c in doc["comparison"] if c["metric"] == "error_rate")
    assert after["after"] == 0


def test_unknown_check_names_suggest_the_nearest(project: Path, server: TestServer):
    _config(project, _health(server.url))
    result = invoke("check", "helth")
    assert result.code != 0 and "did you mean 'health'?" in result.stderr
    assert "--format must be one of" in invoke("check", "--format", "xml").stderr
