"""The share of a run's time the CPUs were contended, from Linux's pressure stall counter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from changenote.measure.contention import PRESSURE, Stopwatch, stalled_us
from tests.conftest import invoke

PSI = (
    "some avg10=0.93 avg60=1.83 avg300=3.77 total={}\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
)


def _busy(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _pressure(path: Path, total: int) -> Path:
    path.write_text(PSI.format(total))
    return path


def test_the_some_total_is_read_and_the_full_line_ignored(tmp_path: Path):
    assert stalled_us(_pressure(tmp_path / "cpu", 4167326435)) == 4167326435


@pytest.mark.parametrize(
    "text", ["", "full avg10=0 total=5\n", "some avg10=0.1 total=-3\n", "some total=x\n", "\xff"]
)
def test_an_unreadable_counter_is_unknown_not_zero(tmp_path: Path, text: str):
    (tmp_path / "cpu").write_bytes(text.encode("latin-1"))
    assert stalled_us(tmp_path / "cpu") is None
    assert stalled_us(tmp_path / "missing") is None
    assert Stopwatch(tmp_path / "missing").share() is None


def test_the_share_is_the_stalled_time_over_the_wall_time(tmp_path: Path):
    counter = _pressure(tmp_path / "cpu", 1_000_000)
    watch = Stopwatch(counter)
    time.sleep(0.2)
    _pressure(counter, 1_000_000 + 100_000)  # 0.1 s stalled in about 0.2 s
    share = watch.share()
    assert share is not None and 0.2 < share <= 0.5
    _pressure(counter, 5)  # a counter that went back (a reboot, another file): unknown
    assert watch.share() is None


@pytest.mark.skipif(stalled_us() is None, reason=f"{PRESSURE} is not readable here")
def test_a_run_measured_on_a_contended_machine_says_so(project: Path):
    """The load average, a minute's mean, cannot see busy loops started a second ago."""
    probe = f'{sys.executable} -c "import time; time.sleep(0.05)"'
    made = invoke("baseline", "Busy", "--cmd", probe, "--runs", "12", "--warmup", "0", "--json")
    assert made.code == 0, made.stderr
    quiet = made.json()["runs"][0]["environment"]["cpu_contention"]
    # one runnable loop more than there are CPUs: some task waits all the time (kept short:
    # the other test worker shares these CPUs)
    loops = _busy((os.cpu_count() or 1) + 1)
    try:
        time.sleep(0.5)
        measured = invoke("measure", "--json")
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert measured.code == 0, measured.stderr
    doc = measured.json()
    busy = doc["runs"][-1]["environment"]["cpu_contention"]
    assert busy >= 0.5 and busy - quiet >= 0.1, (quiet, busy)
    warning = next(w for w in doc["warnings"] if w["code"] == "environment-changed")
    assert f"contended {quiet:.0%} → {busy:.0%} of the probes' time" in warning["message"]
    assert warning["severity"] == "caution"


def test_a_run_that_measured_nothing_here_has_no_contention(project: Path):
    made = invoke("baseline", "Figures", "--metric", "x=1", "--json")
    assert made.code == 0, made.stderr
    assert made.json()["runs"][0]["environment"]["cpu_contention"] is None
