"""``--prom`` probes against a real Prometheus scraping the example service every second.

The service gets steady traffic from a thread. A first change is baselined on normal
traffic, the route is made slower (``PUT /admin/delay``), and ship reads the window after
it went live: ``regressed``. A second change is baselined on the slow route, the delay is
taken away (the fix), and ship says ``improved``. A third probe reads a target that is
removed before ship: its after window has no data, recorded as such, never a verdict.
Credentials in the server URL and headers go nowhere. Then the bad input: each one line.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import pytest

from changenote.specs import describe_duration
from tests.conftest import after_announcement, invoke
from tests.prometheus_server import PrometheusServer
from tests.servers import example_service, free_port

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

#: A point every 1.5 s, each from the last two scrapes (irate): consecutive points share
#: no requests, so the test has about as many effective points as points
#: (docs/PROMETHEUS.md: overlapping rate ranges make neighbours alike). Not every 1 s:
#: at the scrape interval, a scrape that comes a few ms late (a loaded machine) makes a
#: point read the same two scrapes as the one before it, and such twins look like
#: autocorrelation, leaving too few effective points for a test now and then.
WINDOW_S = 36  # 24 points: at a loaded machine's lag-1 r 0.75, about 3.4 effective
WINDOW = f"{WINDOW_S}s"  # (24 s gave 17 points and 3.0 effective once on CI: a no-test)
STEP = "1500ms"
#: ``--vs`` for the fix's after window: back to the first baseline's window, fast too
#: (two switches of 4.5 s and two windows between them, and 2 s to spare).
BACK_S = 2 * WINDOW_S + 11
SECRET_PASSWORD = "pw-7Hq2-never-stored"
SECRET_TOKEN = "tok-Zr81x-never-stored"


def mean(job: str) -> str:
    """The mean request time of /search (not its p95: a histogram quantile of a
    route whose every request falls in one bucket is the same figure at every point (a
    constant window, which gets ``no-test``); the mean, sum over count, is not)."""
    sel = f'{{job="{job}",route="/search"}}[3s]'
    return (
        f"mean=sum(irate(http_request_duration_seconds_sum{sel})) / "
        f"sum(irate(http_request_duration_seconds_count{sel}))"
    )


#: The route's delay, fast and slow, in ms: (delay, ± spread, uniformly, drawn afresh
#: every 0.5 s). Both vary, as a real dependency does: with a fixed delay, or none, a
#: window's points differ only by the machine's drift under load (CPU contention rising
#: and falling), which is autocorrelated (lag-1 r 0.8 to 0.98 seen), and 17 such points
#: are worth fewer than 3 independent ones: no test, for a 4x change. A spread drawn per
#: request does not help: a point averages some 50 requests, so its noise shrinks to
#: 1-2 ms, under the drift (CI: r 0.91 on 25 points, 1.9 effective). Drawn per 0.5 s
#: slot, a point (the 1 s between two scrapes) averages two draws, about 6 ms of noise
#: of its own, and points 1.5 s apart share no slot.
FAST = (20, 15, 0.5)
SLOW = (80, 40, 0.5)


def switch(url: str, delay: tuple[int, int, float]) -> None:
    """Set the route's delay, and wait until every point the queries give reflects it:
    the change is live once the ``rate(...[3s])`` range and a scrape have passed."""
    import httpx

    with httpx.Client(base_url=url) as client:
        ms, spread, every = delay
        answer = client.put("/admin/delay", params={"ms": ms, "spread": spread, "every": every})
        assert answer.status_code == 200
    time.sleep(4.5)


def wait_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.5))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, prometheus: PrometheusServer):
    """The example service, scraped, with two threads searching it every 20 ms."""
    import httpx

    with example_service(tmp_path_factory.mktemp("service")) as url:
        address = url.removeprefix("http://")
        job = f"probe-{address.rsplit(':', 1)[1]}"
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                while not stop.is_set():
                    with contextlib.suppress(httpx.HTTPError):
                        client.get("/search", params={"q": "index"})
                    stop.wait(0.02)

        # two clients: a lone one stalled a second on a loaded CI machine (the watch test),
        # and irate over 3 s of scrapes with no request between the last two is NaN
        threads = [threading.Thread(target=traffic, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        prometheus.add_target(address, job=job)
        try:
            prometheus.wait_for(f'up{{job="{job}"}} == 1', timeout=30)
            yield url, job
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            prometheus.remove_target(address)


@pytest.fixture
def here(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CHANGENOTE_PROMETHEUS_URL", raising=False)
    with (project / "changenote.toml").open("a") as config:
        config.write('\n[metrics.mean]\nbetter = "lower"\n')
    return project


def one_line(result, starts: str, code: int = 1) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stderr
    assert result.code == code, (result.code, result.stderr)
    lines = after_announcement(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("changenote: error: " + starts), lines[0]
    return lines[0]


def test_a_slower_route_regresses_and_the_fix_improves(
    here: Path, service: tuple[str, str], prometheus: PrometheusServer
):
    url, job = service
    with_credentials = prometheus.url.replace("http://", f"http://reader:{SECRET_PASSWORD}@")
    header = f"Authorization: Bearer {SECRET_TOKEN}"
    # A second target that goes away before ship: its after window has no data.
    self_address = prometheus.url.removeprefix("http://")
    self_job = f"self-{job}"
    prometheus.add_target(self_address, job=self_job)
    prometheus.wait_for(f'up{{job="{self_job}"}} == 1', timeout=30)

    # The target's first scrape must be a whole window ago before a baseline can read it.
    shorter = invoke("baseline", "Too soon", "--prom", mean(job), "--window", "10m",
                     "--prometheus", prometheus.url)  # fmt: skip
    one_line(shorter, "prom mean: the window is shorter than asked: ")
    assert json.loads(invoke("list", "--json").stdout) == []
    started = time.time()
    switch(url, FAST)  # the usual state: a dependency that varies
    wait_until(started + WINDOW_S + 4)

    base = invoke("baseline", "Search time", "--prom", mean(job), "--window", WINDOW,
                  "--step", STEP, "--prometheus", with_credentials, "--prom-header", header,
                  "--prom", f'up=up{{job="{self_job}"}}', "--json")  # fmt: skip
    assert base.code == 0, base.stderr
    doc = base.json()
    assert [p["label"] for p in doc["runs"][0]["probe_results"]] == ["prom mean", "prom up"]
    window = doc["runs"][0]["probe_results"][0]["window"]
    assert window["step"] == 1.5 and window["points"] >= 15

    prometheus.remove_target(self_address)
    switch(url, SLOW)
    live = time.time()
    live_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(live))

    # The header and the URL's password were not stored: ship cannot ask without them.
    refused = invoke("ship", "1", "--reason", "slower on purpose", "--live-at", live_at)
    one_line(refused, "header Authorization of prom mean was redacted when stored")
    refused = invoke("ship", "1", "--reason", "slower", "--live-at", live_at, "--header", header)
    one_line(refused, "the Prometheus URL of prom mean held a secret that was not stored")
    shipped = invoke("ship", "1", "--reason", "slower on purpose", "--live-at", live_at,
                     "--prometheus", with_credentials, "--header", header, "--json")  # fmt: skip
    assert shipped.code == 0, shipped.stderr
    assert time.time() >= live + WINDOW_S  # it waited for the after window to pass
    after = shipped.json()
    verdicts = {c["metric"]: c for c in after["comparison"]}
    assert verdicts["mean"]["verdict"] == "regressed", (verdicts["mean"]["detail"], after["runs"])
    assert verdicts["mean"]["kind"] == "window" and verdicts["mean"]["n_eff_after"] is not None
    assert verdicts["up"]["verdict"] == "not-measured"
    assert any(w["code"] == "no-data" and "prom up" in w["message"] for w in after["warnings"])
    note = (here / after["note_path"]).read_text()
    assert "Read from Prometheus" in note and "after: " in note

    # The fix: baselined on the slow route, the delay taken away.
    # ... with a second reference BACK_S back: the first baseline's window, fast as the fix.
    again = invoke("baseline", "Search time, the fix", "--prom", mean(job), "--window", WINDOW,
                   "--step", STEP, "--prometheus", prometheus.url,
                   "--vs", f"-{BACK_S}s")  # fmt: skip
    assert again.code == 0, again.stderr
    switch(url, FAST)
    fixed = invoke("ship", "2", "--reason", "the fix", "--prometheus", prometheus.url, "--json")
    assert fixed.code == 0, fixed.stderr
    assert "waiting for the after window of prom mean" in fixed.stderr  # it waited, and said so
    doc = fixed.json()
    assert {c["metric"]: c["verdict"] for c in doc["comparison"]} == {"mean": "improved"}, (
        doc["comparison"][0]["detail"],
        doc["runs"][0]["metrics"][0]["samples"],
        doc["runs"][-1]["metrics"][0]["samples"],
    )
    back = describe_duration(BACK_S)
    assert [r["label"] for r in doc["runs"]] == ["baseline", f"after -{back}", "after"]
    shifted, after_window = (r["probe_results"][0]["window"] for r in doc["runs"][1:])
    assert datetime_of(after_window["start"]) - datetime_of(shifted["start"]) == BACK_S
    vs = doc["comparison"][0]["vs"]
    assert vs["run"] == f"after -{back}" and vs["n_before"] == shifted["points"]
    # the warning says exactly when the reference does not bear the verdict out
    disagrees = vs["verdict"] in ("regressed", "not-significant")
    assert disagrees == any(w["code"] == "reference-disagrees" for w in doc["warnings"]), vs
    note = (here / doc["note_path"]).read_text()
    assert f"against the same window {back} earlier (after -{back})" in note

    # Nothing of the credentials anywhere: the store, the notes, the export.
    exported = invoke("export")
    everything = exported.stdout + base.stdout + shipped.stdout + shipped.stderr
    everything += "".join(p.read_text() for p in (here / "notes").glob("*.md"))
    store = (here / ".changenote" / "changenote.db").read_bytes()
    for secret in (SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in everything
        assert secret.encode() not in store


@pytest.mark.parametrize(
    ("args", "starts", "code"),
    [
        (["--prom", "x=sum(rate(http_requests_total[1m]"], "Prometheus at http://127.0.0.1:", 1),
        (["--prom", "x=no_such_metric_at_all"], "prom x: the query returned no series", 1),
        (["--prom", 'x=label_replace(vector(1), "side", "a", "", "") or vector(2)'],
         'prom x: the query returned 2 series ({}, {side="a"})', 1),
        (["--prom", 'x=vector(0) / 0'], "prom x: the query gave NaN or infinity at ", 1),
        (["--prom", "x=up", "--window", "0s"], "--window must be longer than 0s", 2),
        (["--prom", "x=up", "--window", "soon"], "--window: 'soon' is not a duration", 2),
        (["--prom", "  "], "--prom needs a PromQL query", 2),
        (["--cmd", "true", "--window", "5m"], "--window applies to Prometheus probes", 2),
        (["--prom", "x=up", "--window", "7d", "--step", "1ms"], "a window of 7d at a step of", 2),
        (["--prom", "x=up", "--window", "5m", "--vs", "-2m"], "--vs -2m lies within the window", 2),
        (["--prom", "x=up", "--vs", "+7d"], "--vs '+7d': a reference lies in the past", 2),
        (["--prom", "x=up", "--vs", "-400d"], "--vs can reach at most 365d back", 2),
        (["--prom", "x=up", "--vs", "-0s"], "--vs must be longer than 0s", 2),
        (["--cmd", "true", "--vs", "-7d"], "--vs applies to Prometheus probes", 2),
    ],
    ids=["syntax", "no-series", "several-series", "nan", "window-0s", "window-word", "empty",
         "window-without-prom", "too-many-points", "vs-within-window", "vs-future", "vs-too-far",
         "vs-zero", "vs-without-prom"],
)  # fmt: skip
def test_bad_input_at_baseline_is_one_line_and_records_nothing(
    here: Path, service: tuple[str, str], prometheus: PrometheusServer,
    args: list[str], starts: str, code: int,
):  # fmt: skip
    done = invoke("baseline", "Bad", *args, "--prometheus", prometheus.url)
    said = one_line(done, starts, code)
    if "syntax" in starts or starts.startswith("Prometheus"):
        assert "parse error" in said  # the server's own message, quoted
    assert json.loads(invoke("list", "--json").stdout) == []


def test_unreachable_server_and_missing_server_and_future_live_at(
    here: Path, prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
):
    port = free_port()
    done = invoke("baseline", "Down", "--prom", "x=vector(1)", "--step", "1s",
                  "--prometheus", f"http://127.0.0.1:{port}")  # fmt: skip
    one_line(done, f"cannot reach Prometheus at http://127.0.0.1:{port}: connection refused")
    one_line(
        invoke("baseline", "None", "--prom", "x=vector(1)"), "--prom needs a Prometheus server", 2
    )
    monkeypatch.setenv("CHANGENOTE_PROMETHEUS_URL", prometheus.url)
    made = invoke("baseline", "Const", "--prom", "x=vector(1)", "--window", "5s", "--step", "1s")
    assert made.code == 0, made.stderr
    one_line(invoke("ship", "1", "--reason", "r", "--live-at", "2999-01-01T00:00:00Z"),
             "--live-at '2999-01-01T00:00:00Z' is in the future", 2)  # fmt: skip
    for far in ("-99999999999w", "0001-01-01T00:00:00+01:00"):
        one_line(invoke("ship", "1", "--reason", "r", "--live-at", far),
                 f"--live-at {far!r} is too far back", 2)  # fmt: skip
    one_line(invoke("ship", "1", "--reason", "r", "--live-at", "-1d"),
             "--live-at '-1d' is before the baseline window ended", 2)  # fmt: skip
    assert json.loads(invoke("show", "1", "--json").stdout)["status"] == "baseline"


def test_a_prometheus_check_in_config_is_read_not_run(here: Path, prometheus: PrometheusServer):
    with (here / "changenote.toml").open("a") as config:
        config.write('\n[checks.one]\nprom = "vector(1)"\nwindow = "5s"\n')
    made = invoke("baseline", "From config", "--check", "one", "--prometheus", prometheus.url,
                  "--json")  # fmt: skip
    assert made.code == 0, made.stderr
    metric = made.json()["runs"][0]["metrics"][0]
    assert metric["metric"] == "one" and metric["median"] == 1.0 and metric["n"] >= 5
    # no step given: the server's scrape interval (1s in the test's Prometheus)
    assert made.json()["runs"][0]["probe_results"][0]["window"]["step"] == 1.0
    # monitoring does not read windows: it says so (Nagios UNKNOWN), it never runs the query
    checked = invoke("check", "one")
    assert checked.code == 3 and "is a Prometheus probe" in checked.stdout + checked.stderr


def test_a_prometheus_check_keeps_its_unit_and_second_reference(
    here: Path, prometheus: PrometheusServer
):
    with (here / "changenote.toml").open("a") as config:
        config.write(
            '\n[checks.lat]\nprom = "vector(0.25)"\nwindow = "3s"\nstep = "1s"\n'
            'vs = "-5s"\nunit = "s"\n'
            '\n[checks.other]\nprom = "vector(1)"\nwindow = "3s"\nvs = "-1d"\n'
        )
    made = invoke("baseline", "Unit", "--check", "lat", "--prometheus", prometheus.url, "--json")
    assert made.code == 0, made.stderr
    metric = made.json()["runs"][0]["metrics"][0]
    assert metric["unit"] == "s" and metric["better"] == "lower"  # a time: lower is better
    shipped = invoke("ship", "1", "--reason", "r", "--json")
    assert shipped.code == 0, shipped.stderr
    doc = shipped.json()
    assert [r["label"] for r in doc["runs"]] == ["baseline", "after -5s", "after"]
    assert doc["comparison"][0]["vs"]["offset"] == 5.0
    # one second reference a change: two that differ are refused, as is --vs against one
    mixed = invoke("baseline", "Mixed", "--check", "lat", "--check", "other",
                   "--prometheus", prometheus.url)  # fmt: skip
    one_line(mixed, "the Prometheus probes ask for different --vs (-5s, -1d)", 2)
    against = invoke("baseline", "Against", "--check", "lat", "--vs", "-1h",
                     "--prometheus", prometheus.url)  # fmt: skip
    one_line(against, "the Prometheus probes ask for different --vs (-5s, -1h)", 2)
    with (here / "changenote.toml").open("a") as config:
        config.write('\n[checks.web]\nhttp = "GET http://127.0.0.1:1/"\nvs = "-7d"\n')
    assert one_line(invoke("list"), "", 2).endswith("'vs' applies to a Prometheus check only")


def test_ship_no_wait_leaves_the_window_pending_and_measure_after_reads_it(
    here: Path, prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHANGENOTE_PROMETHEUS_URL", prometheus.url)
    query = "x=vector(time() % 7)"  # a saw: the windows differ in mean, never constant
    made = invoke("baseline", "Later", "--prom", query, "--window", "5s", "--step", "1s",
                  "--cmd", "true", "--runs", "3", "--vs", "-6s")  # fmt: skip
    assert made.code == 0, made.stderr
    one_line(invoke("measure", "1", "--label", "after"), "--label after reads the pending", 2)

    shipped = invoke("ship", "1", "--reason", "later", "--no-wait", "--json")
    assert shipped.code == 0, shipped.stderr
    assert "waiting for the after window" not in shipped.stderr  # it did not wait for it
    doc = shipped.json()
    result = prom_result(doc)
    assert result["window"]["pending"] is True and result["attempts"] == 0
    assert result["last_status"].startswith("pending: the window ends at ")
    verdicts = {c["metric"]: c for c in doc["comparison"]}
    assert verdicts["x"]["verdict"] == "not-measured"
    assert "is not read yet" in verdicts["x"]["detail"]
    assert verdicts["time_ms"]["verdict"] != "not-measured"  # the command was measured
    # the reference lies in the past: read at ship, compared once the window is read
    assert [r["label"] for r in doc["runs"]] == ["baseline", "after -6s", "after"]
    assert doc["runs"][1]["probe_results"][0]["window"]["points"] >= 5
    assert verdicts["x"]["vs"]["verdict"] == "not-measured"
    pending = [w for w in doc["warnings"] if w["code"] == "after-window-pending"]
    assert len(pending) == 1 and "changenote measure later --label after" in pending[0]["message"]
    note = (here / doc["note_path"]).read_text()
    assert "pending: the window ends at" in note and "measure later --label after" in note
    assert invoke("review", "1", "--status", "reviewed").code == 0

    # Reading it: the after-run is completed in place, judged again, the note rendered.
    read = invoke("measure", "later", "--label", "after", "--json")
    assert read.code == 0, read.stderr
    assert "reading the after-run's 1 pending Prometheus window" in read.stderr
    doc = read.json()
    assert time.time() >= datetime_of(result["window"]["end"]) + 1  # it waited for the window
    assert [r["label"] for r in doc["runs"]] == ["baseline", "after -6s", "after"]
    result = prom_result(doc)
    assert "pending" not in result["window"] and result["window"]["points"] >= 5
    verdicts = {c["metric"]: c for c in doc["comparison"]}
    assert verdicts["x"]["verdict"] != "not-measured" and verdicts["x"]["kind"] == "window"
    assert verdicts["x"]["n_after"] == result["window"]["points"]
    assert verdicts["x"]["vs"]["verdict"] != "not-measured"
    assert not any(w["code"] == "after-window-pending" for w in doc["warnings"])
    assert doc["review"]["status"] == "needs-update"  # what was reviewed has changed
    note = (here / doc["note_path"]).read_text()
    assert "pending: the window ends" not in note and "is not read yet" not in note
    assert "measure later --label after" not in note
    assert [e["kind"] for e in doc["events"]][-2:] == ["measure", "review"]

    one_line(invoke("measure", "1", "--label", "after"), "change 'later' has no pending after")
    one_line(invoke("measure", "1", "--label", "after", "--metric", "x=1"),
             "--metric with --label after", 2)  # fmt: skip
    plain = invoke("baseline", "No prom", "--cmd", "true", "--runs", "2")
    assert plain.code == 0, plain.stderr
    one_line(invoke("ship", "2", "--reason", "r", "--no-wait"), "--no-wait applies to", 2)
    assert json.loads(invoke("show", "2", "--json").stdout)["status"] == "baseline"


def prom_result(doc: dict) -> dict:  # type: ignore[type-arg]
    """The Prometheus probe's result in the latest run."""
    return next(p for p in doc["runs"][-1]["probe_results"] if p["label"] == "prom x")


