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
    assert "'health_error_rate'=0%;;0;0;100" in perf  # a ratio, in percent
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
    samples = {(s.name, s.labels["check"]): s.value for f in families.values() for s in f.samples}
    every = [s.labels for f in families.values() for s in f.samples]
    assert all(x["service"] == "docs" and x["project"] == project.name for x in every)
    assert samples[("changenote_check_up", "health")] == 1.0
    assert samples[("changenote_check_state", "job")] == 0.0
    assert samples[("changenote_check_slow", "health")] == 0.0
    assert 0 < samples[("changenote_check_duration_seconds", "health")] < 5  # seconds
    assert samples[("changenote_check_error_ratio", "job")] == 0.0


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
    # One run against one reference run cannot tell a change from run-to-run drift.
    first = invoke("check", "--runs", "8", "--format", "json")
    data = json.loads(first.stdout)["checks"][0]
    assert data["reference"]["slug"] == "slow-health"
    assert data["changed"] is None and data["state"] == "ok" and first.code == 0, data
    assert "run-to-run noise is not known yet (0 of 5 runs recorded" in data["changed_note"]
    server.behaviour.delay = 0.0
    for _ in range(5):  # cron with --record: the check learns its run-to-run noise
        assert invoke("check", "--runs", "8", "--record").code == 0
    server.behaviour.delay = 0.03
    result = invoke("check", "--runs", "8", "--format", "json")
    data = json.loads(result.stdout)["checks"][0]
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


# -- monitoring conventions, checked with the programs that read them ------------------

#: The plugin guidelines' performance data: 'label'=value[UOM];[warn];[crit];[min];[max]
_PERF = (
    r"'[^'=]+'=-?[0-9.]+(us|ms|s|%|B|KB|MB|TB|c)?"
    r";(-?[0-9.]*)?;(-?[0-9.]*)?;(-?[0-9.]*)?;(-?[0-9.]*)?"
)


@pytest.mark.parametrize(
    ("setup", "args", "says"),
    [
        ("", ["check", "--format", "nagios"], "no checks configured"),
        ("health", ["check", "helth", "--format", "nagios"], "unknown check 'helth'"),
        ("typo", ["check", "--format", "nagios"], "did you mean 'slow_ms'?"),
        ("health", ["check", "--format", "nagios", "--runs", "many"], "Invalid value for '--runs'"),
        ("health", ["check", "--format=nagios", "--runs", "0"], "--runs must be at least 1"),
    ],
)
def test_nagios_cannot_judge_is_unknown_with_a_status_line(
    project: Path, server: TestServer, setup: str, args: list[str], says: str
):
    checks = {"": "", "health": _health(server.url), "typo": _health(server.url, "slow_msec = 1")}
    _config(project, checks[setup])
    result = invoke(*args)
    assert result.code == 3, (result.stdout, result.stderr)
    assert result.stdout.startswith("CHANGENOTE UNKNOWN - ") and result.stdout.count("\n") == 1
    assert says in result.stdout and says in result.stderr
    # elsewhere the same failure is an error line, not a monitoring state
    plain = invoke(*[a for a in args if a not in ("--format", "nagios", "--format=nagios")])
    assert plain.code in (1, 2) and plain.stdout == ""


def _perl_perfdata(perf: str) -> list[list[str]]:
    """What Monitoring::Plugin::Performance (Debian's libmonitoring-plugin-perl) reads."""
    import shutil
    import subprocess

    if shutil.which("perl") is None:
        pytest.skip("perl is not installed")
    script = (
        "use Monitoring::Plugin::Performance; "
        "for my $p (Monitoring::Plugin::Performance->parse_perfstring($ARGV[0])) {"
        " print join('|', $p->label, $p->value, $p->uom // '', "
        " $p->threshold->warning->end // '', $p->threshold->critical->end // '',"
        " $p->min // '', $p->max // ''), qq{\\n} }"
    )
    done = subprocess.run(["perl", "-e", script, perf], capture_output=True, text=True)
    if "Can't locate Monitoring/Plugin" in done.stderr:
        pytest.skip("Monitoring::Plugin is not installed (libmonitoring-plugin-perl)")
    assert done.returncode == 0, done.stderr
    return [line.split("|") for line in done.stdout.splitlines()]


