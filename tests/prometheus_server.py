"""A real Prometheus server for the tests: its own port, config and storage, targets added live.

Debian's ``/usr/bin/prometheus`` (or ``CHANGENOTE_TEST_PROMETHEUS``) on 127.0.0.1 scrapes
every second the targets a test adds through ``file_sd_configs`` (one JSON file per
target, re-read every second). Every wait is bounded; nothing here measures time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port, stop_process

BINARY_ENV = "CHANGENOTE_TEST_PROMETHEUS"

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: tests  # each target's file names its own job
    file_sd_configs:
      - files: ["{targets}/*.json"]
        refresh_interval: 1s
"""


def binary() -> str | None:
    """The prometheus program to run, or None when there is none."""
    named = os.environ.get(BINARY_ENV)
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )


class PrometheusError(AssertionError):
    """Prometheus did not start, answered an error, or a wait ran out."""


class PrometheusServer:
    """One Prometheus process; ``start()``, then ``add_target``, ``query``, ``wait_for``."""

    def __init__(self, program: str, workdir: Path) -> None:
        self.program = program
        self.workdir = workdir
        self.targets = workdir / "targets"
        self.storage = workdir / "data"
        self.log = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        #: Seconds from launch to ``/-/ready`` answering 200 (for the record, never asserted).
        self.startup_seconds = 0.0
        self._http = httpx.Client(timeout=10)

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        try:
            return self._start(timeout)
        except BaseException:  # an interrupt while it starts leaves no process either
            self.stop()
            raise

    def _start(self, timeout: float) -> PrometheusServer:
        self.targets.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(CONFIG.format(targets=self.targets))
        for _attempt in range(3):  # the free port may be taken before Prometheus binds it
            port = free_port()
            began = time.monotonic()
            with self.log.open("wb") as log:
                self.proc = subprocess.Popen(
                    [self.program, f"--config.file={config}",
                     f"--storage.tsdb.path={self.storage}",
                     f"--web.listen-address=127.0.0.1:{port}",
                     "--storage.tsdb.retention.time=1d", "--log.level=warn"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            self.url = f"http://127.0.0.1:{port}"
            if self._ready(began + timeout):
                self.startup_seconds = time.monotonic() - began
                return self
            if "address already in use" not in self.log.read_text(errors="replace"):
                break
            self.stop(close=False)
        raise PrometheusError(f"prometheus did not start:\n{self.log.read_text(errors='replace')}")

    def _ready(self, deadline: float) -> bool:
        assert self.proc is not None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if self._http.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, close: bool = True) -> None:
        """Terminate, wait, kill if it must: no process is left behind."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)
        if close:
            self._http.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- targets --------------------------------------------------------------------

    def _target_file(self, address: str) -> Path:
        return self.targets / (address.replace(":", "_").replace("/", "_") + ".json")

    def add_target(self, address: str, job: str = "svc", **labels: str) -> None:
        """Scrape ``address`` (``host:port``, path ``/metrics``) as ``job`` from now on.

        Prometheus 2.x hands new targets to its scrapers on a 5-second tick, so the
        first scrape comes some seconds later: wait for ``up{job="..."} == 1``.
        """
        group = [{"targets": [address], "labels": {"job": job, **labels}}]
        path = self._target_file(address)
        partial = path.with_suffix(".tmp")  # renamed into place: never read half written
        partial.write_text(json.dumps(group))
        partial.replace(path)

    def remove_target(self, address: str) -> None:
        self._target_file(address).unlink(missing_ok=True)

    # -- queries --------------------------------------------------------------------

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector ``promql`` gives now (or at the Unix time ``at``)."""
        params: dict[str, str] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = self._http.get(f"{self.url}/api/v1/query", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{promql}: {body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def value(self, promql: str, at: float | None = None) -> float | None:
        """The one number ``promql`` gives (None for an empty result)."""
        result = self.query(promql, at)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{promql}: {len(result)} series, expected one: {result}")
        return float(result[0]["value"][1])

    def wait_for(self, promql: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll until ``promql`` returns data (a filter such as ``x == 3`` or ``up == 1``)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"no data for {promql} after {timeout:g} s; targets: {self.target_health()}"
                )
            time.sleep(0.1)

    def target_health(self) -> list[dict[str, Any]]:
        """What Prometheus says of each active target (for error messages)."""
        body = self._http.get(f"{self.url}/api/v1/targets").json()
        return [
            {k: t.get(k) for k in ("scrapeUrl", "health", "lastError")}
            for t in body["data"]["activeTargets"]
        ]
