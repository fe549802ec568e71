"""A command probe for changenote's own notes: the wall time of one `changenote ship`.

``python bench/ship_probe.py`` makes a git project in a temporary folder, records a
baseline with a `true` command probe (5 runs, no warm-up) and times ``python -m
changenote ship`` run by this interpreter (so whatever ``changenote`` it imports is the
one measured). Its probe runs take a few milliseconds: the figure is the tool's own
work, start-up and imports included. Prints one ``changenote-metric:`` line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from probe_run import timed  # bench/probe_run.py, beside this file


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="changenote-ship-probe-"))
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    cn = [sys.executable, "-m", "changenote"]
    try:
        (folder / "changenote.toml").write_text("")
        steps = (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            ["git", "-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qm", "i"],
            [*cn, "baseline", "probe", "--cmd", "true", "--runs", "5", "--warmup", "0"],
        )
        for args in steps:
            subprocess.run(args, cwd=folder, env=env, check=True, capture_output=True)
        seconds, _ = timed([*cn, "ship", "--reason", "r"], folder, env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"changenote-metric: ship_ms={seconds * 1000:.1f} ms better=lower")


if __name__ == "__main__":
    main()
