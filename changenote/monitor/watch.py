"""Watching a service after a release: log lines that match, and checks, for a while.

``changenote watch`` follows log files from their end (surviving rotation, where the
file is renamed and a new one created, and truncation, where it is emptied in place),
counts the lines that match a pattern per minute, and runs configured checks (and reads
Prometheus queries, :mod:`changenote.monitor.prom_watch`) every so often. What it saw is
compared with a reference: the same log before the release (``--since``), and each
check's error rate in the change's baseline run. The result is kept on the change, ticks
"watch logs after release" with the figures, and updates the note. Ctrl-C ends a watch
early and keeps what was measured.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from changenote.errors import UsageError
from changenote.monitor import prom_watch

DEFAULT_PATTERN = r"ERROR|CRITICAL|Traceback"
#: A timestamp at the start of a log line (after an optional bracket): 2026-11-28 10:00:00,
#: 2026-11-28T10:00:00.123+01:00 ...
_STAMP = re.compile(
    rb"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?"
)
_CHUNK = 1 << 20


def compile_pattern(text: str) -> re.Pattern[bytes]:
    try:
        return re.compile(text.encode())
    except re.error as exc:
        raise UsageError(f"--pattern {text!r} is not a valid regular expression: {exc}") from None


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration before now (``30m``) or a local or ISO time; naive local."""
    from changenote.specs import parse_duration

    too_far = UsageError(f"--since {text!r} is too far back")
    try:
        return now - timedelta(seconds=parse_duration(text, "--since"))
    except UsageError:
        pass
    except OverflowError:  # before the year 1
        raise too_far from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a duration (30m, 2h) or a time (2026-11-28T10:00)"
        ) from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone().replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 here
            raise too_far from None
    if moment >= now:
        raise UsageError(f"--since {text!r} is not before now")
    return moment


def line_time(line: bytes) -> datetime | None:
    """The local time a log line starts with, if it starts with one."""
    match = _STAMP.match(line)
    if not match:
        return None
    try:
        moment = datetime.fromisoformat(match.group(1).decode().replace(" ", "T"))
        if match.group(2):
            zone = match.group(2).decode()
            aware = datetime.fromisoformat(
                moment.isoformat() + ("+00:00" if zone == "Z" else zone[:3] + ":" + zone[-2:])
            )
            moment = aware.astimezone().replace(tzinfo=None)
    except (ValueError, OverflowError):  # no such day or offset (+99:99); out of range here
        return None
    return moment


