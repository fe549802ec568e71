"""Progress of a measurement on stderr, from the ``Step`` callback the measure layer calls.

On a terminal: a live line per probe with its runs and an estimate of the time left
(Rich, gone when the measurement ends). Elsewhere (CI, a log file): nothing per run,
but every few seconds one line per probe, e.g. ``#1 GET /search: 12/30 runs, ~8 s
left``, so a long baseline in CI shows it is alive. ``CHANGENOTE_PROGRESS_INTERVAL``
sets the seconds between those lines (default 5).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from changenote.measure.probes import Step

INTERVAL_ENV = "CHANGENOTE_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 5.0
LABEL_WIDTH = 60

Redact = Callable[[str | None], str | None]


def interval() -> float:
    """Seconds between progress lines when stderr is no terminal (the env var, else 5)."""
    from changenote.errors import UsageError

    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"{INTERVAL_ENV}={raw!r}: give a number of seconds, e.g. 5")
    return value


def shown(label: str, redact: Redact) -> str:
    """A probe's label as progress shows it: redacted, and cut to fit one line."""
    text = " ".join((redact(label) or label).split())
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 3] + "..."


def time_left(seconds: float) -> str:
    """An estimate in the unit people would say it: ~8 s, ~3 min, ~1 h 5 min."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"~{whole} s"
    minutes = round(whole / 60)
    if minutes < 60:
        return f"~{minutes} min"
    return f"~{minutes // 60} h {minutes % 60} min"


class Lines:
    """The callback for a stderr that is no terminal: at most one round of lines (one
    per probe) per interval, none for a measurement shorter than that."""

    def __init__(
        self,
        redact: Redact,
        every: float,
        out: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redact = redact
        self.every = every
        self.out = out or sys.stderr
        self.clock = clock
        #: The first attempt's end and count: the rate is measured from there (what came
        #: before it, opening the store and the probes, says nothing about the runs).
        self.first: tuple[float, int] | None = None
        self.last = 0.0
        self.latest: dict[int, Step] = {}

    def __call__(self, step: Step) -> None:
        self.latest[step.probe] = step
        now = self.clock()
        if self.first is None:
            self.first, self.last = (now, step.done), now
            return
        if now - self.last < self.every or step.done >= step.total:
            return
        self.last = now
        began, counted = self.first
        left = (now - began) / max(1, step.done - counted) * (step.total - step.done)
        for n in sorted(self.latest):
            self.out.write(self.line(self.latest[n], left) + "\n")
        self.out.flush()

    def line(self, step: Step, left: float) -> str:
        name = shown(step.label, self.redact)
        text = f"#{step.probe + 1} {name}: {step.measured}/{step.runs} runs"
        if step.measured == 0 and step.warmup:
            text += f" (warm-up {step.warmed}/{step.warmup})"
        if step.measured < step.runs:
            text += f", {time_left(left)} left"
        return text


@contextlib.contextmanager
def live(redact: Redact) -> Iterator[Callable[[Step], None]]:
    """The callback for a terminal: a Rich line per probe with its runs and time left."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeRemainingColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
    )
    tasks: dict[int, Any] = {}

    def update(step: Step) -> None:
        if step.probe not in tasks:
            from rich.markup import escape

            name = escape(f"#{step.probe + 1} {shown(step.label, redact)}")
            tasks[step.probe] = bar.add_task(name, total=step.runs)
        bar.update(tasks[step.probe], completed=step.measured)

    with bar:
        yield update


@contextlib.contextmanager
def measuring(redact: Redact) -> Iterator[Callable[[Step], None]]:
    """The progress callback for ``baseline``, ``measure`` and ``ship``."""
    if sys.stderr.isatty():
        with live(redact) as update:
            yield update
    else:
        yield Lines(redact, interval())
