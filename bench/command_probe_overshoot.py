"""A command probe for changenote's own notes: how late the command probe reads.

``python bench/command_probe_overshoot.py`` times ``sleep 0.01`` 30 times with the
command probe of whatever ``changenote`` this interpreter imports, and prints one
``changenote-metric:`` line: the median reading minus the 10 ms the command sleeps
(process start-up is part of it; hyperfine --shell=none reads about 1.2 ms over here).
"""

from __future__ import annotations

import statistics

from changenote.measure.probes import run_shell


def main() -> None:
    times = [run_shell("sleep 0.01", 30.0).time_ms for _ in range(30)]
    over = statistics.median(t for t in times if t is not None) - 10.0
    print(f"changenote-metric: overshoot_ms={over:.3f} ms better=lower")


if __name__ == "__main__":
    main()