@dataclass
class LogFollower:
    """One log file followed from its end, through rotation and truncation."""

    path: Path
    pattern: re.Pattern[bytes]
    lines: int = 0
    matches: int = 0
    rotations: int = 0
    truncations: int = 0
    #: Matching lines per minute of the watch (index 0 is its first minute).
    by_minute: list[int] = field(default_factory=list)
    #: Where the file ended when the watch began (the reference window lies before it).
    start_offset: int = 0
    _fh: IO[bytes] | None = None
    _identity: tuple[int, int] | None = None
    _partial: bytes = b""
    _began: float = field(default_factory=time.monotonic)

    def open(self) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            # A watch of a file that is not there would be an all-clear from nothing.
            raise UsageError(
                f"--log {self.path}: no such file; is the service logging elsewhere?"
            ) from None
        except OSError as exc:
            raise UsageError(f"--log {self.path}: {exc.strerror}") from None
        stat = os.fstat(fh.fileno())
        self._fh, self._identity = fh, (stat.st_dev, stat.st_ino)
        self.start_offset = fh.seek(0, os.SEEK_END)

    def poll(self) -> None:
        """Read what was written since the last poll, following a rotation or truncation."""
        self._drain()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away and not recreated yet: keep the old handle
        if self._fh is None or (stat.st_dev, stat.st_ino) != self._identity:
            if self._fh is not None:
                self._fh.close()
                self.rotations += 1
            if self._partial:  # the old file's last line, never ended by a newline
                self._count(self._partial)
            try:
                self._fh = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                self._fh = None
                return
            self._identity = (stat.st_dev, stat.st_ino)
            self._partial = b""
            self._drain()
        elif stat.st_size < self._fh.tell():
            self.truncations += 1
            self._fh.seek(0)
            if self._partial:
                self._count(self._partial)
            self._partial = b""
            self._drain()

    def _drain(self) -> None:
        if self._fh is None:
            return
        while True:
            data = self._fh.read(_CHUNK)
            if not data:
                return
            *complete, self._partial = (self._partial + data).split(b"\n")
            for line in complete:
                self._count(line)

    def _count(self, line: bytes) -> None:
        self.lines += 1
        if self.pattern.search(line):
            self.matches += 1
            minute = int((time.monotonic() - self._began) // 60)
            while len(self.by_minute) <= minute:
                self.by_minute.append(0)
            self.by_minute[minute] += 1

    def close(self) -> None:
        if self._partial:  # a last line without its newline
            self._count(self._partial)
            self._partial = b""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def reference(self, since: datetime, until: datetime) -> dict[str, Any]:
        """Matching lines of this file between ``since`` and the start of the watch."""
        lines = matches = stamped = 0
        #: The file's first time: later than ``since`` when it was rotated meanwhile.
        first: datetime | None = None
        try:
            with open(self.path, "rb") as fh:
                seen = 0
                current: datetime | None = None
                for line in fh:
                    seen += len(line)
                    if seen > self.start_offset:
                        break
                    current = line_time(line) or current  # continuation lines inherit
                    first = first or current
                    if current is None or current < since or current > until:
                        continue
                    stamped += 1
                    lines += 1
                    matches += bool(self.pattern.search(line))
        except FileNotFoundError:
            pass
        if stamped == 0:
            raise UsageError(
                f"--since: no line of {self.path} before the watch carries a time from "
                f"{since:%Y-%m-%d %H:%M:%S} on (lines must start with one, e.g. "
                "2026-11-28 10:00:00)"
            )
        # A file that begins inside the window (rotated meanwhile) covers only part of it:
        # its rate is over the part it covers, not the whole window.
        begins = first if first is not None and first > since else since
        minutes = max((until - begins).total_seconds() / 60, 1 / 60)
        return {
            "since": since.isoformat(timespec="seconds"),
            "lines": lines,
            "matches": matches,
            "minutes": round(minutes, 2),
            "per_minute": round(matches / minutes, 3),
        }


def rate_verdict(before: int, before_minutes: float, after: int, after_minutes: float) -> dict:
    """More matching lines per minute than before? The exact conditional test (C-test).

    Given all ``before + after`` matching lines, under equal rates the count after is
    binomial with p = after_minutes / (before_minutes + after_minutes); an exact binomial
    test of that. (Scipy's E-test misjudges windows as unequal as 30 minutes against
    2 seconds.)
    """
    from scipy.stats import binomtest

    total = before + after
    if total == 0:
        return {"verdict": "not-significant", "p_value": 1.0}
    share = after_minutes / (before_minutes + after_minutes)
    p = float(binomtest(after, total, share).pvalue)
    rate_before, rate_after = before / before_minutes, after / after_minutes
    if p < 0.05 and rate_after != rate_before:
        verdict = "more" if rate_after > rate_before else "fewer"
    else:
        verdict = "not-significant"
    return {"verdict": verdict, "p_value": round(p, 4)}


@dataclass
class CheckTally:
    """A configured check run again and again during the watch."""

    name: str
    runs: int = 0
    errors: int = 0
    times: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


def watch(
    logs: list[Path],
    pattern_text: str,
    duration: float,
    checks: list[Any],
    every: float,
    since: datetime | None,
    poll: float = 0.1,
    progress: Callable[[float, str], None] | None = None,
    run_check: Callable[[Any], Any] | None = None,
    queries: Sequence[prom_watch.Query] = (),
) -> dict[str, Any]:
    """Watch for ``duration`` seconds (or until Ctrl-C); what was seen, as a dict.

    ``queries`` (Prometheus, opened) are read every ``every`` beside the checks, and
    told when the watch began and ended; the caller reads their watched stretch."""
    pattern = compile_pattern(pattern_text)
    started_wall = datetime.now().astimezone()
    start_local = started_wall.replace(tzinfo=None)
    followers = [LogFollower(path, pattern) for path in logs]
    for follower in followers:
        follower.open()
    references = [f.reference(since, start_local) for f in followers] if since is not None else []
    tallies = [CheckTally(c.name) for c in checks]
    began = time.monotonic()
    for query in queries:
        query.begin()
    deadline = began + duration
    periodic = bool(tallies and run_check is not None) or bool(queries)
    # without checks or queries there is nothing to wake up for but the next poll
    next_check = began if periodic else math.inf
    interrupted = False
    try:
        while True:
            now = time.monotonic()
            for follower in followers:
                follower.poll()
            if periodic and now >= next_check:
                for check, tally in zip(checks, tallies, strict=True):
                    if run_check is None:
                        break
                    attempt = run_check(check)
                    tally.runs += 1
                    tally.errors += 0 if attempt.ok else 1
                    tally.statuses[attempt.status] = tally.statuses.get(attempt.status, 0) + 1
                    if attempt.time_ms is not None:
                        tally.times.append(attempt.time_ms)
                for query in queries:
                    query.poll()
                next_check += every
            if progress is not None:
                seen = ", ".join(f"{f.path.name} {f.matches}" for f in followers)
                checked = ", ".join(f"{t.name} {t.errors}/{t.runs}" for t in tallies)
                read = ", ".join(q.shown() for q in queries)
                progress(now - began, "; ".join(x for x in (seen, checked, read) if x))
            if now >= deadline:
                break
            time.sleep(max(0.0, min(poll, deadline - time.monotonic(), next_check - now)))
    except KeyboardInterrupt:
        interrupted = True
    for query in queries:
        query.end()
    for follower in followers:
        follower.poll()
        follower.close()
    seconds = time.monotonic() - began
    minutes = max(seconds / 60, 1 / 60)
    result_logs = []
    for i, f in enumerate(followers):
        entry: dict[str, Any] = {
            "path": str(f.path),
            # rotated away and never recreated: the watch stopped seeing this log
            "missing": not f.path.exists(),
            "lines": f.lines,
            "matches": f.matches,
            "per_minute": round(f.matches / minutes, 3),
            "by_minute": f.by_minute,
            "rotations": f.rotations,
            "truncations": f.truncations,
            "reference": references[i] if references else None,
        }
        if references:
            ref = references[i]
            entry.update(rate_verdict(ref["matches"], ref["minutes"], f.matches, minutes))
        result_logs.append(entry)
    return {
        "started_at": started_wall.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "interrupted": interrupted,
        "pattern": pattern_text,
        "logs": result_logs,
        "checks": [
            {
                "name": t.name,
                "runs": t.runs,
                "errors": t.errors,
                "median_ms": round(sorted(t.times)[len(t.times) // 2], 2) if t.times else None,
                "statuses": t.statuses,
            }
            for t in tallies
        ],
    }


def compare_checks(result: dict[str, Any], baseline: dict[str, Any] | None) -> None:
    """Set each check's verdict against the change's baseline run of the same check."""
    from changenote.measure.stats import compare

    for check in result["checks"]:
        before = _baseline_errors(baseline, check["name"]) if baseline else None
        if before is None:
            check["baseline_error_rate"] = None
            check["verdict"] = None
            continue
        after = [1.0] * check["errors"] + [0.0] * (check["runs"] - check["errors"])
        judged = compare(check["name"], "error_rate", "ratio", "lower", before, after, 5.0)
        check["baseline_error_rate"] = round(sum(before) / len(before), 4) if before else None
        check["verdict"] = judged.verdict


def _baseline_errors(run: dict[str, Any], name: str) -> list[float] | None:
    for metric in run.get("metrics", []):
        if metric["metric"] == "error_rate" and metric["probe"].startswith(f"check {name}: "):
            return list(metric["samples"])
    return None


def blind_spots(result: dict[str, Any]) -> list[str]:
    """What the watch could not see, in words: logs that vanished or stayed silent,
    Prometheus queries without data for the watched stretch."""
    found = []
    for log in result["logs"]:
        name = Path(log["path"]).name
        if log.get("missing"):
            found.append(f"{name} disappeared during the watch and did not come back")
        elif log["lines"] == 0:
            found.append(f"{name}: no new lines: is the service writing here?")
    for query in result.get("prometheus") or []:  # absent in watches before 0.3
        reason = prom_watch.no_data(query)
        if reason is not None:
            found.append(f"{query['probe']}: no data ({reason})")
    return found


def is_evidence(result: dict[str, Any]) -> bool:
    """Whether the watch may tick "watch logs after release": it saw what it watched.

    A log that disappeared means part of the release went unseen; logs that stayed
    silent count only beside a check that ran or a Prometheus query that gave points.
    A query without data is a blind spot (said), not a reason to withhold the tick
    when something else was seen."""
    if any(log.get("missing") for log in result["logs"]):
        return False
    heard = any(log["lines"] > 0 for log in result["logs"])
    checked = any(check["runs"] > 0 for check in result["checks"])
    read = any(q["window"]["points"] > 0 for q in result.get("prometheus") or [])
    return heard or checked or read


def evidence(result: dict[str, Any]) -> str:
    """One sentence for the checklist: what the watch saw, with figures."""
    minutes = result["seconds"] / 60
    how_long = f"{minutes:.1f} min" if minutes >= 1 else f"{result['seconds']:.0f} s"
    parts = [f"watched {how_long}{' (stopped early)' if result['interrupted'] else ''}"]
    blind = blind_spots(result)
    for log in result["logs"]:
        name = Path(log["path"]).name
        if log.get("missing") or log["lines"] == 0:
            continue  # said below, in words
        text = (
            f"{name}: {log['matches']} line(s) matching "
            f"{result['pattern']!r} in {log['lines']} new ({log['per_minute']:g}/min"
        )
        if log["reference"] is not None:
            text += f", before {log['reference']['per_minute']:g}/min: {log['verdict']}"
        parts.append(text + ")")
    parts += blind
    for check in result["checks"]:
        text = f"check {check['name']}: {check['errors']}/{check['runs']} errors"
        if check["median_ms"] is not None:
            text += f", median {check['median_ms']:g} ms"
        if check.get("baseline_error_rate") is not None:
            text += f" (baseline error rate {check['baseline_error_rate']:.1%}: {check['verdict']})"
        parts.append(text)
    for query in result.get("prometheus") or []:
        if prom_watch.no_data(query) is None:  # without data: said above, in words
            parts.append(prom_watch.said(query))
    return "; ".join(parts)
