"""What the command probes of changenote's own notes share: time one command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` (its output dropped); its wall time in seconds and peak RSS in MB
    (``os.wait4``). A failure ends the probe with a message (an error sample)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd[2:4])} failed ({status})")
    return seconds, usage.ru_maxrss / 1024