def test_nagios_perfdata_follows_the_guidelines(project: Path, server: TestServer):
    import re

    _config(
        project,
        _health(server.url, "slow_ms = 250\nmax_error_rate = 0.1")
        + "[checks.rows]\ncmd = \"echo 'changenote-metric: rows=12345678901234 count'\"\n"
        + "[checks.big]\ncmd = \"echo 'changenote-metric: size=1000000 MB'\"\n",
    )
    result = invoke("check", "--format", "nagios", "--runs", "2")
    assert result.code == 0, result.stdout
    status, perf = result.stdout.rstrip("\n").split(" | ")
    assert status.startswith("CHANGENOTE OK - ")
    entries = perf.split(" ")
    assert all(re.fullmatch(_PERF, e) for e in entries), entries
    assert "e+" not in perf and "e-" not in perf
    assert "'rows_rows'=12345678901234;;;;" in entries  # a gauge: no 'c', no made-up min
    assert "'big_size'=1000000MB;;;0;" in entries
    assert "'health_error_rate'=0%;;10;0;100" in entries
    time = next(e for e in entries if e.startswith("'health_time_ms'="))
    assert time.endswith("ms;250;;0;")
    parsed = {row[0]: row for row in _perl_perfdata(perf)}
    assert set(parsed) == {e.split("'")[1] for e in entries}
    assert parsed["health_time_ms"][2:4] == ["ms", "250"]
    assert parsed["health_error_rate"][2] == "%" and parsed["health_error_rate"][4] == "10"
    assert parsed["rows_rows"][1] == "12345678901234" and parsed["rows_rows"][2] == ""


def _promtool() -> str:
    import shutil

    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    return found


def test_prometheus_files_of_two_projects_pass_promtool_and_never_collide(
    tmp_path: Path, server: TestServer, monkeypatch
):
    import subprocess

    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import git

    promtool = _promtool()
    textfiles = tmp_path / "textfile-collector"
    textfiles.mkdir()
    for name in ("shop", "blog"):
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q")
        monkeypatch.chdir(root)
        (root / "changenote.toml").write_text(
            f'service = "{name}"\n' + _health(server.url) + '[checks.job]\ncmd = "true"\n'
        )
        result = invoke("check", "--format", "prometheus", "--runs", "2")
        assert result.code == 0, result.stderr
        (textfiles / f"changenote-{name}.prom").write_text(result.stdout)
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for path in sorted(textfiles.glob("*.prom")):
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=path.read_text(), capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
        for family in text_string_to_metric_families(path.read_text()):
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in seen, f"{key} collected twice"  # node_exporter's rule
                seen.add(key)
    names = {name for name, _ in seen}
    assert {"changenote_check_duration_seconds", "changenote_check_error_ratio"} <= names
    assert "changenote_check_median" not in names  # no name mixing units


def test_openmetrics_ends_with_eof_and_parses(project: Path, server: TestServer):
    import subprocess

    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    _config(project, _health(server.url))
    result = invoke("check", "--format", "openmetrics")
    assert result.code == 0 and result.stdout.endswith("# EOF\n")
    families = {f.name for f in text_string_to_metric_families(result.stdout)}
    assert "changenote_check_up" in families
    lint = subprocess.run(
        [_promtool(), "check", "metrics"], input=result.stdout, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_prometheus_without_checks_is_an_error_not_an_empty_exposition(project: Path):
    _config(project, "")
    result = invoke("check", "--format", "prometheus")
    assert result.code != 0 and result.stdout == "" and "no checks configured" in result.stderr
