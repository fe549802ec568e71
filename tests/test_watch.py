"""Watching after a release: real log files appended, rotated and truncated meanwhile."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.servers import TestServer

pytestmark = pytest.mark.usefixtures("store_backend")


def _shipped(project: Path, server: TestServer | None = None) -> None:
    extra = ["--check", "health"] if server else ["--metric", "p95_ms=12ms"]
    if server:
        (project / "changenote.toml").write_text(
            f'runs = 8\n[checks.health]\nhttp = "GET {server.url}/health"\n'
        )
    assert invoke("baseline", "Slow search", *extra).code == 0
    more = [] if server else ["--metric", "p95_ms=8ms"]
    shipped = invoke("ship", "--reason", "add an index", *more)
    assert shipped.code == 0, shipped.stderr


def _later(delay: float, action) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _has_open(pid: int | str, target: str) -> bool:
    """Whether process ``pid`` (``self``: this one) has the file ``target`` open."""
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return True
    return False


def _once_open(path: Path, action) -> threading.Thread:  # type: ignore[no-untyped-def]
    """Run ``action`` once this process (the in-process watch) has ``path`` open: lines
    written before the watch opened the log are, rightly, not its to count."""
    target = os.path.realpath(path)

    def run() -> None:
        deadline = time.monotonic() + 30
        while not _has_open("self", target) and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_follows_appends_rotation_and_truncation(project: Path, monkeypatch):
    from changenote.monitor import watch as watching

    _shipped(project)
    log = project / "app.log"
    log.write_text("ERROR before the watch: not counted\n")
    rotated = project / "app.log.1"
    polls = [0]
    real_poll = watching.LogFollower.poll

    def counted_poll(self) -> None:
        real_poll(self)
        polls[0] += 1

    monkeypatch.setattr(watching.LogFollower, "poll", counted_poll)

    def read_so_far() -> None:
        """Wait until the watch has polled twice since: what was written is read."""
        target = polls[0] + 2
        deadline = time.monotonic() + 10
        while polls[0] < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def write_events() -> None:
        read_so_far()
        with log.open("a") as fh:
            fh.write("INFO fine\nERROR one\nTraceback (most recent call last):\n")
        read_so_far()
        with log.open("a") as fh:
            fh.write("ERROR two, just before rotation\n")
        log.rename(rotated)  # logrotate: rename, then a new file
        read_so_far()
        log.write_text("CRITICAL three, in the new file\nINFO fine\n")
        read_so_far()
        log.write_text("")  # copytruncate: emptied in place
        read_so_far()
        with log.open("a") as fh:
            fh.write("ERROR four, after truncation\nERROR five, no newline")

    writer = _later(0.0, write_events)
    result = invoke("watch", "--log", "app.log", "--duration", "4s", "--json")
    writer.join()
    assert result.code == 0, result.stderr
    doc = result.json()
    seen = doc["watch"]["logs"][0]
    assert seen["matches"] == 6, seen  # one, Traceback, two, three, four, five
    assert seen["rotations"] == 1 and seen["truncations"] == 1
    assert seen["lines"] == 8
    watch_item = next(i for i in doc["checklist"] if i["key"] == "watch")
    assert watch_item["done"] and "app.log: 6 line(s) matching" in watch_item["evidence"]
    note = (project / doc["note_path"]).read_text()
    assert "## Watch after release" in note and "6 of 8 new line(s)" in note


def test_since_compares_with_the_log_before_the_release(project: Path):
    _shipped(project)
    log = project / "app.log"
    now = datetime.now()
    old = [(now - timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S") for m in (50, 20, 10, 5)]
    log.write_text(
        f"{old[0]} ERROR too old for the window\n"
        f"{old[1]} ERROR in the window\n{old[2]} INFO fine\n{old[3]} INFO fine\n"
    )
    writer = _once_open(log, lambda: log.open("a").write("ERROR\n" * 20))
    result = invoke("watch", "--log", str(log), "--duration", "2s", "--since", "30m", "--json")
    writer.join()
    assert result.code == 0, result.stderr
    seen = result.json()["watch"]["logs"][0]
    assert seen["reference"]["matches"] == 1 and seen["reference"]["lines"] == 3
    assert seen["matches"] == 20 and seen["verdict"] == "more", seen


def test_checks_run_every_interval_and_compare_with_the_baseline(project: Path, server: TestServer):
    _shipped(project, server)
    server.behaviour.statuses = [200, 503]  # half the answers fail after the release
    result = invoke("watch", "--check", "health", "--every", "0.25s", "--duration", "2s", "--json")
    assert result.code == 0, result.stderr
    (check,) = result.json()["watch"]["checks"]
    assert check["runs"] >= 6 and check["errors"] >= 3
    assert check["baseline_error_rate"] == 0 and check["verdict"] == "regressed"


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A service writing a line to ``path`` every 50 ms until the block ends (not for a
    fixed time: a loaded machine's start-up can outlast any)."""
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with path.open("a") as fh:
                fh.write("INFO request served\n")
            stop.wait(0.05)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_second_watch_adds_to_the_evidence(project: Path):
    _shipped(project)
    log = project / "a.log"
    log.write_text("")
    with _writing(log):
        assert invoke("watch", "--log", "a.log", "--duration", "0.5s").code == 0
        second = invoke("watch", "--log", "a.log", "--duration", "0.5s", "--json")
    doc = second.json()
    assert len(doc["watches"]) == 2
    evidence = next(i for i in doc["checklist"] if i["key"] == "watch")["evidence"]
    assert evidence.count("watched") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to watch"),
        (["--log", "x.log", "--duration", "soon"], "--duration 'soon'"),
        (["--log", "x.log", "--pattern", "(unclosed"], "--pattern '(unclosed' is not a valid"),
        (["--log", "x.log", "--since", "tomorrowish"], "--since 'tomorrowish'"),
        (["--log", "nowhere/x.log"], "no such file"),
        (["--log", "missing.log", "--duration", "1s"], "--log missing.log: no such file"),
        (["--check", "helth"], "unknown check 'helth'"),
    ],
)
def test_bad_input_is_one_line(project: Path, args: list[str], message: str):
    _shipped(project)
    result = invoke("watch", *args)
    assert result.code != 0 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_since_needs_timestamps(project: Path):
    _shipped(project)
    (project / "plain.log").write_text("ERROR no time here\n")
    result = invoke("watch", "--log", "plain.log", "--since", "10m", "--duration", "1s")
    assert result.code != 0 and "carries a time" in result.stderr


