"""``watch`` follows a change's Prometheus queries, against a real Prometheus.

The example service is scraped every second and searched by two clients every 20 ms. A
change is baselined on its normal /search and on a second target's ``up``, shipped, the
route made slower and the second target removed; a watch then shows the latest mean in
its progress line, judges the watched stretch against the baseline window (``regressed``)
and records the removed target as no data, never a verdict. Credentials in the server URL
and header go nowhere. The rest (bad input, a stretch too short, a Prometheus check named with
``--check``, Ctrl-C) reads ``vector(...)`` queries, which need no target.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.prometheus_server import PrometheusServer
from tests.servers import example_service, free_port
from tests.test_prometheus_probe import FAST, SLOW, mean, one_line, switch, wait_until

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

SECRET_PASSWORD = "pw-Wq93-watch-never-stored"
SECRET_TOKEN = "tok-Lm52p-watch-never-stored"
#: The baseline window and its step: a point every 1.5 s, not every 1 s (the scrape
#: interval), for test_prometheus_probe.STEP's reason: at the scrape interval, late
#: scrapes on a loaded machine make twin points that look like autocorrelation (a CI run
#: saw the baseline's 21 points at lag-1 r 0.89, 2.0 effective: an honest no-test).
WINDOW = "30s"
STEP = "1500ms"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, prometheus: PrometheusServer):
    """The example service, scraped, searched every 20 ms; and when it was first up."""
    import httpx

    with example_service(tmp_path_factory.mktemp("watched")) as url:
        address = url.removeprefix("http://")
        job = f"watch-{address.rsplit(':', 1)[1]}"
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                while not stop.is_set():
                    with contextlib.suppress(httpx.HTTPError):
                        client.get("/search", params={"q": "index"})
                    stop.wait(0.02)

        # two clients: one stalled a second on a loaded CI machine, and irate over 3 s of
        # 1 s scrapes is NaN (no request between the last two scrapes)
        threads = [threading.Thread(target=traffic, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        prometheus.add_target(address, job=job)
        try:
            prometheus.wait_for(f'up{{job="{job}"}} == 1', timeout=30)
            yield url, job, time.time()
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


def followed(doc: dict, probe: str) -> dict:  # type: ignore[type-arg]
    return next(q for q in doc["watch"]["prometheus"] if q["probe"] == probe)


def gone(prometheus: PrometheusServer, promql: str, timeout: float = 20.0) -> None:
    """Wait until ``promql`` returns nothing (a removed target's series marked stale)."""
    deadline = time.monotonic() + timeout
    while prometheus.query(promql):
        assert time.monotonic() < deadline, f"{promql} still has data after {timeout:g} s"
        time.sleep(0.2)


def test_a_watch_follows_the_query_and_a_slower_route_regresses(
    here: Path, service: tuple[str, str, float], prometheus: PrometheusServer
):
    url, job, up_since = service
    with_credentials = prometheus.url.replace("http://", f"http://reader:{SECRET_PASSWORD}@")
    header = f"Authorization: Bearer {SECRET_TOKEN}"
    # A second target that goes away before the watch: its stretch has no data.
    self_address = prometheus.url.removeprefix("http://")
    self_job = f"self-{job}"
    prometheus.add_target(self_address, job=self_job)
    prometheus.wait_for(f'up{{job="{self_job}"}} == 1', timeout=30)
    started = time.time()
    switch(url, FAST)  # a dependency that varies (test_prometheus_probe.FAST says why)
    wait_until(max(up_since, started) + 34)  # a whole baseline window scraped, all FAST

    base = invoke("baseline", "Search time", "--prom", mean(job), "--window", WINDOW,
                  "--step", STEP, "--prometheus", with_credentials, "--prom-header", header,
                  "--prom", f'up=up{{job="{self_job}"}}')  # fmt: skip
    assert base.code == 0, base.stderr
    shipped = invoke("ship", "1", "--reason", "slower on purpose", "--no-wait",
                     "--prometheus", with_credentials, "--header", header)  # fmt: skip
    assert shipped.code == 0, shipped.stderr

    # The header and the URL's password were not stored: the watch cannot ask without them.
    said = one_line(invoke("watch", "1", "--duration", "2s"), "header Authorization of prom mean")
    assert said.endswith("or watch without the change's queries: --no-prom")
    one_line(invoke("watch", "1", "--duration", "2s", "--header", header),
             "the Prometheus URL of prom mean held a secret that was not stored")  # fmt: skip
    assert json.loads(invoke("show", "1", "--json").stdout)["watches"] == []

    prometheus.remove_target(self_address)
    gone(prometheus, f'up{{job="{self_job}"}}')
    switch(url, SLOW)
    # 24 s (16 points): a loaded machine's scrapes of a varying route left 12 s with fewer
    # than 3 effective points once on CI (an honest no-test)
    watched = invoke("watch", "1", "--duration", "24s", "--every", "1s", "--prometheus",
                     with_credentials, "--header", header, "--json")  # fmt: skip
    assert watched.code == 0, watched.stderr
    assert "watching 2 Prometheus queries for 24 s" in watched.stderr
    # The progress line shows the latest mean: the slowed route's 80 ms, in seconds.
    shown = re.search(r"watching \d+/24 s: mean ([0-9.e-]+), up no data", watched.stderr)
    assert shown is not None, watched.stderr
    assert float(shown.group(1)) > 0.03

    doc = watched.json()
    slow = followed(doc, "prom mean")
    assert slow["verdict"] == "regressed", slow["comparison"]["detail"]
    assert slow["comparison"]["kind"] == "window" and slow["comparison"]["n_eff_after"] > 0
    assert slow["window"]["step"] == 1.5 and slow["window"]["points"] >= 11
    assert slow["comparison"]["n_after"] == slow["window"]["points"]
    assert slow["mean"] > 0.03 and slow["comparison"]["before"] < slow["mean"] / 2
    assert slow["reads"] >= 11 and slow["failed_reads"] == 0
    removed = followed(doc, "prom up")
    assert removed["verdict"] == "not-measured" and removed["comparison"] is None
    assert removed["status"] == "no data: the query returned no series"
    assert removed["window"]["points"] == 0 and removed["mean"] is None

    # Kept on the change, ticked with the figures, shown in the note.
    assert doc["watches"][-1]["prometheus"] == doc["watch"]["prometheus"]
    evidence = next(i for i in doc["checklist"] if i["key"] == "watch")["evidence"]
    assert "prom mean: mean " in evidence and ": regressed)" in evidence
    assert "prom up: no data (the query returned no series)" in evidence
    note = (here / doc["note_path"]).read_text()
    section = note.split("## Watch after release", 1)[1].split("\n## ", 1)[0]
    assert "counting lines matching" not in section  # no log was watched
    assert "Prometheus `prom mean`" in section and "**regressed**" in section
    assert "`prom up`" in section and "no data: the query returned no series; no verdict" in section

    plain = invoke("watch", "1", "--duration", "6s", "--every", "1s", "--prometheus",
                   with_credentials, "--header", header)  # fmt: skip
    assert plain.code == 0, plain.stderr
    assert "prom mean: mean " in plain.stdout and "prom up: no data" in plain.stdout

    # Nothing of the credentials anywhere: output, store, notes, export.
    everything = invoke("export").stdout + watched.stdout + watched.stderr
    everything += plain.stdout + plain.stderr
    everything += "".join(p.read_text() for p in (here / "notes").glob("*.md"))
    store = (here / ".changenote" / "changenote.db").read_bytes()
    for secret in (SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in everything
        assert secret.encode() not in store


def test_bad_input_short_stretches_and_prometheus_checks(
    here: Path, prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHANGENOTE_PROMETHEUS_URL", prometheus.url)
    with (here / "changenote.toml").open("a") as config:
        config.write('\n[checks.saw]\nprom = "vector(time() % 5)"\nstep = "1s"\n')
    made = invoke("baseline", "Saw", "--prom", "x=vector(time() % 7)", "--window", "5s",
                  "--step", "1s")  # fmt: skip
    assert made.code == 0, made.stderr
    assert invoke("ship", "1", "--reason", "r", "--no-wait").code == 0
    assert invoke("baseline", "Figures only", "--metric", "p95_ms=12ms").code == 0
    assert invoke("ship", "2", "--reason", "r", "--metric", "p95_ms=8ms").code == 0

    # Bad input: one line, nothing recorded.
    port = free_port()
    down = invoke("watch", "1", "--duration", "2s", "--prometheus", f"http://127.0.0.1:{port}")
    said = one_line(down, f"cannot reach Prometheus at http://127.0.0.1:{port}: connection refused")
    assert said.endswith("or watch without the change's queries: --no-prom")
    said = one_line(invoke("watch", "1", "--duration", "2s", "--prometheus",
                           prometheus.url + "/elsewhere"), "Prometheus at ")  # fmt: skip
    assert "answered HTTP 404" in said
    one_line(invoke("watch", "1", "--no-prom"), "nothing to watch: give --log PATH", 2)
    (here / "app.log").write_text("")
    one_line(invoke("watch", "2", "--log", "app.log", "--prometheus", prometheus.url),
             "--prometheus applies to Prometheus queries; this watch follows none", 2)  # fmt: skip
    monkeypatch.delenv("CHANGENOTE_PROMETHEUS_URL")
    one_line(invoke("watch", "2", "--check", "saw"), "--check saw reads Prometheus: give", 2)
    monkeypatch.setenv("CHANGENOTE_PROMETHEUS_URL", prometheus.url)
    for ref in ("1", "2"):
        assert json.loads(invoke("show", ref, "--json").stdout)["watches"] == []

    # A stretch of fewer than 3 points is no data: with nothing else seen, not ticked.
    short = invoke("watch", "1", "--duration", "0.5s", "--every", "0.2s")
    assert short.code == 1
    assert "prom x: no data (the watch lasted " in short.stderr
    assert "point(s) at a step of 1s: fewer than 3" in short.stderr
    (kept,) = json.loads(invoke("show", "1", "--json").stdout)["watches"]
    assert kept["ticked"] is False and kept["prometheus"][0]["verdict"] == "not-measured"

    # A Prometheus check named with --check is read too; the baseline had no window of
    # it: figures, no verdict.
    checked = invoke("watch", "2", "--check", "saw", "--duration", "4s", "--every", "1s",
                     "--json")  # fmt: skip
    assert checked.code == 0, checked.stderr
    (saw,) = checked.json()["watch"]["prometheus"]
    assert saw["probe"] == "check saw: prom vector(time() % 5)" and saw["check"] == "saw"
    assert saw["window"]["points"] >= 4 and saw["verdict"] is None and saw["comparison"] is None
    assert "nothing to compare with" in saw["status"]
    assert checked.json()["watch"]["ticked"] is True
    # `check` still does not read Prometheus: it says so (Nagios UNKNOWN).
    assert invoke("check", "saw").code == 3


def test_ctrl_c_keeps_the_stretch_watched_so_far(here: Path, prometheus: PrometheusServer):
    import os
    import signal
    import subprocess
    import sys

    made = invoke("baseline", "Saw", "--prom", "x=vector(time() % 7)", "--window", "5s",
                  "--step", "1s", "--prometheus", prometheus.url)  # fmt: skip
    assert made.code == 0, made.stderr
    assert (
        invoke("ship", "1", "--reason", "r", "--no-wait", "--prometheus", prometheus.url).code == 0
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "changenote", "watch", "--duration", "10m", "--every", "1s",
         "--prometheus", prometheus.url],
        cwd=here, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        # The announcement comes once the server was reached; then watch a few seconds.
        assert "watching 1 Prometheus query" in proc.stderr.readline()
        time.sleep(4.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped early" in out and "prom x: mean " in out
    (kept,) = json.loads(invoke("show", "1", "--json").stdout)["watches"]
    assert kept["interrupted"] is True and kept["seconds"] < 60
    assert kept["prometheus"][0]["window"]["points"] >= 3
    assert kept["prometheus"][0]["verdict"] not in (None, "not-measured")
