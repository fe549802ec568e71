"""Probes: run commands and HTTP requests and turn each run into samples.

A probe never raises for what it measures: a refused connection, a timeout or a
non-zero exit is an *error sample*. It raises :class:`ProbeError` only when it
cannot be set up (an environment variable a header needs is not set, the
clear-cache command fails). All timing uses ``perf_counter_ns``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from changenote.errors import ProbeError
from changenote.specs import ProbeSpec, parse_metric_line

if TYPE_CHECKING:
    import httpx

#: Captured command output kept per probe (the tail, where failures show).
OUTPUT_CAP = 64 * 1024
# Only the braced form: a bare "$" is common inside real tokens and cookies.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CACHE_HEADERS = ("x-cache-status", "cf-cache-status", "x-cache")
_CACHE_MISS = ("MISS", "BYPASS", "EXPIRED", "DYNAMIC", "PASS", "NONE", "UNCACHEABLE")
_CACHE_HIT = ("HIT", "STALE", "UPDATING", "REVALIDATED")

#: Which way is better for the metrics probes produce.
BETTER = {
    "time_ms": "lower",
    "error_rate": "lower",
    "db_calls": "lower",
    "cache_hit_ratio": "higher",
}
UNITS = {"time_ms": "ms", "error_rate": "ratio", "db_calls": "count", "cache_hit_ratio": "ratio"}


@dataclass(frozen=True)
class MeasureSettings:
    """How many times to run, and how."""

    runs: int = 10
    warmup: int = 1
    timeout: float = 30.0
    clear_cache: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "warmup": self.warmup,
            "timeout": self.timeout,
            "clear_cache": self.clear_cache,
        }

    def for_probe(self, spec: ProbeSpec) -> MeasureSettings:
        """Settings a check overrides for its own probe."""
        over = {k: v for k, v in spec.settings.items() if v is not None}
        if not over:
            return self
        return MeasureSettings(
            runs=int(over.get("runs", self.runs)),
            warmup=int(over.get("warmup", self.warmup)),
            timeout=float(over.get("timeout", self.timeout)),
            clear_cache=over.get("clear_cache", self.clear_cache),
        )


@dataclass
class Series:
    """The samples of one metric of one probe in one run."""

    metric: str
    unit: str
    better: str | None
    samples: list[float] = field(default_factory=list)
    #: Only a summary, no samples (a results file that keeps none): n, mean, stdev,
    #: median, min, max, p95, each None when the file does not say.
    summary: dict[str, float | int | None] | None = None


@dataclass
class ProbeOutcome:
    """Everything one probe produced during a measurement."""

    spec: ProbeSpec
    series: dict[str, Series] = field(default_factory=dict)
    attempts: int = 0
    errors: int = 0
    #: What the last measured attempt ended with: ``HTTP 200``, ``exit 1``, ``timeout``...
    last_status: str = ""
    #: The tail of the last measured command's output (capped, not yet redacted).
    last_output: str = ""
    #: Error descriptions and how often they happened.
    error_kinds: dict[str, int] = field(default_factory=dict)
    #: How often each status was seen (``HTTP 200``, ``exit 0``...), errors included.
    statuses: dict[str, int] = field(default_factory=dict)
    #: For a Prometheus probe: the window read (start, end, step, points).
    window: dict[str, Any] | None = None
    #: For a results-file probe: which file of the run, which benchmark, what it said.
    results: dict[str, Any] | None = None

    def add(self, metric: str, value: float, unit: str = "", better: str | None = None) -> None:
        series = self.series.get(metric)
        if series is None:
            series = self.series[metric] = Series(
                metric, unit or UNITS.get(metric, ""), better or BETTER.get(metric)
            )
        series.samples.append(float(value))


@dataclass
class Attempt:
    """One run of one probe."""

    ok: bool
    status: str
    time_ms: float | None = None
    cache_hit: float | None = None
    db_calls: float | None = None
    custom: list[tuple[str, float, str, str | None]] = field(default_factory=list)
    output: str = ""


def expand_env(value: str, what: str) -> str:
    """Replace ``${NAME}`` with the environment's value; a missing one is an error."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ProbeError(f"{what} refers to ${name}, which is not set in the environment")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def cache_status(headers: httpx.Headers) -> float | None:
    """1.0 for a cache hit, 0.0 for a miss, None when the response does not say."""
    for name in _CACHE_HEADERS:
        raw = headers.get(name)
        if raw:
            first = raw.split(",")[0].strip().upper()
            if any(word in first for word in _CACHE_MISS):
                return 0.0
            if any(word in first for word in _CACHE_HIT):
                return 1.0
    age = headers.get("age")
    if age is not None:
        try:
            return 1.0 if int(age.strip()) > 0 else 0.0
        except ValueError:
            return None
    return None


