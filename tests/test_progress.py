"""Progress of a measurement: in CI (no terminal) a line per probe every few seconds,
never one per run; on a terminal a live line per probe with the time left."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from changenote.cli.progress import INTERVAL_ENV, Lines, time_left
from changenote.measure.probes import Step
from tests.conftest import invoke
from tests.servers import TestServer

LINE = re.compile(
    r"^#(\d) (.+): (\d+)/(\d+) runs(?: \(warm-up \d/\d\))?(?:, ~\d+ (?:s|min) left)?$"
)


def _progress_lines(stderr: str) -> list[re.Match[str]]:
    return [m for m in map(LINE.match, stderr.splitlines()) if m]


def test_ci_gets_a_line_per_probe_every_interval_not_per_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real slow HTTP route and a real slow command, 20 runs each (0.1 s or more a run:
    2 s at least), with lines at most once a second: a few lines, each with its counts."""
    monkeypatch.setenv(INTERVAL_ENV, "1")
    srv = TestServer()
    srv.behaviour.delay = 0.1
    try:
        result = invoke(
            "baseline", "Slow search", "--http", f"GET {srv.url}/search?q=x",
            "--cmd", "sleep 0.1", "--runs", "20", "--warmup", "1",
        )  # fmt: skip
    finally:
        srv.close()

    assert result.code == 0, result.stderr
    lines = _progress_lines(result.stderr)
    assert "runs" not in result.stdout  # stdout stays the result
    by_probe: dict[str, list[int]] = {}
    for m in lines:
        by_probe.setdefault(m[1], []).append(int(m[3]))
        assert m[4] == "20"
    assert by_probe["1"] and by_probe["2"]  # the run took over a second: a line for each
    assert {m[2] for m in lines if m[1] == "1"} == {f"GET {srv.url}/search?q=x"}
    assert {m[2] for m in lines if m[1] == "2"} == {"$ sleep 0.1"}
    for counts in by_probe.values():
        assert counts == sorted(counts)  # counts only go up
        assert len(counts) <= 10  # throttled: not one line per run (21 attempts each)
        assert len(set(counts)) == len(counts)  # each line says something new
    # every line of a round is printed together, one per probe
    assert [m[1] for m in lines] == ["1", "2"] * (len(lines) // 2)


def test_a_short_measurement_prints_no_progress(project: Path) -> None:
    result = invoke("baseline", "Quick", "--cmd", "true", "--runs", "3")

    assert result.code == 0, result.stderr
    assert _progress_lines(result.stderr) == []
    assert "runs" not in result.stderr


def test_a_bad_interval_is_one_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    result = invoke("baseline", "Quick", "--cmd", "true", "--runs", "3")

    assert result.code == 2
    assert result.stderr == (
        f"changenote: error: {INTERVAL_ENV}='soon': give a number of seconds, e.g. 5\n"
    )


def _step(probe: int, measured: int, done: int, label: str = "$ true") -> Step:
    return Step(probe, label, measured, 10, min(1, done), 1, done, 22, 2)


def test_lines_throttle_on_the_clock_and_estimate_from_the_runs() -> None:
    """With a clock that moves 0.5 s per attempt and 2 s between lines: a round of lines
    every fourth attempt, the estimate from the rate since the first attempt."""
    now = [100.0]
    out = io.StringIO()
    lines = Lines(lambda text: text, every=2.0, out=out, clock=lambda: now[0])
    done = 0
    for i in range(11):  # one warm-up, ten runs, two probes taking turns
        for probe in (0, 1):
            done += 1
            now[0] += 0.5
            lines(_step(probe, max(0, i), done, f"$ probe {probe + 1}"))

    printed = out.getvalue().splitlines()
    assert printed[:4] == [
        "#1 $ probe 1: 2/10 runs, ~8 s left",  # attempt 5: 2 s after the first, 17 to go
        "#2 $ probe 2: 1/10 runs, ~8 s left",
        "#1 $ probe 1: 4/10 runs, ~6 s left",
        "#2 $ probe 2: 3/10 runs, ~6 s left",
    ]
    assert len(printed) == 2 * 5  # attempts 5, 9, 13, 17, 21; none at the last (22)


def test_lines_redact_what_they_show() -> None:
    from changenote.redact import redact

    out = io.StringIO()
    tick = iter(range(0, 100, 10))
    lines = Lines(lambda text: redact(text or ""), every=1.0, out=out, clock=lambda: next(tick))
    label = "GET http://127.0.0.1:9/search?api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    lines(_step(0, 0, 1, label))
    lines(_step(0, 1, 2, label))

    assert "sk_live_4eC39HqLyjWDarjtT1zdp7dc" not in out.getvalue()
    assert out.getvalue().startswith("#1 GET http://127.0.0.1:9/search?api_key=")


def test_time_left_in_words() -> None:
    assert [time_left(s) for s in (0.2, 8.4, 59.4, 61, 3000, 3900)] == [
        "~1 s", "~8 s", "~59 s", "~1 min", "~50 min", "~1 h 5 min",
    ]  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_live_line_with_the_time_left(project: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "changenote", "baseline", "Slow", "--cmd", "sleep 0.1",
         "--runs", "12"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    assert proc.wait(timeout=60) == 0
    os.close(primary)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    assert "#1 $ sleep 0.1" in text
    assert re.search(r"\b\d+/12 runs", text)
    assert re.search(r"\d+/12 runs \d+:\d\d:\d\d", text)  # the time left, once it is known
