"""Probes against a real HTTP server on 127.0.0.1 and real shell commands."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from changenote.errors import ProbeError
from changenote.measure.probes import (
    OUTPUT_CAP,
    MeasureSettings,
    ProbeOutcome,
    Step,
    cache_status,
    db_call_count,
    measure,
    run_shell,
)
from changenote.specs import ProbeSpec
from tests.servers import Behaviour, TestServer


@pytest.fixture(scope="module")
def _shared_server() -> Iterator[TestServer]:
    srv = TestServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def server(_shared_server: TestServer) -> TestServer:
    """One server for the module (each shutdown costs a 0.5 s poll), reset for every test."""
    _shared_server.behaviour = Behaviour()
    _shared_server.connections = 0
    return _shared_server


def _http(server: TestServer, path: str = "/x", *headers: tuple[str, str]) -> ProbeSpec:
    return ProbeSpec(kind="http", target=f"GET {server.url}{path}", headers=tuple(headers))


def _cmd(command: str, **settings: object) -> ProbeSpec:
    return ProbeSpec(kind="cmd", target=command, settings=dict(settings))


def _one(spec: ProbeSpec, runs: int = 3, warmup: int = 0, timeout: float = 5.0) -> ProbeOutcome:
    [outcome] = measure([spec], MeasureSettings(runs=runs, warmup=warmup, timeout=timeout))
    return outcome


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------ HTTP


def test_http_samples_time_and_reuses_one_connection(server: TestServer):
    server.behaviour.delay = 0.030
    outcome = _one(_http(server), runs=5, warmup=2)
    times = outcome.series["time_ms"].samples
    assert len(times) == 5  # the 2 warm-up runs are not recorded...
    assert len(server.behaviour.requests) == 7  # ...but they did happen
    assert all(25 <= t < 5000 for t in times)
    assert outcome.series["error_rate"].samples == [0.0] * 5
    assert outcome.series["time_ms"].unit == "ms"
    assert outcome.series["time_ms"].better == "lower"
    assert (outcome.attempts, outcome.errors, outcome.last_status) == (5, 0, "HTTP 200")
    assert server.connections == 1


def test_http_fast_server_is_measured_fast(server: TestServer):
    outcome = _one(_http(server), runs=3)
    # no delay: about 1 ms (in µs or with a wasted reconnect wait it would be far more),
    # with room for a loaded machine to stall a request
    assert all(0 < t < 250 for t in outcome.series["time_ms"].samples)


@pytest.mark.parametrize(("status", "error"), [(500, 1.0), (503, 1.0), (404, 0.0), (302, 0.0)])
def test_http_server_errors_count_as_errors(server: TestServer, status: int, error: float):
    server.behaviour.status = status
    outcome = _one(_http(server), runs=3)
    assert outcome.series["error_rate"].samples == [error] * 3
    assert outcome.last_status == f"HTTP {status}"
    assert len(outcome.series["time_ms"].samples) == 3
    if error:
        assert outcome.errors == 3
        assert outcome.error_kinds == {f"HTTP {status}": 3}
    else:
        assert outcome.errors == 0 and outcome.error_kinds == {}


def test_http_sends_headers_with_env_expanded(server: TestServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CN_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("CN_TEST_TENANT", "acme")
    spec = _http(
        server,
        "/x",
        ("Authorization", "Bearer ${CN_TEST_TOKEN}"),
        ("X-Tenant", "${CN_TEST_TENANT}"),
        ("X-Literal", "abc$CN_TEST_TENANT"),  # a bare $ is part of the value
        ("X-Plain", "plain value"),
    )
    _one(spec, runs=2)
    assert len(server.behaviour.requests) == 2
    for received in server.behaviour.requests:
        assert received["authorization"] == "Bearer s3cret"
        assert received["x-tenant"] == "acme"
        assert received["x-literal"] == "abc$CN_TEST_TENANT"
        assert received["x-plain"] == "plain value"
        assert received["user-agent"] == "changenote"


def test_http_user_header_replaces_default_user_agent():
    spec = ProbeSpec(kind="http", target="GET http://127.0.0.1:1/", headers=(("user-agent", "me"),))
    from changenote.measure.probes import HttpProbe

    probe = HttpProbe(spec, 1.0)
    try:
        assert probe.client.headers.get_list("user-agent") == ["me"]
    finally:
        probe.close()


def test_http_missing_env_var_raises(server: TestServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CN_TEST_MISSING", raising=False)
    spec = _http(server, "/x", ("Authorization", "Bearer ${CN_TEST_MISSING}"))
    with pytest.raises(ProbeError, match="CN_TEST_MISSING"):
        _one(spec)
    assert server.behaviour.requests == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Cache": "HIT"}, 1.0),
        ({"X-Cache": "Hit from cloudfront"}, 1.0),
        ({"X-Cache": "MISS"}, 0.0),
        ({"X-Cache-Status": "HIT"}, 1.0),
        ({"X-Cache-Status": "EXPIRED"}, 0.0),
        ({"CF-Cache-Status": "HIT"}, 1.0),
        ({"CF-Cache-Status": "DYNAMIC"}, 0.0),
        ({"CF-Cache-Status": "MISS", "Age": "30"}, 0.0),  # a cache header beats Age
        ({"Age": "42"}, 1.0),
        ({"Age": "0"}, 0.0),
    ],
)
def test_http_cache_status(server: TestServer, headers: dict[str, str], expected: float):
    server.behaviour.headers = headers
    outcome = _one(_http(server), runs=3)
    series = outcome.series["cache_hit_ratio"]
    assert series.samples == [expected] * 3
    assert series.better == "higher"


@pytest.mark.parametrize("headers", [{}, {"Age": "soon"}, {"X-Cache": "whatever"}])
def test_http_no_cache_status_gives_no_sample(server: TestServer, headers: dict[str, str]):
    server.behaviour.headers = headers
    outcome = _one(_http(server), runs=2)
    assert "cache_hit_ratio" not in outcome.series


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('db;desc="12";dur=3', 12.0),
        ("db;desc=12", 12.0),
        ("cache;desc=hit, db;desc=7", 7.0),
        ('app;dur=20, DB ; desc = "4" ; dur=1', 4.0),
    ],
)
def test_http_server_timing_db_calls(server: TestServer, value: str, expected: float):
    server.behaviour.headers = {"Server-Timing": value}
    outcome = _one(_http(server), runs=2)
    assert outcome.series["db_calls"].samples == [expected] * 2
    assert outcome.series["db_calls"].unit == "count"


@pytest.mark.parametrize(
    "value", ["cache;desc=hit", "db;dur=3", 'db;desc="many"', "dbx;desc=3", 'app;desc="db=3"']
)
def test_http_server_timing_without_db_count(server: TestServer, value: str):
    server.behaviour.headers = {"Server-Timing": value}
    assert "db_calls" not in _one(_http(server), runs=1).series


def test_header_helpers_directly():
    assert cache_status(httpx.Headers({"x-cache-status": "STALE"})) == 1.0
    assert cache_status(httpx.Headers({"x-cache": "BYPASS"})) == 0.0
    assert cache_status(httpx.Headers({})) is None
    assert (
        db_call_count(httpx.Headers([("server-timing", "a;dur=1"), ("server-timing", "db;desc=5")]))
        == 5.0
    )
    assert db_call_count(httpx.Headers({})) is None


def test_http_connection_refused_is_an_error_sample():
    port = _closed_port()
    spec = ProbeSpec(kind="http", target=f"GET http://127.0.0.1:{port}/x")
    outcome = _one(spec, runs=2, warmup=1)
    assert outcome.series["error_rate"].samples == [1.0, 1.0]
    assert "time_ms" not in outcome.series
    assert outcome.last_status == "connection refused"
    assert outcome.error_kinds == {"connection refused": 2}


def test_http_slow_server_times_out(server: TestServer):
    server.behaviour.delay = 1.0
    outcome = _one(_http(server), runs=1, timeout=0.2)
    assert outcome.series["error_rate"].samples == [1.0]
    assert outcome.last_status == "timeout"
    assert "time_ms" not in outcome.series


def test_http_per_probe_settings_override(server: TestServer):
    spec = ProbeSpec(kind="http", target=f"GET {server.url}/x", settings={"runs": 2, "warmup": 0})
    [outcome] = measure([spec], MeasureSettings(runs=6, warmup=1))
    assert outcome.attempts == 2
    assert len(server.behaviour.requests) == 2


# ---------------------------------------------------------------------- measure: ordering


def test_probes_are_interleaved_and_progress_counts(tmp_path: Path):
    log = tmp_path / "log"
    a = _cmd(f"echo a >> {log}")
    b = _cmd(f"echo b >> {log}", runs=1)  # one run fewer than the others
    c = _cmd(f"echo c >> {log}")
    calls: list[Step] = []
    outcomes = measure([a, b, c], MeasureSettings(runs=2, warmup=1), progress=calls.append)
    assert log.read_text().split() == ["a", "b", "c", "a", "b", "c", "a", "c"]
    assert [o.attempts for o in outcomes] == [2, 1, 2]
    assert [s.done for s in calls] == list(range(1, 9))
    assert {(s.total, s.probes) for s in calls} == {(8, 3)}
    assert [s.label for s in calls][:3] == [a.label, b.label, c.label]
    # each probe's own counts: warm-up first, then its measured runs
    assert [(s.probe, s.warmed, s.measured) for s in calls] == [
        (0, 1, 0), (1, 1, 0), (2, 1, 0), (0, 1, 1), (1, 1, 1), (2, 1, 1), (0, 1, 2), (2, 1, 2),
    ]  # fmt: skip
    assert [s.runs for s in calls][:3] == [2, 1, 2]


def test_measure_nothing():
    assert measure([], MeasureSettings()) == []


# -------------------------------------------------------------------------------- commands


def test_command_time_and_success():
    outcome = _one(
        _cmd(f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(0.03)'"), runs=2
    )
    assert all(t >= 25 for t in outcome.series["time_ms"].samples)
    assert outcome.series["error_rate"].samples == [0.0, 0.0]
    assert outcome.last_status == "exit 0"


def test_command_non_zero_exit_is_an_error_sample():
    outcome = _one(_cmd("echo failing; exit 3"), runs=2)
    assert outcome.series["error_rate"].samples == [1.0, 1.0]
    assert outcome.last_status == "exit 3"
    assert outcome.error_kinds == {"exit 3": 2}
    assert outcome.last_output == "failing\n"
    assert len(outcome.series["time_ms"].samples) == 2


def test_command_killed_by_signal():
    attempt = run_shell("kill -TERM $$", 5.0)
    assert not attempt.ok
    assert attempt.status == f"killed by signal {int(signal.SIGTERM)}"


def test_command_cannot_start_is_an_error_sample():
    attempt = run_shell("/nonexistent/binary-for-changenote-tests", 5.0)
    assert not attempt.ok
    assert attempt.status == "exit 127"


def test_command_custom_metrics():
    script = "; ".join(
        [
            "echo 'changenote-metric: rows=120 count better=higher'",
            "echo 'noise line'",
            "echo 'changenote-metric: rss=31.5 MB'",
            "echo 'changenote-metric: broken=abc'",
            "echo 'changenote-metric: odd=1 better=sideways'",
            "echo 'changenote-metric: =4'",
        ]
    )
    outcome = _one(_cmd(script), runs=2)
    assert outcome.series["rows"].samples == [120.0, 120.0]
    assert (outcome.series["rows"].unit, outcome.series["rows"].better) == ("count", "higher")
    assert outcome.series["rss"].samples == [31.5, 31.5]
    assert (outcome.series["rss"].unit, outcome.series["rss"].better) == ("MB", None)
    assert set(outcome.series) == {"rows", "rss", "time_ms", "error_rate"}


def test_command_output_is_capped_to_the_tail():
    attempt = run_shell("for i in $(seq 1 50); do echo line$i; done", 5.0, cap=40)
    assert attempt.output.startswith("[... output cut ...]\n")
    assert attempt.output.endswith("line49\nline50\n")
    assert "line1\n" not in attempt.output
    assert len(attempt.output) <= 40 + len("[... output cut ...]\n")


def test_command_output_default_cap():
    big = OUTPUT_CAP + 10_000
    attempt = run_shell(f"head -c {big} /dev/zero | tr '\\0' a; echo; echo END", 10.0)
    assert attempt.ok
    assert attempt.output.startswith("[... output cut ...]\n")
    assert attempt.output.endswith("aaa\nEND\n")
    assert len(attempt.output.encode()) <= OUTPUT_CAP + 64


def test_command_short_output_is_not_marked():
    attempt = run_shell("echo hi", 5.0)
    assert attempt.output == "hi\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped is a zombie: it runs nothing any more.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def test_command_timeout_kills_the_whole_process_group(tmp_path: Path):
    pidfile = tmp_path / "pids"
    command = f"sh -c 'sleep 30 & echo $! >> {pidfile}; sleep 30 & echo $! >> {pidfile}; wait'"
    outcome = _one(_cmd(command), runs=1, timeout=0.5)
    pids = [int(p) for p in pidfile.read_text().split()]
    try:
        assert len(pids) == 2
        assert outcome.last_status == "timeout"
        assert outcome.series["error_rate"].samples == [1.0]
        assert "time_ms" not in outcome.series
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(_alive(p) for p in pids)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_command_timeout_keeps_output():
    attempt = run_shell("echo started; sleep 30", 0.3)
    assert attempt.status == "timeout"
    assert attempt.output == "started\n"
    assert attempt.time_ms is None


# ----------------------------------------------------------------------------- clear-cache


def test_clear_cache_runs_before_every_measured_run_only(tmp_path: Path):
    log = tmp_path / "log"
    settings = MeasureSettings(runs=3, warmup=2, clear_cache=f"echo clear >> {log}")
    [outcome] = measure([_cmd(f"echo run >> {log}")], settings)
    assert log.read_text().split() == ["run", "run", "clear", "run", "clear", "run", "clear", "run"]
    assert outcome.attempts == 3


def test_clear_cache_failure_raises(tmp_path: Path):
    log = tmp_path / "log"
    settings = MeasureSettings(runs=3, warmup=1, clear_cache="echo 'cache is locked' >&2; exit 4")
    with pytest.raises(ProbeError, match=r"exit 4.*cache is locked"):
        measure([_cmd(f"echo run >> {log}")], settings)
    assert log.read_text().split() == ["run"]  # the warm-up ran, no measured run did


def test_printed_standard_metric_names_are_ignored():
    outcome = _one(_cmd("echo 'changenote-metric: time_ms=99999'; echo 'changenote-metric: ok=1'"))
    assert max(outcome.series["time_ms"].samples) < 99999
    assert outcome.series["ok"].samples == [1.0, 1.0, 1.0]


def test_background_children_do_not_outlive_the_run(tmp_path):
    pidfile = tmp_path / "bg.pid"
    outcome = _one(_cmd(f"sleep 30 & echo $! > {pidfile}"), runs=1)
    assert outcome.errors == 0
    pid = int(pidfile.read_text())
    import os
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # a zombie whose parent is gone still answers kill(0): check its state
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"background child {pid} still running")


# ----------------------------------------------------------------------------- how commands start


@pytest.mark.parametrize(
    ("command", "direct"),
    [
        ("sleep 0.01", True),
        ("python3 manage.py build_report --month=2024-05", True),
        ("sleep 0.01; true", False),
        ("sleep $DELAY", False),
        ("ls *.py", False),
        ("ls > out.txt", False),
        ("X=1 sleep 0", False),
        ("echo hi", False),  # the shell's own echo is not /bin/echo
        ("exit 3", False),
        ("sleep 1 # why", False),
        ("no-such-program-for-changenote x", False),
    ],
)
def test_plain_words_start_without_a_shell(command: str, direct: bool):
    from changenote.measure.probes import _argv

    argv = _argv(command)
    assert (argv is not None) == direct
    if argv is not None:
        assert argv[1:] == command.split()  # argv[0] as typed; the program found on PATH
        assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK)


def test_a_plain_script_without_a_shebang_line_still_runs_in_the_shell(tmp_path: Path):
    script = tmp_path / "plain-script"
    script.write_text("echo from the shell\nexit 4\n")
    script.chmod(0o755)
    attempt = run_shell(f"{script} arg", 5.0)
    assert attempt.status == "exit 4" and attempt.output == "from the shell\n"
    assert attempt.time_ms is not None


def test_a_direct_command_is_killed_with_its_group_on_timeout(tmp_path: Path):
    attempt = run_shell("sleep 30", 0.3)
    assert attempt.status == "timeout" and attempt.time_ms is None


def test_http_every_run_sends_the_same_request_without_cookies(server: TestServer):
    server.behaviour.headers = {"Set-Cookie": "session=abc; Path=/"}
    outcome = _one(_http(server, "/x", ("X-Probe", "1")), runs=3, warmup=0)
    assert outcome.series["error_rate"].samples == [0.0] * 3
    sent = server.behaviour.requests
    assert len(sent) == 3 and all("cookie" not in r for r in sent)
    assert sent[0] == sent[1] == sent[2] and sent[0]["x-probe"] == "1"
    assert sent[0]["user-agent"] == "changenote" and sent[0]["host"].startswith("127.0.0.1:")


def test_http_goes_through_a_proxy_from_the_environment(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
):
    # The server stands in for a proxy: the request for a host that does not exist must
    # reach it in absolute form, as through any HTTP proxy.
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    spec = ProbeSpec(kind="http", target="GET http://changenote-probe.invalid/health")
    outcome = _one(spec, runs=2, warmup=0)
    assert outcome.series["error_rate"].samples == [0.0, 0.0]
    assert server.behaviour.paths == ["http://changenote-probe.invalid/health"] * 2


def test_http_credentials_in_the_url_are_sent(server: TestServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROBE_PW", "s3cret")
    host = server.url.split("://", 1)[1]
    spec = ProbeSpec(kind="http", target=f"GET http://alice:${{PROBE_PW}}@{host}/private")
    outcome = _one(spec, runs=2, warmup=0)
    assert outcome.series["error_rate"].samples == [0.0, 0.0]
    import base64

    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert [r.get("authorization") for r in server.behaviour.requests] == [expected] * 2


def test_a_timeout_of_years_is_no_error():
    assert run_shell("sleep 0.01", 1e10).status == "exit 0"
