"""How much of a run's time work on this machine waited for a CPU.

Linux's pressure stall information (``/proc/pressure/cpu``, kernel 4.20 and later) counts,
in microseconds since boot, the time during which at least one runnable task waited for a
CPU (its ``some`` line). Read before and after the probes, the difference over the wall
time is the share of the run during which something was kept off a CPU: the machine was
busier than its CPUs. Timings taken in such a stretch are slower for that reason alone.

The 1-minute load average, read when the run is written, cannot see a burst of a few
seconds (it is smoothed over a minute and updated every 5 s); this reading covers exactly
the run. Where the kernel gives no such file (macOS, Windows, older Linux, some
containers), the share is unknown (None), and nothing is compared.
"""

from __future__ import annotations

import time
from pathlib import Path

PRESSURE = Path("/proc/pressure/cpu")


def stalled_us(source: Path = PRESSURE) -> int | None:
    """The ``some`` total of ``source`` in microseconds, or None where it cannot be read."""
    try:
        text = source.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key == "total" and value.isdigit():
                    return int(value)
    return None


class Stopwatch:
    """Started before the probes run; :meth:`share` after they ran."""

    def __init__(self, source: Path = PRESSURE) -> None:
        self._source = source
        self._stalled = stalled_us(source)
        self._started = time.monotonic()

    def share(self) -> float | None:
        """The share of the wall time since the start during which some task waited
        for a CPU, 0 to 1 (three decimals); None when it cannot be known."""
        elapsed = time.monotonic() - self._started
        now = stalled_us(self._source)
        if self._stalled is None or now is None or elapsed <= 0 or now < self._stalled:
            return None
        return round(min(1.0, (now - self._stalled) / 1e6 / elapsed), 3)