def test_without_a_shipped_change(project: Path):
    empty = invoke("watch", "--log", "x.log").stderr  # an SQLite file not made yet, or a server
    assert "the notebook is empty" in empty or "no shipped change to watch" in empty
    assert invoke("baseline", "Open", "--metric", "p95_ms=3ms").code == 0
    result = invoke("watch", "--log", "x.log")
    assert result.code != 0 and "no shipped change to watch" in result.stderr
    shown = json.loads(invoke("show", "1", "--json").stdout)
    assert shown["watches"] == []


def test_ctrl_c_ends_the_watch_early_and_keeps_what_it_saw(project: Path):
    import os
    import signal
    import subprocess
    import sys

    _shipped(project)
    log = project / "app.log"
    log.write_text("")
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "changenote", "watch", "--log", "app.log", "--duration", "10m"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    # The service logs an error every 0.2 s, from before the watch starts until Ctrl-C,
    # which comes 1 s after the watch has the log open (however long a loaded machine
    # takes to start it).
    target, opened_at = os.path.realpath(log), None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (opened_at is None or time.monotonic() < opened_at + 1):
        with log.open("a") as fh:
            fh.write("ERROR seen before Ctrl-C\n")
        if opened_at is None and _has_open(proc.pid, target):
            opened_at = time.monotonic()
        time.sleep(0.2)
    assert opened_at is not None, "the watch never opened the log"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped early" in out and "line(s) matching" in out
    doc = json.loads(invoke("show", "1", "--json").stdout)
    (kept,) = doc["watches"]
    assert kept["interrupted"] is True and kept["logs"][0]["matches"] >= 1
    assert kept["seconds"] < 60


def test_a_log_only_watch_sleeps_between_polls(project: Path):
    _shipped(project)
    (project / "quiet.log").write_text("")
    started = time.process_time()
    result = invoke("watch", "--log", "quiet.log", "--duration", "3s")
    # polling, not spinning: a busy loop burns about the whole 3 s of CPU; the watch's
    # own start (the store, PostgreSQL's too) took 0.6 s of CPU on a loaded machine
    assert time.process_time() - started < 1.5
    # A log nobody wrote to is no all-clear: said, kept, not ticked, exit 1.
    assert result.code == 1 and "no new lines: is the service writing here?" in result.stderr
    doc = json.loads(invoke("show", "1", "--json").stdout)
    assert len(doc["watches"]) == 1 and doc["watches"][0]["ticked"] is False
    assert not next(i for i in doc["checklist"] if i["key"] == "watch")["done"]


def test_a_rotated_log_counts_its_rate_over_the_time_it_covers(project: Path):
    """A file that starts 5 minutes ago covers 5 of the 30 minutes asked for."""
    _shipped(project)
    log = project / "app.log"
    now = datetime.now()
    stamps = [(now - timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S") for m in (5, 4, 3)]
    log.write_text("".join(f"{t} ERROR x\n" for t in stamps))
    with _writing(log):
        result = invoke(
            "watch", "--log", "app.log", "--since", "30m", "--duration", "0.5s", "--json"
        )
    assert result.code == 0, result.stderr
    reference = result.json()["watch"]["logs"][0]["reference"]
    assert reference["matches"] == 3 and 4.5 < reference["minutes"] < 5.5, reference