def datetime_of(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def test_a_quantile_stuck_in_one_bucket_is_a_warning_and_never_not_significant(
    here: Path, prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHANGENOTE_PROMETHEUS_URL", prometheus.url)
    # ten observations, every one in the first bucket (le 0.05): the p95 is 0.0475 throughout
    buckets = " or ".join(
        f'label_replace(vector(10), "le", "{le}", "", "")' for le in ("0.05", "0.1", "+Inf")
    )
    made = invoke("baseline", "Flat", "--prom", f"p95=histogram_quantile(0.95, {buckets})",
                  "--window", "4s", "--step", "1s", "--json")  # fmt: skip
    assert made.code == 0, made.stderr
    flat = [w for w in made.json()["warnings"] if w["code"] == "flat-quantile"]
    assert (
        len(flat) == 1
        and "gave 0.0475 at every point of the baseline window" in (flat[0]["message"])
    )
    shipped = invoke("ship", "1", "--reason", "nothing", "--json")
    assert shipped.code == 0, shipped.stderr
    item = shipped.json()["comparison"][0]
    assert item["before"] == item["after"] == pytest.approx(0.0475)
    assert item["verdict"] == "no-test" and item["p_value"] is None  # not "not-significant"
    assert "a change inside it cannot be seen" in item["detail"]
    codes = [w["code"] for w in shipped.json()["warnings"]]
    assert codes.count("flat-quantile") == 2  # the baseline window and the after window