def db_call_count(headers: httpx.Headers) -> float | None:
    """The count in a ``Server-Timing: db;desc="12";dur=3.1`` entry, or None."""
    for raw in headers.get_list("server-timing"):
        for entry in raw.split(","):
            parts = [p.strip() for p in entry.split(";")]
            if not parts or parts[0].lower() != "db":
                continue
            for param in parts[1:]:
                key, _, value = param.partition("=")
                if key.strip().lower() == "desc":
                    with contextlib.suppress(ValueError, OverflowError):  # 1e400 calls
                        return float(int(value.strip().strip('"').strip()))
    return None


def json_mismatch(body: bytes, expected: dict[str, Any]) -> str | None:
    """How a JSON body differs from the expected fields (dotted paths), or None."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return "body is not JSON"
    except RecursionError:
        return "body is not JSON (nested too deeply)"
    for path, want in expected.items():
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return f"no {path} in the body"
            node = node[part]
        # True == 1 in Python; a health flag of 1 is not the JSON true it promised
        if isinstance(node, bool) != isinstance(want, bool) or node != want:
            return f"{path} is {json.dumps(node)[:40]}, expected {json.dumps(want)}"
    return None


class HttpProbe:
    """The same HTTP request per run over one reused connection."""

    def __init__(self, spec: ProbeSpec, timeout: float) -> None:
        import httpx

        # httpx.Headers is case-insensitive: a user's ``user-agent`` replaces ours
        # instead of being sent as a second User-Agent header.
        headers = httpx.Headers({"User-Agent": "changenote"})
        for name, value in spec.headers:
            headers[name] = expand_env(value, f"header {name}")
        self.method, self.url = spec.method, expand_env(spec.url, "the URL")
        try:  # what each run builds: a URL the client refuses fails here, before any run
            httpx.Request(self.method, self.url, headers=headers)
        except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are ValueErrors
            raise ProbeError(f"cannot send {spec.method} {spec.url}: {exc}") from None
        #: From a configured check: the statuses that count as success, JSON fields to hold.
        self.expect_status = tuple(spec.settings.get("expect_status") or ())
        self.expect_json: dict[str, Any] = dict(spec.settings.get("expect_json") or {})
        self._httpx = httpx
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            follow_redirects=False,
        )
        # Every run sends this same request (so cookies a service sets are not sent back)
        # straight to the transport the client picks for the URL, proxies from the
        # environment included: ~0.1 ms less per run than client.send, whose cookie, auth
        # and redirect layers a probe does not use.
        self.request = self.client.build_request(self.method, self.url)
        pick = getattr(self.client, "_transport_for_url", None)
        # Credentials in the URL (user:${PW}@host) become an Authorization header in the
        # client's own send: keep that path for them.
        self.transport = (
            pick(self.request.url) if pick is not None and not self.request.url.userinfo else None
        )

    def _send(self) -> Any:
        if self.transport is None:
            return self.client.send(self.request)
        response = self.transport.handle_request(self.request)
        try:
            response.read()
        finally:
            response.close()
        return response

    def run(self) -> Attempt:
        httpx = self._httpx
        start = time.perf_counter_ns()
        try:
            response = self._send()
        except httpx.TimeoutException:
            return Attempt(ok=False, status="timeout")
        except httpx.ConnectError as exc:
            refused = "refused" in str(exc).lower() or "errno 111" in str(exc).lower()
            return Attempt(ok=False, status="connection refused" if refused else "connect error")
        except httpx.HTTPError as exc:
            return Attempt(ok=False, status=f"{type(exc).__name__}")
        elapsed = (time.perf_counter_ns() - start) / 1e6
        code = response.status_code
        ok = code in self.expect_status if self.expect_status else code < 500
        status = f"HTTP {code}"
        if ok and self.expect_json:
            mismatch = json_mismatch(response.content, self.expect_json)
            if mismatch is not None:
                ok, status = False, f"HTTP {code}, {mismatch}"
        return Attempt(
            ok=ok,
            status=status,
            time_ms=elapsed,
            cache_hit=cache_status(response.headers),
            db_calls=db_call_count(response.headers),
        )

    def close(self) -> None:
        self.client.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)


def _tail(fh: IO[bytes], cap: int) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - cap))
    data = fh.read(cap)
    text = data.decode("utf-8", errors="replace")
    return ("[... output cut ...]\n" + text) if size > cap else text


#: How much of the end of one output line is searched for a metric line.
LINE_CAP = 8192


def _metric_lines(fh: IO[bytes]) -> list[tuple[str, float, str, str | None]]:
    """The metric lines in a command's output, each judged on the whole line's end.

    A line longer than ``LINE_CAP`` is read in pieces but judged once, on its last
    ``LINE_CAP`` bytes: a piece alone could look like a metric line that the rest of
    the line spoils, or cut one in two.
    """
    found: list[tuple[str, float, str, str | None]] = []

    def judge(line: bytes, cut: bool) -> None:
        if b"changenote-metric:" not in line:
            return
        # After a cut, what came before is unknown: the marker cannot start the line.
        text = ("\0" if cut else "") + line.decode("utf-8", errors="replace")
        parsed = parse_metric_line(text)
        if parsed is not None:
            found.append((parsed.name, parsed.value, parsed.unit, parsed.better))

    line, cut = b"", False
    for piece in iter(lambda: fh.readline(LINE_CAP), b""):
        line += piece
        if len(line) > LINE_CAP:
            line, cut = line[-LINE_CAP:], True
        if piece.endswith(b"\n"):
            judge(line, cut)
            line, cut = b"", False
    if line:
        judge(line, cut)
    return found


# A command made only of plain words: no quotes, variables, globs, redirections, pipes,
# lists, comments or escapes, and no leading NAME=value.
_WORD = r"[A-Za-z0-9_./:,+@%^=-]+"
_PLAIN_WORDS = re.compile(rf"[A-Za-z0-9_./:,+@%^-]{_WORD[:-1]}*(?:[ \t]+{_WORD})*")
# Programs the shell runs itself (and whose own versions may differ: dash's echo is not
# /bin/echo's), and keywords: these always go through the shell.
_SHELL_OWN = frozenset(
    {
        "alias", "bg", "break", "cd", "command", "continue", "echo", "eval", "exec", "exit",
        "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local", "printf",
        "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true",
        "type", "ulimit", "umask", "unalias", "unset", "wait", "if", "then", "else", "elif",
        "fi", "for", "while", "until", "do", "done", "case", "esac", "time",
    }
)  # fmt: skip


def _argv(command: str) -> list[str] | None:
    """The program found on PATH, then the words of a command the shell would only split
    and look up; None when it needs the shell. Such a command is started directly, as
    ``hyperfine --shell=none`` does: the shell's start-up is not the command's time."""
    text = command.strip()
    if not _PLAIN_WORDS.fullmatch(text):
        return None
    words = text.split()
    if words[0] in _SHELL_OWN or "=" in words[0]:
        return None
    import shutil

    program = shutil.which(words[0])  # as the shell would find it; argv[0] stays as typed
    return [program, *words] if program else None


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """``proc.wait(timeout)`` that returns when the process ends. (Popen.wait with a
    timeout polls at 1, 2, 4, 8... ms: a 10 ms command measured 15.6 ms.) Linux tells
    through a pidfd; elsewhere it falls back to polling."""
    pidfd_open = getattr(os, "pidfd_open", None)
    try:
        fd = pidfd_open(proc.pid) if pidfd_open is not None else None
    except OSError:
        fd = None
    if fd is None:
        return proc.wait(timeout=timeout)
    import select

    try:
        poller = select.poll()  # not select(): no limit on the descriptor's number
        poller.register(fd, select.POLLIN)
        ready = poller.poll(min(timeout * 1000, _MAX_POLL_MS))
    finally:
        os.close(fd)
    if not ready:
        if timeout * 1000 > _MAX_POLL_MS:  # a timeout of weeks: wait on as before
            return proc.wait(timeout=timeout - _MAX_POLL_MS / 1000)
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


_MAX_POLL_MS = 2**31 - 1  # poll()'s limit, about 24 days


def _start(args: str | list[str], out: IO[bytes], shell: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args if shell else args[1:],
        executable=None if shell else args[0],
        shell=shell,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_shell(command: str, timeout: float, cap: int = OUTPUT_CAP) -> Attempt:
    """Run ``command`` in its own process group (through the shell unless it is plain
    words, see _argv); kill the whole group on timeout."""
    argv = _argv(command)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter_ns()
        try:
            proc = _start(argv or command, out, shell=argv is None)
        except OSError as exc:
            if argv is None:
                return Attempt(ok=False, status=f"cannot start: {exc.strerror}")
            try:  # a script without #! line, say: the shell knows what to do with it
                start = time.perf_counter_ns()
                proc = _start(command, out, shell=True)
            except OSError as again:
                return Attempt(ok=False, status=f"cannot start: {again.strerror}")
        try:
            code = _wait(proc, timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out.flush()
            return Attempt(ok=False, status="timeout", output=_tail(out, cap))
        except BaseException:
            _kill_group(proc)
            raise
        elapsed = (time.perf_counter_ns() - start) / 1e6
        # Anything the command left running in the background would outlive the
        # measurement and skew the next run: the group goes with its leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        custom = _metric_lines(out)
        output = _tail(out, cap)
    status = f"exit {code}" if code >= 0 else f"killed by signal {-code}"
    return Attempt(ok=code == 0, status=status, time_ms=elapsed, custom=custom, output=output)


class CommandProbe:
    """A shell command per run; its wall time, exit status and printed metrics."""

    def __init__(self, spec: ProbeSpec, timeout: float) -> None:
        self.command = spec.target
        self.timeout = timeout

    def run(self) -> Attempt:
        return run_shell(self.command, self.timeout)

    def close(self) -> None:
        pass


def open_probe(spec: ProbeSpec, timeout: float) -> HttpProbe | CommandProbe:
    if spec.kind == "prom":  # read over a window (measure.prometheus), never run
        raise ProbeError(
            f"{spec.label} is a Prometheus probe: it is read over a window at baseline, "
            "measure, ship and watch; `check` does not read Prometheus yet"
        )
    if spec.kind == "results":  # its samples come from a file the user gives
        raise ProbeError(
            f"{spec.label} comes from a results file: it is read from --results FILE at "
            "baseline, measure and ship, never run"
        )
    if spec.kind == "http":
        return HttpProbe(spec, timeout)
    return CommandProbe(spec, timeout)


def clear_cache(command: str, timeout: float) -> None:
    """Run the clear-cache command; its failure stops the measurement (the numbers would lie)."""
    attempt = run_shell(command, timeout)
    if not attempt.ok:
        last = attempt.output.strip().splitlines()[-1:] or [""]
        detail = f": {last[0][:200]}" if last[0] else ""
        raise ProbeError(f"--clear-cache command failed ({attempt.status}){detail}")


def record(outcome: ProbeOutcome, attempt: Attempt) -> None:
    """Turn one measured attempt into samples."""
    outcome.attempts += 1
    outcome.last_status = attempt.status
    outcome.statuses[attempt.status] = outcome.statuses.get(attempt.status, 0) + 1
    outcome.last_output = attempt.output
    outcome.add("error_rate", 0.0 if attempt.ok else 1.0)
    if not attempt.ok:
        outcome.errors += 1
        outcome.error_kinds[attempt.status] = outcome.error_kinds.get(attempt.status, 0) + 1
    if attempt.time_ms is not None:
        outcome.add("time_ms", attempt.time_ms)
    if attempt.cache_hit is not None:
        outcome.add("cache_hit_ratio", attempt.cache_hit)
    if attempt.db_calls is not None:
        outcome.add("db_calls", attempt.db_calls)
    defaults = outcome.spec.settings.get("better") or {}
    for name, value, unit, better in attempt.custom:
        outcome.add(name, value, unit, better or defaults.get(name))


@dataclass(frozen=True)
class Step:
    """Where a measurement is after one attempt, as a progress callback sees it.

    The callback decides what to show and when (the CLI throttles it); nothing here
    prints or reads a clock for it."""

    #: The probe that just ran: its index in the measurement (0 first) and its label
    #: (not redacted: the caller redacts what it shows).
    probe: int
    label: str
    #: That probe's measured runs done and planned, and its warm-up runs done and planned.
    measured: int
    runs: int
    warmed: int
    warmup: int
    #: Attempts of every probe done and planned (warm-ups included), and how many probes.
    done: int
    total: int
    probes: int


Progress = Callable[[Step], None]


@contextlib.contextmanager
def _opened(
    specs: Sequence[ProbeSpec], settings: Sequence[MeasureSettings]
) -> Iterator[list[HttpProbe | CommandProbe]]:
    probes: list[HttpProbe | CommandProbe] = []
    try:
        for spec, s in zip(specs, settings, strict=True):
            probes.append(open_probe(spec, s.timeout))
        yield probes
    finally:
        for probe in probes:
            probe.close()


def measure(
    specs: Sequence[ProbeSpec], settings: MeasureSettings, progress: Progress | None = None
) -> list[ProbeOutcome]:
    """Run every probe ``warmup + runs`` times, interleaved, and collect the measured samples.

    Probes take turns within each round so a slow drift of the machine affects all of
    them alike. The clear-cache command runs before every measured attempt.
    """
    per_probe = [settings.for_probe(spec) for spec in specs]
    outcomes = [ProbeOutcome(spec) for spec in specs]
    rounds = max((s.warmup + s.runs for s in per_probe), default=0)
    total = sum(s.warmup + s.runs for s in per_probe)
    done = 0
    with _opened(specs, per_probe) as probes:
        for i in range(rounds):
            for n, (probe, outcome, s) in enumerate(zip(probes, outcomes, per_probe, strict=True)):
                if i >= s.warmup + s.runs:
                    continue
                measured = i >= s.warmup
                if measured and s.clear_cache:
                    clear_cache(s.clear_cache, s.timeout)
                attempt = probe.run()
                if measured:
                    record(outcome, attempt)
                done += 1
                if progress is not None:
                    progress(
                        Step(
                            probe=n,
                            label=outcome.spec.label,
                            measured=max(0, i + 1 - s.warmup),
                            runs=s.runs,
                            warmed=min(i + 1, s.warmup),
                            warmup=s.warmup,
                            done=done,
                            total=total,
                            probes=len(specs),
                        )
                    )
    return outcomes
